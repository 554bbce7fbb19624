//! Sending one budget webhook with LiteLLM's client settings, and recording what came back.

use serde_json::Value;

use super::{CONNECT_TIMEOUT, Pending, SEND_TIMEOUT, SentWebhook, WEBHOOK_USER_AGENT};

/// The HTTP client for budget webhooks (LiteLLM's user agent and timeouts), or `None` when it
/// cannot be built; the attempt is then recorded without an answer.
pub(crate) fn client() -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .user_agent(WEBHOOK_USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(SEND_TIMEOUT)
        .build()
        .map_err(|err| tracing::error!(%err, "litellm-sim cannot build its webhook client"))
        .ok()
}

/// Posts one decided webhook and records the attempt.
pub(crate) async fn send(client: Option<&reqwest::Client>, pending: &Pending) -> SentWebhook {
    let payload = serde_json::to_string(&pending.event).unwrap_or_default();
    let body = serde_json::from_str(&payload).unwrap_or(Value::Null);
    let mut record = SentWebhook {
        url: pending.url.clone(),
        body,
        status: None,
    };
    let Some(client) = client else {
        return record;
    };
    let answer = client
        .post(&pending.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(payload)
        .send()
        .await;
    match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            record.status = Some(status);
            if status == 200 {
                tracing::debug!(url = %pending.url, event = pending.event.event.as_str(), "budget webhook sent");
            } else {
                let text = response.text().await.unwrap_or_default();
                tracing::warn!(url = %pending.url, status, error = %text, "Error sending webhook alert (dropped, not retried)");
            }
        }
        Err(err) => {
            tracing::warn!(url = %pending.url, %err, "budget webhook failed; the next LLM call of the key retries it");
        }
    }
    record
}
