//! Signing in and out: the sign-in page, checking a token with budget-service's WhoAmI, the
//! session cookie that remembers it, and where signed-out visitors of a page are sent.
//!
//! The page is a plain HTML form (the CSP allows no inline script) styled by the dashboard's
//! stylesheet. The token goes from the form to budget-service and into the sealed cookie; it is
//! never written into a page, a log line or a header the browser can read.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use budget_proto::throttle::retry_after_secs;
use budget_proto::v1::budget_service_client::BudgetServiceClient;
use budget_proto::v1::{Role, WhoAmIRequest};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, RETRY_AFTER, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use budget_proto::throttle::FailureThrottle;

use crate::assets::Assets;
use crate::session::{Identity, MAX_TOKEN_LEN, Sessions};

pub(crate) const SIGN_IN_PATH: &str = "/signin";
const NOT_ACCEPTED: &str = "That token was not accepted.";
const CANNOT_CHECK: &str = "The budget service could not check the token. Try again in a moment.";
const CANNOT_START: &str = "Signing in failed on the server. Try again in a moment.";
const TOO_MANY: &str = "Too many failed sign-ins from this address. Wait a minute and try again.";
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// Asks budget-service who a token belongs to.
#[derive(Debug, Clone)]
pub(crate) struct TokenCheck {
    client: BudgetServiceClient<Channel>,
}

/// Why a token did not become a session.
#[derive(Debug)]
enum Refusal {
    /// budget-service does not know the token, or it is malformed.
    NotAccepted,
    /// budget-service could not be asked.
    Unavailable,
    /// budget-service refused to check more tokens from the gateway for this long.
    Throttled(Duration),
}

impl TokenCheck {
    pub(crate) fn new(channel: Channel) -> Self {
        Self {
            client: BudgetServiceClient::new(channel),
        }
    }

    async fn identify(&self, token: &str) -> Result<Identity, Refusal> {
        let acceptable = !token.is_empty()
            && token.len() <= MAX_TOKEN_LEN
            && token.bytes().all(|byte| byte.is_ascii_graphic());
        if !acceptable {
            return Err(Refusal::NotAccepted);
        }
        let mut bearer = tonic::metadata::MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Refusal::NotAccepted)?;
        bearer.set_sensitive(true);
        let mut request = tonic::Request::new(WhoAmIRequest {});
        request.metadata_mut().insert("authorization", bearer);
        match self.client.clone().who_am_i(request).await {
            Ok(response) => {
                let answer = response.into_inner();
                let role = Role::try_from(answer.role).unwrap_or(Role::Unspecified);
                Ok(Identity {
                    name: answer.name,
                    role: role.as_str_name().to_owned(),
                    tenant_id: answer.tenant_id,
                })
            }
            Err(status)
                if matches!(
                    status.code(),
                    Code::Unauthenticated | Code::PermissionDenied
                ) =>
            {
                tracing::info!(code = ?status.code(), "a sign-in was refused by budget-service");
                Err(Refusal::NotAccepted)
            }
            Err(status) if status.code() == Code::ResourceExhausted => {
                let wait = status
                    .get_details_retry_info()
                    .and_then(|info| info.retry_delay)
                    .unwrap_or(Duration::from_secs(1));
                tracing::warn!(?wait, "budget-service throttles the gateway's token checks");
                Err(Refusal::Throttled(wait))
            }
            Err(status) => {
                tracing::warn!(
                    code = ?status.code(),
                    message = %status.message(),
                    "cannot check a token with budget-service"
                );
                Err(Refusal::Unavailable)
            }
        }
    }
}

/// `GET /signin`: the form.
pub(crate) async fn page(
    State(assets): State<Assets>,
    State(sessions): State<Sessions>,
) -> Response {
    signin_page(&assets, &sessions, StatusCode::OK, None)
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    token: String,
}

/// `POST /session`: checks the token with WhoAmI; on success sets the session cookie and sends
/// the browser to the dashboard, otherwise shows the form again with what went wrong.
///
/// Failed sign-ins are throttled per client address (GATEWAY_SIGNIN_FAILURE_BURST,
/// GATEWAY_SIGNIN_FAILURES_PER_MIN): an address out of tries gets HTTP 429 with Retry-After
/// before its token is sent anywhere. Only refused tokens count.
pub(crate) async fn sign_in(
    State(assets): State<Assets>,
    State(sessions): State<Sessions>,
    State(token_check): State<TokenCheck>,
    State(throttle): State<FailureThrottle>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<SignInForm>,
) -> Response {
    let attempt = match throttle.begin(peer.ip()).await {
        Ok(attempt) => attempt,
        Err(wait) => {
            tracing::info!(peer = %peer.ip(), ?wait, "sign-in throttled after failed attempts");
            return too_many_attempts(&assets, &sessions, wait);
        }
    };
    let token = form.token.trim().to_owned();
    let identity = match token_check.identify(&token).await {
        Ok(identity) => identity,
        Err(Refusal::NotAccepted) => {
            // The attempt stays counted.
            drop(attempt);
            return signin_page(
                &assets,
                &sessions,
                StatusCode::UNAUTHORIZED,
                Some(NOT_ACCEPTED),
            );
        }
        Err(Refusal::Unavailable) => {
            attempt.succeeded();
            return signin_page(
                &assets,
                &sessions,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(CANNOT_CHECK),
            );
        }
        Err(Refusal::Throttled(wait)) => {
            attempt.succeeded();
            return too_many_attempts(&assets, &sessions, wait);
        }
    };
    attempt.succeeded();
    let session = sessions.start(token, identity, SystemTime::now());
    match sessions.set_cookie(&session) {
        Ok(cookie) => {
            let identity = &session.identity;
            tracing::info!(
                name = %identity.name,
                role = %identity.role,
                tenant_id = %identity.tenant_id,
                "signed in"
            );
            see_other("/", Some(cookie))
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot seal a session");
            signin_page(
                &assets,
                &sessions,
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(CANNOT_START),
            )
        }
    }
}

/// `POST /signout`: forgets the session cookie and shows the sign-in page.
pub(crate) async fn sign_out(State(sessions): State<Sessions>) -> Response {
    see_other(SIGN_IN_PATH, Some(sessions.clear_cookie()))
}

/// What a visitor without a session gets for a page: a redirect to the sign-in page.
///
/// SameSite=Strict keeps the cookie off a navigation that starts on another site (a link in an
/// alert e-mail or chat), so a signed-in person would land on the sign-in page. Such a visitor
/// gets a page that asks for the same URL again from this origin instead, which carries the
/// cookie; without a session that second request is redirected as usual.
pub(crate) fn signed_out_page(headers: &HeaderMap) -> Response {
    let is = |name: &str, value: &str| {
        headers
            .get(name)
            .is_some_and(|have| have.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
    };
    if is("sec-fetch-site", "cross-site") && is("sec-fetch-mode", "navigate") {
        let html = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
            <meta http-equiv=\"refresh\" content=\"0\">\n<title>LLM budget</title>\n</head>\n\
            <body>\n<p>Opening the budget dashboard…</p>\n</body>\n</html>\n";
        return (
            StatusCode::OK,
            [(CONTENT_TYPE, html_type()), (CACHE_CONTROL, NO_STORE)],
            html,
        )
            .into_response();
    }
    see_other(SIGN_IN_PATH, None)
}

fn see_other(location: &'static str, cookie: Option<HeaderValue>) -> Response {
    let mut response = (
        StatusCode::SEE_OTHER,
        [
            (LOCATION, HeaderValue::from_static(location)),
            (CACHE_CONTROL, NO_STORE),
        ],
    )
        .into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

/// HTTP 429 with the sign-in form, its message and `Retry-After` in whole seconds.
fn too_many_attempts(assets: &Assets, sessions: &Sessions, wait: Duration) -> Response {
    let mut response = signin_page(
        assets,
        sessions,
        StatusCode::TOO_MANY_REQUESTS,
        Some(TOO_MANY),
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs(wait)));
    response
}

fn html_type() -> HeaderValue {
    HeaderValue::from_static("text/html; charset=utf-8")
}

/// The sign-in page, with `error` above the field when the last try failed. Only fixed text goes
/// into it, so nothing needs escaping.
fn signin_page(
    assets: &Assets,
    sessions: &Sessions,
    status: StatusCode,
    error: Option<&'static str>,
) -> Response {
    let stylesheet = assets
        .stylesheet()
        .map(|path| format!("<link rel=\"stylesheet\" href=\"/{path}\">\n"))
        .unwrap_or_default();
    let (error_line, invalid) = match error {
        Some(text) => (
            format!("<p id=\"signin-error\" class=\"error\" role=\"alert\">{text}</p>\n"),
            " aria-invalid=\"true\" aria-describedby=\"signin-error signin-hint\"",
        ),
        None => (String::new(), " aria-describedby=\"signin-hint\""),
    };
    let lasts = describe_duration(sessions.ttl());
    let html = format!(
        "<!doctype html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>Sign in · LLM budget</title>
{stylesheet}</head>
<body>
<header class=\"top\">
<span class=\"brand\">LLM budget admin</span>
</header>
<main id=\"main\">
<form id=\"signin-form\" class=\"card signin\" method=\"post\" action=\"/session\">
<h1>Sign in</h1>
{error_line}<div class=\"field\">
<label for=\"token\">API token</label>
<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" \
spellcheck=\"false\" required autofocus{invalid}>
<p id=\"signin-hint\" class=\"hint\">The token your platform administrator gave you. You stay \
signed in on this browser for {lasts}.</p>
</div>
<div class=\"actions\">
<button id=\"signin-button\" type=\"submit\" class=\"primary\">Sign in</button>
</div>
</form>
</main>
</body>
</html>
"
    );
    (
        status,
        [(CONTENT_TYPE, html_type()), (CACHE_CONTROL, NO_STORE)],
        html,
    )
        .into_response()
}

/// "12 hours", "90 minutes", "45 seconds": the largest whole unit.
fn describe_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (count, unit) = if secs.is_multiple_of(3600) {
        (secs / 3600, "hour")
    } else if secs.is_multiple_of(60) {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    if count == 1 {
        format!("1 {unit}")
    } else {
        format!("{count} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_largest_whole_unit() {
        assert_eq!(describe_duration(Duration::from_secs(43_200)), "12 hours");
        assert_eq!(describe_duration(Duration::from_secs(3600)), "1 hour");
        assert_eq!(describe_duration(Duration::from_secs(5400)), "90 minutes");
        assert_eq!(describe_duration(Duration::from_secs(45)), "45 seconds");
        assert_eq!(describe_duration(Duration::from_secs(1)), "1 second");
    }
}
