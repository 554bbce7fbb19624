//! LiteLLM's JSON shapes (contract sections 1-4), decoded leniently where LiteLLM adds
//! fields and strictly where we depend on a value.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{KeyBudget, KeyStatus, LiteLlmError, amount};

#[derive(Deserialize)]
pub(super) struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Deserialize)]
pub(super) struct ErrorBody {
    pub message: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct GenerateResponse {
    pub key: String,
    pub token: Option<String>,
    pub token_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct KeyInfoResponse {
    pub info: KeyRow,
}

#[derive(Deserialize)]
pub(super) struct BudgetTable {
    pub soft_budget: Option<f64>,
}

/// A key row, as in /key/info's `info` and /key/update's answer.
#[derive(Deserialize)]
pub(super) struct KeyRow {
    pub spend: Option<f64>,
    pub max_budget: Option<f64>,
    pub budget_duration: Option<String>,
    pub budget_reset_at: Option<String>,
    pub blocked: Option<bool>,
    pub expires: Option<String>,
    pub status: Option<String>,
    pub litellm_budget_table: Option<BudgetTable>,
}

impl KeyRow {
    /// The key's budget; `now` (from the client's clock) decides whether it has expired.
    pub(super) fn into_budget(self, now: DateTime<Utc>) -> Result<KeyBudget, LiteLlmError> {
        let spend = self
            .spend
            .ok_or_else(|| LiteLlmError::InvalidResponse("key has no spend".into()))?;
        let budget_reset_at = self
            .budget_reset_at
            .as_deref()
            .map(parse_time)
            .transpose()?;
        let expires = self.expires.as_deref().map(parse_time).transpose()?;
        // /key/info derives `status`; /key/update's row does not, so derive it like LiteLLM does.
        let status = match self.status.as_deref() {
            Some("deleted") => KeyStatus::Deleted,
            Some("revoked") => KeyStatus::Revoked,
            Some("expired") => KeyStatus::Expired,
            _ if self.blocked == Some(true) => KeyStatus::Revoked,
            _ if expires.is_some_and(|at| at < now) => KeyStatus::Expired,
            _ => KeyStatus::Active,
        };
        Ok(KeyBudget {
            spend_micros: amount("spend", spend)?,
            max_budget_micros: self
                .max_budget
                .map(|usd| amount("max_budget", usd))
                .transpose()?,
            soft_budget_micros: self
                .litellm_budget_table
                .and_then(|table| table.soft_budget)
                .map(|usd| amount("soft_budget", usd))
                .transpose()?,
            budget_duration: self.budget_duration,
            budget_reset_at,
            status,
        })
    }
}

#[derive(Deserialize)]
pub(super) struct ActivityResponse {
    pub results: Vec<ActivityDay>,
}

#[derive(Deserialize)]
pub(super) struct ActivityDay {
    pub date: String,
    pub metrics: ActivityMetrics,
    #[serde(default)]
    pub breakdown: Option<ActivityBreakdown>,
}

#[derive(Deserialize)]
pub(super) struct ActivityBreakdown {
    #[serde(default)]
    pub api_keys: std::collections::BTreeMap<String, KeyActivity>,
}

#[derive(Deserialize)]
pub(super) struct KeyActivity {
    pub metrics: ActivityMetrics,
}

/// /key/list with return_full_object=true.
#[derive(Deserialize)]
pub(super) struct KeyListResponse {
    pub keys: Vec<ListedKey>,
    pub total_pages: Option<u32>,
}

#[derive(Deserialize)]
pub(super) struct ListedKey {
    pub token: String,
    #[serde(flatten)]
    pub row: KeyRow,
}

impl KeyListResponse {
    pub(super) fn into_keys(
        self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<(String, KeyBudget)>, u32), LiteLlmError> {
        let pages = self.total_pages.unwrap_or(1);
        let keys = self
            .keys
            .into_iter()
            .map(|key| Ok((key.token, key.row.into_budget(now)?)))
            .collect::<Result<_, LiteLlmError>>()?;
        Ok((keys, pages))
    }
}

#[derive(Deserialize)]
pub(super) struct ActivityMetrics {
    pub spend: f64,
}

impl ActivityResponse {
    pub(super) fn into_days(self) -> Result<Vec<(NaiveDate, i64)>, LiteLlmError> {
        self.results
            .into_iter()
            .map(|day| {
                let date = NaiveDate::parse_from_str(&day.date, "%Y-%m-%d").map_err(|_| {
                    LiteLlmError::InvalidResponse("activity date is not YYYY-MM-DD".into())
                })?;
                Ok((date, amount("daily spend", day.metrics.spend)?))
            })
            .collect()
    }
}

impl ActivityResponse {
    pub(super) fn into_key_days(self) -> Result<Vec<(NaiveDate, String, i64)>, LiteLlmError> {
        let mut out = Vec::new();
        for day in self.results {
            let date = NaiveDate::parse_from_str(&day.date, "%Y-%m-%d").map_err(|_| {
                LiteLlmError::InvalidResponse("activity date is not YYYY-MM-DD".into())
            })?;
            for (hash, key) in day.breakdown.map(|b| b.api_keys).unwrap_or_default() {
                out.push((date, hash, amount("daily spend", key.metrics.spend)?));
            }
        }
        Ok(out)
    }
}

/// LiteLLM writes datetimes as RFC 3339, sometimes without an offset (then UTC).
pub(super) fn parse_time(raw: &str) -> Result<DateTime<Utc>, LiteLlmError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map_err(|_| LiteLlmError::InvalidResponse("a datetime is not RFC 3339".into()))
}

pub(super) fn sha256_hex(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        parse_time("2026-11-15T12:00:00Z").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_litellm_datetimes_as_utc() {
        let want = "2026-12-01T00:00:00Z";
        for raw in [
            "2026-12-01T00:00:00Z",
            "2026-12-01T00:00:00+00:00",
            "2026-12-01T00:00:00",
            "2026-12-01T01:00:00+01:00",
        ] {
            assert_eq!(
                parse_time(raw)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .ok()
                    .as_deref(),
                Some(want),
                "{raw}"
            );
        }
        assert!(parse_time("next tuesday").is_err());
    }

    #[test]
    fn key_row_is_validated_and_converted() {
        let row: KeyRow = serde_json::from_value(serde_json::json!({
            "spend": 12.34, "max_budget": 55.0, "budget_duration": "30d",
            "budget_reset_at": "2026-12-01T00:00:00Z", "blocked": null, "status": "active",
            "litellm_budget_table": {"soft_budget": 40.0}
        }))
        .map_err(|e| e.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
        let budget = row.into_budget(now()).map_err(|e| e.to_string());
        let budget = budget.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(budget.spend_micros, 12_340_000);
        assert_eq!(budget.soft_budget_micros, Some(40_000_000));
        assert_eq!(budget.status, KeyStatus::Active);

        let negative: KeyRow = serde_json::from_value(serde_json::json!({"spend": -1.0}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            negative.into_budget(now()),
            Err(LiteLlmError::InvalidResponse(_))
        ));
        let blocked: KeyRow =
            serde_json::from_value(serde_json::json!({"spend": 1.0, "blocked": true}))
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            blocked.into_budget(now()).map(|b| b.status).ok(),
            Some(KeyStatus::Revoked)
        );
    }

    #[test]
    fn a_key_expires_by_the_given_now_not_the_wall_clock() {
        let row = || -> KeyRow {
            serde_json::from_value(serde_json::json!({
                "spend": 1.0, "expires": "2026-11-15T12:00:01Z"
            }))
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let status = |now| row().into_budget(now).map(|b| b.status).ok();
        assert_eq!(status(now()), Some(KeyStatus::Active));
        let later = parse_time("2026-11-15T12:00:02Z").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status(later), Some(KeyStatus::Expired));
    }
}
