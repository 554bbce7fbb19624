//! The notification sender: the only code that knows what webhook and Slack receivers get
//! (`wire.rs`) and how it is sent. One POST per call, with a timeout, no redirects, the
//! alert id as `Idempotency-Key`, and webhook bodies signed in `X-Budget-Signature`.
//!
//! Errors are a few words for people ("HTTP 503", "timed out"): never a URL (which may
//! carry credentials), a secret or the receiver's body.

mod wire;

pub use wire::{signature, slack_text};

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::{AlertKind, NotificationKind};

/// The header with the alert id, so receivers can drop repeated deliveries.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The header with the webhook body's signature.
pub const SIGNATURE_HEADER: &str = "X-Budget-Signature";

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

/// Why a delivery attempt failed, in words fit for the alert history.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("timed out")]
    Timeout,
    #[error("could not connect")]
    Connect,
    #[error("request failed")]
    Transport,
    #[error("HTTP {0}")]
    Status(u16),
    #[error("no signing secret stored")]
    NoSecret,
    #[error("could not build the body")]
    Body,
}

/// Sends notices over one pooled HTTP client, separate from LiteLLM's.
#[derive(Clone)]
pub struct Notifier {
    http: reqwest::Client,
}

impl Notifier {
    /// A sender whose every POST gives up after `timeout`.
    pub fn new(timeout: Duration) -> Result<Notifier, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // A receiver's redirect is a failure, not a reason to POST alerts elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("budget-service/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Notifier { http })
    }

    /// POSTs the notice once; any 2xx answer is success.
    pub async fn send(&self, to: Destination<'_>, notice: &Notice) -> Result<(), NotifyError> {
        let body = match to.kind {
            NotificationKind::Webhook => wire::webhook_body(notice),
            NotificationKind::Slack => wire::slack_body(notice),
        }
        .map_err(|_| NotifyError::Body)?;
        let mut request = self
            .http
            .post(to.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_HEADER, notice.alert_id.to_string());
        if to.kind == NotificationKind::Webhook {
            let secret = to.secret.ok_or(NotifyError::NoSecret)?;
            request = request.header(SIGNATURE_HEADER, signature(secret, &body));
        }
        let response = request.body(body).send().await.map_err(|error| {
            if error.is_timeout() {
                NotifyError::Timeout
            } else if error.is_connect() {
                NotifyError::Connect
            } else {
                NotifyError::Transport
            }
        })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(NotifyError::Status(status.as_u16()))
        }
    }
}
