//! Refuses requests that a page on another site makes the browser send: API calls, signing in
//! and signing out. SameSite=Strict already keeps the session cookie off them; this check also
//! stops another site from signing a visitor in with a token of its choosing, and answers 403
//! before anything reaches budget-service.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, COOKIE, HOST, ORIGIN};
use http::uri::Authority;
use http::{HeaderMap, HeaderValue, StatusCode, Uri};

const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// Middleware: answers 403 to a cross-site request instead of passing it on.
///
/// An API caller's request, one with an `Authorization` header and no cookie, is let through
/// whatever its `Origin`: it acts with the credential it carries itself, and a page on another
/// site cannot make a browser send it. Setting `Authorization` makes a cross-origin `fetch`
/// "non-simple", so the browser first sends a CORS preflight (OPTIONS), and the gateway never
/// answers one with `Access-Control-Allow-*` headers, so the real request is never sent. With a
/// cookie the request may be acting for the browser's session, so it is checked as always, even
/// though its own `Authorization` is what goes upstream (`GrpcProxy::caller`).
pub(crate) async fn refuse_cross_site(request: Request, next: Next) -> Response {
    let api_caller =
        request.headers().contains_key(AUTHORIZATION) && !request.headers().contains_key(COOKIE);
    if !api_caller && is_cross_site(request.headers(), request.uri()) {
        tracing::info!(path = %request.uri().path(), "refused a cross-site request");
        return (
            StatusCode::FORBIDDEN,
            [
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            "cross-site requests are refused",
        )
            .into_response();
    }
    next.run(request).await
}

/// True when the browser says the request comes from another site (`Sec-Fetch-Site`), or names
/// an `Origin` other than the one the request is addressed to.
///
/// The gateway's own origin is taken from the `Host` header (the URI's authority over HTTP/2).
/// Its scheme cannot be known, as TLS usually ends in front of the gateway, so `http` and `https`
/// are both accepted; host and port must match, default ports included.
pub(crate) fn is_cross_site(headers: &HeaderMap, uri: &Uri) -> bool {
    let fetch_site = headers
        .get(SEC_FETCH_SITE)
        .map(|value| value.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if fetch_site == Some(true) {
        return true;
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return false;
    };
    let host = headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<Authority>().ok())
        .or_else(|| uri.authority().cloned());
    match (origin.to_str().ok(), host) {
        (Some(origin), Some(host)) => !is_origin_of(origin, &host),
        _ => true,
    }
}

/// Whether `origin` (`scheme://host[:port]`, as browsers send it) names `host`.
fn is_origin_of(origin: &str, host: &Authority) -> bool {
    let Ok(origin) = origin.parse::<Uri>() else {
        return false;
    };
    let default_port = match origin.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return false,
    };
    let Some(authority) = origin.authority() else {
        return false;
    };
    // Browsers send the bare origin: no path, query or user info.
    if !matches!(origin.path(), "" | "/") || origin.query().is_some() {
        return false;
    }
    if authority.as_str().contains('@') {
        return false;
    }
    authority.host().eq_ignore_ascii_case(host.host())
        && authority.port_u16().unwrap_or(default_port) == host.port_u16().unwrap_or(default_port)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn cross_site(pairs: &[(&'static str, &'static str)]) -> bool {
        is_cross_site(&headers(pairs), &Uri::from_static("/session"))
    }

    #[test]
    fn same_origin_requests_pass() {
        assert!(!cross_site(&[("host", "127.0.0.1:8080")]));
        assert!(!cross_site(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ]));
        assert!(!cross_site(&[
            ("host", "Budgets.Example.com"),
            ("origin", "https://budgets.example.com"),
            ("sec-fetch-site", "same-origin"),
        ]));
        assert!(!cross_site(&[
            ("host", "budgets.example.com:443"),
            ("origin", "https://budgets.example.com")
        ]));
        assert!(!cross_site(&[
            ("host", "[::1]:8080"),
            ("origin", "http://[::1]:8080")
        ]));
        // A navigation the person started (typed URL, bookmark) is not cross-site.
        assert!(!cross_site(&[
            ("host", "a.example"),
            ("sec-fetch-site", "none")
        ]));
    }

    #[test]
    fn other_origins_are_refused() {
        for origin in [
            "http://evil.example",
            "http://127.0.0.1:8081",
            "http://127.0.0.1",
            "https://localhost:8080",
            "null",
            "",
            "ftp://127.0.0.1:8080",
            "http://127.0.0.1:8080/path",
            "http://user@127.0.0.1:8080",
        ] {
            let mut map = headers(&[("host", "127.0.0.1:8080")]);
            map.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
            assert!(
                is_cross_site(&map, &Uri::from_static("/session")),
                "{origin:?}"
            );
        }
        assert!(cross_site(&[
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "cross-site")
        ]));
        // An Origin with nothing to compare it with.
        assert!(cross_site(&[("origin", "http://127.0.0.1:8080")]));
    }

    #[test]
    fn the_authority_stands_in_for_a_missing_host_header() {
        let map = headers(&[("origin", "http://127.0.0.1:8080")]);
        let uri = Uri::from_static("http://127.0.0.1:8080/budget.v1.BudgetService/WhoAmI");
        assert!(!is_cross_site(&map, &uri));
    }
}
