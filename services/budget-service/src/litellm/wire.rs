//! LiteLLM's JSON shapes (contract sections 1-4), decoded leniently where LiteLLM adds
//! fields and strictly where we depend on a value.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use std::collections::BTreeMap;

use super::{DaySpend, KeyBudget, KeyDaySpend, KeyStatus, LiteLlmError, amount};
use crate::domain::ModelSpend;
use crate::domain::model_spend::{MODELS_PER_DAY, top_models};

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

#[derive(Default, Deserialize)]
pub(super) struct ActivityBreakdown {
    #[serde(default)]
    pub api_keys: BTreeMap<String, KeyActivity>,
    /// By deployment (`provider/model`), each with the keys that spent on it.
    #[serde(default)]
    pub models: BTreeMap<String, ModelActivity>,
}

#[derive(Deserialize)]
pub(super) struct KeyActivity {
    pub metrics: ActivityMetrics,
}

#[derive(Deserialize)]
pub(super) struct ModelActivity {
    pub metrics: ActivityMetrics,
    #[serde(default)]
    pub api_key_breakdown: BTreeMap<String, KeyActivity>,
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
    /// One key's days (the answer was filtered by its hash): spend and spend by model.
    pub(super) fn into_days(self) -> Result<Vec<DaySpend>, LiteLlmError> {
        self.results
            .into_iter()
            .map(|day| {
                let date = activity_date(&day.date)?;
                let models = day
                    .breakdown
                    .map(|b| b.models)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(model, activity)| (model, activity.metrics.spend));
                Ok(DaySpend {
                    day: date,
                    spend_micros: amount("daily spend", day.metrics.spend)?,
                    models: model_spends(models)?,
                })
            })
            .collect()
    }

    /// Every key's days (the whole proxy): spend and spend by model, per key hash.
    pub(super) fn into_key_days(self) -> Result<Vec<KeyDaySpend>, LiteLlmError> {
        let mut out = Vec::new();
        for day in self.results {
            let date = activity_date(&day.date)?;
            let breakdown = day.breakdown.unwrap_or_default();
            // The models of each key, from each model's own per-key breakdown.
            let mut key_models: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
            for (model, activity) in breakdown.models {
                for (hash, key) in activity.api_key_breakdown {
                    key_models
                        .entry(hash)
                        .or_default()
                        .push((model.clone(), key.metrics.spend));
                }
            }
            for (hash, key) in breakdown.api_keys {
                let models = key_models.remove(&hash).unwrap_or_default();
                out.push(KeyDaySpend {
                    key_hash: hash,
                    day: DaySpend {
                        day: date,
                        spend_micros: amount("daily spend", key.metrics.spend)?,
                        models: model_spends(models)?,
                    },
                });
            }
        }
        Ok(out)
    }
}

fn activity_date(raw: &str) -> Result<NaiveDate, LiteLlmError> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| LiteLlmError::InvalidResponse("activity date is not YYYY-MM-DD".into()))
}

/// The longest model name we keep (in bytes; the `model_spend` table checks it too).
pub(super) const MAX_MODEL_NAME_BYTES: usize = 256;

/// Whether a model name from LiteLLM may be stored and shown: not empty, at most
/// [`MAX_MODEL_NAME_BYTES`], no control characters (it reaches logs, CSV cells and pages).
fn is_acceptable_model_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_MODEL_NAME_BYTES && !name.chars().any(char::is_control)
}

/// A day's spend by model in micros, capped at [`MODELS_PER_DAY`] models plus "other".
/// An amount that is not a non-negative number refuses the answer; a name we will not keep
/// is skipped with a log, and its spend counted under "other" so the day still adds up.
fn model_spends(
    models: impl IntoIterator<Item = (String, f64)>,
) -> Result<Vec<ModelSpend>, LiteLlmError> {
    let mut entries = Vec::new();
    let mut skipped = 0usize;
    for (model, usd) in models {
        let micros = amount("model spend", usd)?;
        if is_acceptable_model_name(&model) {
            entries.push(ModelSpend::named(model, micros));
        } else {
            skipped = skipped.saturating_add(1);
            entries.push(ModelSpend::other(micros));
        }
    }
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "LiteLLM named models with empty, overlong or control-character names; counted as other models"
        );
    }
    Ok(top_models(entries, MODELS_PER_DAY))
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

    fn activity(models: serde_json::Value) -> ActivityResponse {
        serde_json::from_value(serde_json::json!({"results": [{
            "date": "2026-11-28",
            "metrics": {"spend": 3.5},
            "breakdown": {
                "models": models,
                "api_keys": {"h1": {"metrics": {"spend": 3.0}}, "h2": {"metrics": {"spend": 0.5}}}
            }
        }]}))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn model(spend: f64, keys: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"metrics": {"spend": spend}, "metadata": {}, "api_key_breakdown": keys})
    }

    #[test]
    fn spend_by_model_is_read_per_key_from_each_models_breakdown() {
        let answer = activity(serde_json::json!({
            "openai/fake-gpt": model(2.5, serde_json::json!({
                "h1": {"metrics": {"spend": 2.0}}, "h2": {"metrics": {"spend": 0.5}}
            })),
            "openai/gpt-4o-mini": model(1.0, serde_json::json!({"h1": {"metrics": {"spend": 1.0}}})),
            "unknown-model": model(0.0, serde_json::json!({"h2": {"metrics": {"spend": 0.0}}}))
        }));
        let days = answer.into_key_days().unwrap_or_else(|e| panic!("{e}"));
        let by_key: Vec<(&str, i64, &[ModelSpend])> = days
            .iter()
            .map(|d| (d.key_hash.as_str(), d.day.spend_micros, &d.day.models[..]))
            .collect();
        assert_eq!(
            by_key,
            vec![
                (
                    "h1",
                    3_000_000,
                    &[
                        ModelSpend::named("openai/fake-gpt", 2_000_000),
                        ModelSpend::named("openai/gpt-4o-mini", 1_000_000)
                    ][..]
                ),
                (
                    "h2",
                    500_000,
                    &[ModelSpend::named("openai/fake-gpt", 500_000)][..]
                ),
            ]
        );
        // One key's answer: the models' own totals.
        let one =
            activity(serde_json::json!({"openai/fake-gpt": model(2.5, serde_json::json!({}))}));
        let days = one.into_days().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            days[0].models,
            vec![ModelSpend::named("openai/fake-gpt", 2_500_000)]
        );
    }

    #[test]
    fn hostile_model_names_are_skipped_and_bad_amounts_refused() {
        let long = "x".repeat(MAX_MODEL_NAME_BYTES + 1);
        let answer = activity(serde_json::json!({
            "evil\u{1b}[2J": model(1.0, serde_json::json!({})),
            long: model(2.0, serde_json::json!({})),
            "": model(0.25, serde_json::json!({})),
            "ok/model": model(0.5, serde_json::json!({}))
        }));
        let days = answer.into_days().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            days[0].models,
            vec![
                ModelSpend::named("ok/model", 500_000),
                ModelSpend::other(3_250_000)
            ]
        );
        let negative = activity(serde_json::json!({"a/b": model(-0.01, serde_json::json!({}))}));
        assert!(matches!(
            negative.into_days(),
            Err(LiteLlmError::InvalidResponse(_))
        ));
        let huge = activity(serde_json::json!({"a/b": model(1e300, serde_json::json!({}))}));
        assert!(huge.into_days().is_err());
        // Thousands of names: 20 kept, the rest one "other".
        let many: serde_json::Map<String, serde_json::Value> = (0..3000)
            .map(|i| (format!("p/m{i}"), model(0.01, serde_json::json!({}))))
            .collect();
        let days = activity(serde_json::Value::Object(many))
            .into_days()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(days[0].models.len(), MODELS_PER_DAY + 1);
        assert_eq!(
            days[0].models.last(),
            Some(&ModelSpend::other(2980 * 10_000))
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
