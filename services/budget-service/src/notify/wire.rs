//! What notification receivers get: the signed webhook JSON, the Slack-compatible text, and
//! the signature headers' values (ours and Standard Webhooks').

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::SecondsFormat;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::Notice;
use crate::domain::AlertKind;
use crate::domain::money::format_usd;

/// The webhook body: the alert's fields, its tenant and a link to the tenant's dashboard.
#[derive(Serialize)]
struct WebhookBody<'a> {
    alert_id: String,
    tenant_id: &'a str,
    display_name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
    spend_micros: i64,
    max_budget_micros: i64,
    percent: f64,
    threshold_percent: i32,
    create_time: String,
    dashboard_url: &'a str,
}

/// The body of a Slack-compatible incoming webhook.
#[derive(Serialize)]
struct SlackBody {
    text: String,
}

/// The alert type as the API's enum names it, without the prefix.
fn type_name(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Threshold => "THRESHOLD",
        AlertKind::BudgetExceeded => "BUDGET_EXCEEDED",
        AlertKind::Blocked => "BLOCKED",
        AlertKind::ProjectedLimit => "PROJECTED_LIMIT",
    }
}

/// What happened, as a clause for people.
fn event(notice: &Notice) -> String {
    match notice.kind {
        AlertKind::Threshold => format!("{}% alert threshold reached", notice.threshold_percent),
        AlertKind::BudgetExceeded => "budget exceeded, grace period started".to_owned(),
        AlertKind::Blocked => format!(
            "{}% grace threshold reached, LiteLLM now blocks its calls",
            notice.threshold_percent
        ),
        AlertKind::ProjectedLimit => "projected to exceed the budget before the reset".to_owned(),
    }
}

/// The JSON a webhook target receives; these exact bytes are signed.
pub(super) fn webhook_body(notice: &Notice) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&WebhookBody {
        alert_id: notice.alert_id.to_string(),
        tenant_id: &notice.tenant_id,
        display_name: &notice.display_name,
        kind: type_name(notice.kind),
        message: &notice.message,
        spend_micros: notice.spend_micros,
        max_budget_micros: notice.max_budget_micros,
        percent: notice.percent,
        threshold_percent: notice.threshold_percent,
        create_time: notice
            .created_at
            .to_rfc3339_opts(SecondsFormat::AutoSi, true),
        dashboard_url: &notice.dashboard_url,
    })
}

/// The sentence a Slack-compatible target shows.
pub(crate) fn slack_text(notice: &Notice) -> String {
    format!(
        "Budget alert for {} ({}): {}. Spend is {} of the {} budget ({:.1}%). Dashboard: {}",
        notice.display_name,
        notice.tenant_id,
        event(notice),
        format_usd(notice.spend_micros),
        format_usd(notice.max_budget_micros),
        notice.percent,
        notice.dashboard_url
    )
}

/// The JSON a Slack-compatible target receives.
pub(super) fn slack_body(notice: &Notice) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&SlackBody {
        text: slack_text(notice),
    })
}

/// The `X-Budget-Signature` value: "sha256=" and the hex HMAC-SHA256 of `body` under `secret`.
pub(crate) fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The key Standard Webhooks signatures use: a `whsec_`-prefixed secret is base64 of the key
/// (the form Standard Webhooks and Svix libraries take in their constructors), any other
/// secret is its own bytes (their `from_bytes` / raw form).
fn standard_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|encoded| BASE64.decode(encoded).ok())
        .filter(|key| !key.is_empty())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The `webhook-signature` value: "v1," and the base64 HMAC-SHA256 of "id.timestamp.body".
pub(crate) fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&standard_key(secret))
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn notice(kind: AlertKind) -> Notice {
        Notice {
            alert_id: 42,
            tenant_id: "acme".into(),
            display_name: "Acme Inc.".into(),
            kind,
            message: "Spend reached 80% of the $100.00 budget ($80.00 spent)".into(),
            spend_micros: 80_000_000,
            max_budget_micros: 100_000_000,
            percent: 80.0,
            threshold_percent: 80,
            created_at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 28, 9, 30, 0)
                .single()
                .unwrap(),
            dashboard_url: "http://127.0.0.1:8080/tenants/acme".into(),
        }
    }

    #[test]
    fn signature_is_hex_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn standard_signatures_match_the_reference_vector() {
        // The Standard Webhooks Rust library's own test vector (whsec_ secret, base64 key).
        assert_eq!(
            standard_signature(
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
        // Any other secret is used as its bytes.
        let raw = standard_signature("demo-receiver-signing-secret", "42", 1700000000, b"{}");
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(b"demo-receiver-signing-secret").unwrap();
        mac.update(b"42.1700000000.{}");
        assert_eq!(
            raw,
            format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
        );
        assert_eq!(
            standard_key("whsec_not base64!"),
            b"whsec_not base64!".to_vec()
        );
    }

    #[test]
    fn webhook_body_carries_the_alert_tenant_and_link() {
        let body: serde_json::Value =
            serde_json::from_slice(&webhook_body(&notice(AlertKind::Threshold)).unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "alert_id": "42",
                "tenant_id": "acme",
                "display_name": "Acme Inc.",
                "type": "THRESHOLD",
                "message": "Spend reached 80% of the $100.00 budget ($80.00 spent)",
                "spend_micros": 80_000_000,
                "max_budget_micros": 100_000_000,
                "percent": 80.0,
                "threshold_percent": 80,
                "create_time": "2026-11-28T09:30:00Z",
                "dashboard_url": "http://127.0.0.1:8080/tenants/acme",
            })
        );
    }

    #[test]
    fn slack_text_is_one_sentence_with_dollars_and_the_link() {
        assert_eq!(
            slack_text(&notice(AlertKind::Threshold)),
            "Budget alert for Acme Inc. (acme): 80% alert threshold reached. Spend is $80.00 of \
             the $100.00 budget (80.0%). Dashboard: http://127.0.0.1:8080/tenants/acme"
        );
        let body: serde_json::Value =
            serde_json::from_slice(&slack_body(&notice(AlertKind::Blocked)).unwrap()).unwrap();
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .contains("80% grace threshold reached")
        );
    }
}
