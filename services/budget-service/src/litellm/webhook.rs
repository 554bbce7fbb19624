//! LiteLLM's budget webhook (`WebhookEvent`, contract section 7), decoded and checked.
//! LiteLLM sends it unsigned and never retries, so it is only a prompt to evaluate a
//! tenant sooner; which alerts to record is decided by our own rules.

use serde::Deserialize;

use super::LiteLlmError;

/// What we use of a webhook: which key it is about and what LiteLLM thought happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookHint {
    /// "budget_crossed", "threshold_crossed", "soft_budget_crossed", ...
    pub event: String,
    /// "key" for virtual-key alerts; others ("team", "user", ...) are not ours.
    pub event_group: String,
    /// sha256 of the key, when the event is about a key.
    pub key_hash: Option<String>,
}

#[derive(Deserialize)]
struct WebhookEvent {
    event: String,
    #[serde(default)]
    event_group: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    spend: Option<f64>,
}

/// Decodes a webhook body; malformed JSON or a missing `event` is an error.
pub fn parse_webhook(body: &[u8]) -> Result<WebhookHint, LiteLlmError> {
    let event: WebhookEvent = serde_json::from_slice(body)
        .map_err(|e| LiteLlmError::InvalidResponse(format!("webhook body: {e}")))?;
    if event.spend.is_some_and(|s| !s.is_finite()) {
        return Err(LiteLlmError::InvalidResponse(
            "webhook spend is not a number".into(),
        ));
    }
    let key_hash = event
        .token
        .map(|t| t.to_ascii_lowercase())
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()));
    Ok(WebhookHint {
        event: event.event,
        event_group: event.event_group.unwrap_or_else(|| "key".to_owned()),
        key_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_captured_event() {
        let body = br#"{"spend":8.6,"max_budget":10.0,"soft_budget":null,"token":"88dc28d0aa11bb22cc33dd44ee55ff6600112233445566778899aabbccdd6b4b","customer_id":null,"user_id":null,"team_id":null,"team_alias":null,"organization_id":null,"user_email":null,"key_alias":"tenant-a","projected_exceeded_date":null,"projected_spend":null,"event_group":"key","alert_emails":null,"max_budget_alert_emails":null,"event":"threshold_crossed","event_message":"Key Budget: 15% or less of budget remaining"}"#;
        let hint = parse_webhook(body).unwrap();
        assert_eq!(hint.event, "threshold_crossed");
        assert_eq!(hint.event_group, "key");
        assert_eq!(hint.key_hash.as_deref().map(str::len), Some(64));
    }

    #[test]
    fn rejects_garbage_and_ignores_odd_tokens() {
        assert!(parse_webhook(b"not json").is_err());
        assert!(parse_webhook(b"{}").is_err());
        let hint = parse_webhook(br#"{"event":"budget_crossed","token":"'; drop table"}"#).unwrap();
        assert_eq!(hint.key_hash, None);
    }
}
