//! The notification sender: the only code that knows what webhook and Slack receivers get
//! (`wire.rs`), how it is signed and where it may go (`egress.rs`). One POST per call: to an
//! address the egress rules allow, with a 2 s connect timeout inside the total timeout, no
//! redirects, no proxy, the answer's body never read; the alert id as `Idempotency-Key`;
//! webhook bodies signed in `X-Budget-Signature` and with Standard Webhooks headers.
//!
//! Errors are a few coarse words for tenants ("receiver refused (HTTP 4xx)", "receiver
//! failed (HTTP 5xx)", "receiver unreachable"): never a URL (which may carry credentials), a
//! secret, the receiver's body, an exact status or how the connection failed, so a target
//! cannot be used to probe what answers where. The detail is logged for operators.

mod egress;
mod wire;

pub(crate) use egress::TargetGuard;
pub(crate) use wire::{signature, standard_signature};

use std::time::Duration;

use budget_telemetry::{Context, KeyValue, SpanKind, TraceContextExt as _, Tracer};
use chrono::{DateTime, Utc};

use crate::domain::notification::Backoff;
use crate::domain::{AlertKind, NotificationKind};

/// The header with the alert id, so receivers can drop repeated deliveries.
pub(crate) const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The header with the webhook body's signature.
pub(crate) const SIGNATURE_HEADER: &str = "X-Budget-Signature";
/// Standard Webhooks: the message id (the alert id, the same on every attempt).
pub(crate) const WEBHOOK_ID_HEADER: &str = "webhook-id";
/// Standard Webhooks: when this attempt was sent, in Unix seconds.
pub(crate) const WEBHOOK_TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Standard Webhooks: `v1,` and the base64 HMAC-SHA256 of "id.timestamp.body".
pub(crate) const WEBHOOK_SIGNATURE_HEADER: &str = "webhook-signature";
/// How long connecting to a receiver may take (name lookup included), within the total
/// timeout: a receiver that does not even accept the connection frees its slot early.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One alert as receivers are told about it.
#[derive(Clone, Debug)]
pub struct Notice {
    pub alert_id: i64,
    pub tenant_id: String,
    pub display_name: String,
    pub kind: AlertKind,
    pub message: String,
    pub spend_micros: i64,
    pub max_budget_micros: i64,
    pub percent: f64,
    pub threshold_percent: i32,
    pub created_at: DateTime<Utc>,
    /// The tenant's page on the dashboard.
    pub dashboard_url: String,
}

/// Where to send a notice.
#[derive(Clone, Copy, Debug)]
pub struct Destination<'a> {
    pub kind: NotificationKind,
    pub url: &'a str,
    /// The webhook signing key; webhooks are never sent unsigned.
    pub secret: Option<&'a str>,
}

/// Why a delivery attempt failed, in the coarse words tenants see in the alert history.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The receiver answered 3xx (redirects are not followed) or 4xx.
    #[error("receiver refused (HTTP {}xx)", .0 / 100)]
    Refused(u16),
    /// The receiver answered 5xx.
    #[error("receiver failed (HTTP 5xx)")]
    Failed(u16),
    /// No answer: the name did not resolve (or only to addresses not allowed), the
    /// connection failed, or the exchange broke off.
    #[error("receiver unreachable")]
    Unreachable,
    /// Connecting or answering took too long. Shown like [`NotifyError::Unreachable`]: whether
    /// a port accepts connections and then stalls is exactly what a prober wants to know.
    #[error("receiver unreachable")]
    TimedOut,
    /// The URL itself breaks the egress rules (plain http, an address not allowed): a target
    /// saved before the rules, or before the operator tightened them.
    #[error("receiver address not allowed")]
    NotAllowed,
    #[error("no signing secret stored")]
    NoSecret,
    #[error("could not build the body")]
    Body,
}

impl NotifyError {
    /// How hard the delivery backs off after this failure: a timeout held a sending slot
    /// for the whole timeout, so it waits longer than an answer or a refused connection.
    pub fn backoff(&self) -> Backoff {
        match self {
            NotifyError::TimedOut => Backoff::Slow,
            _ => Backoff::Standard,
        }
    }
}

/// Sends notices over one pooled HTTP client, separate from LiteLLM's.
#[derive(Clone)]
pub struct Notifier {
    http: reqwest::Client,
    guard: TargetGuard,
    /// A client span per attempt, its context sent as `traceparent`.
    tracer: Tracer,
}

impl Notifier {
    /// A sender whose every POST gives up after `timeout` and goes only where `guard` allows.
    pub fn new(timeout: Duration, guard: TargetGuard) -> Result<Notifier, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            // Names resolve through the egress rules, and connections go to the checked
            // addresses only.
            .dns_resolver(std::sync::Arc::new(guard.reqwest_resolver()))
            // A receiver's redirect is a failure, not a reason to POST alerts elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .http1_max_headers(64)
            .user_agent(concat!("budget-service/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Notifier {
            http,
            guard,
            tracer: Tracer::disabled(),
        })
    }

    /// Makes a span per attempt (alert, kind, receiver host, HTTP status) and sends its trace
    /// context to the receiver in `traceparent`.
    pub fn with_tracer(mut self, tracer: Tracer) -> Notifier {
        self.tracer = tracer;
        self
    }

    /// The egress rules this sender applies, for checking targets as they are saved.
    pub fn guard(&self) -> &TargetGuard {
        &self.guard
    }

    /// POSTs the notice once; any 2xx answer is success. Only the answer's status line and
    /// headers are read.
    pub async fn send(&self, to: Destination<'_>, notice: &Notice) -> Result<(), NotifyError> {
        let url = url::Url::parse(to.url).map_err(|_| NotifyError::NotAllowed)?;
        let kind = match to.kind {
            NotificationKind::Webhook => "webhook",
            NotificationKind::Slack => "slack",
        };
        // The host only: a target's path and query may hold its secret.
        let host = url.host_str().unwrap_or_default().to_owned();
        let cx = self.tracer.start(
            format!("notification {kind}"),
            SpanKind::Client,
            vec![
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("server.address", host),
                KeyValue::new("notification.kind", kind),
                KeyValue::new("alert_id", notice.alert_id),
                KeyValue::new("tenant_id", notice.tenant_id.clone()),
            ],
            &Context::current(),
        );
        let result = self.attempt(&url, to, notice, &cx).await;
        if let Err(error) = &result {
            budget_telemetry::record_error(&cx, error.to_string());
        }
        cx.span().end();
        result
    }

    /// One POST of `notice` to `url`, under the span in `cx`.
    async fn attempt(
        &self,
        url: &url::Url,
        to: Destination<'_>,
        notice: &Notice,
        cx: &Context,
    ) -> Result<(), NotifyError> {
        // reqwest resolves names through the guard but connects to IP literals directly,
        // so the URL's own rules are checked here, on every attempt.
        self.guard
            .policy()
            .check_url(url)
            .map_err(|_| NotifyError::NotAllowed)?;
        let body = match to.kind {
            NotificationKind::Webhook => wire::webhook_body(notice),
            NotificationKind::Slack => wire::slack_body(notice),
        }
        .map_err(|_| NotifyError::Body)?;
        let alert_id = notice.alert_id.to_string();
        let mut trace_context = reqwest::header::HeaderMap::new();
        budget_telemetry::inject(cx, &mut trace_context);
        let mut request = self
            .http
            .post(url.clone())
            .headers(trace_context)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_HEADER, &alert_id);
        if to.kind == NotificationKind::Webhook {
            let secret = to.secret.ok_or(NotifyError::NoSecret)?;
            // A transport stamp: receivers check it against their own wall clock to refuse
            // replays, so it is the wall clock's, never the service's (injectable) clock.
            let timestamp = Utc::now().timestamp();
            request = request
                .header(SIGNATURE_HEADER, signature(secret, &body))
                .header(WEBHOOK_ID_HEADER, &alert_id)
                .header(WEBHOOK_TIMESTAMP_HEADER, timestamp.to_string())
                .header(
                    WEBHOOK_SIGNATURE_HEADER,
                    standard_signature(secret, &alert_id, timestamp, &body),
                );
        }
        let response = request.body(body).send().await.map_err(|error| {
            let error = error.without_url();
            let failure = if error.is_timeout() {
                NotifyError::TimedOut
            } else {
                NotifyError::Unreachable
            };
            // The cause is for operators only; tenants see the coarse words.
            tracing::info!(
                alert_id = notice.alert_id,
                error = %error,
                cause = ?std::error::Error::source(&error),
                "notification request failed"
            );
            failure
        })?;
        let status = response.status().as_u16();
        cx.span().set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        // Dropped unread: a receiver's body, however large or slow, costs nothing.
        drop(response);
        match status {
            200..=299 => Ok(()),
            500.. => Err(NotifyError::Failed(status)),
            _ => Err(NotifyError::Refused(status)),
        }
    }
}
