//! The fields of a `/key/generate` or `/key/update` body: validated before anything changes, then
//! applied to the key row with LiteLLM's merge-patch semantics.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::periods;
use crate::records::{BudgetRow, KeyRecord};
use crate::request::{
    Patch, opt_bool, opt_datetime, opt_f64, opt_i64, opt_list, opt_object, opt_string,
};
use crate::util::py_float;

/// Columns of the key row that the sim stores as sent and shows back unchanged.
const STORED_COLUMNS: &[&str] = &[
    "aliases",
    "config",
    "permissions",
    "allowed_cache_controls",
    "allowed_routes",
    "router_settings",
    "budget_limits",
    "auto_rotate",
    "rotation_interval",
    "policies",
    "access_group_ids",
    "budget_fallbacks",
];

/// Request fields that LiteLLM keeps inside the key's `metadata`.
const METADATA_FIELDS: &[&str] = &[
    "model_rpm_limit",
    "model_tpm_limit",
    "guardrails",
    "prompts",
    "disable_global_guardrails",
    "tpm_limit_type",
    "rpm_limit_type",
    "enforced_params",
    "allowed_passthrough_routes",
    "denied_passthrough_routes",
    "mcp_rpm_limit",
    "tag_rpm_limit",
];

/// The fields of a `/key/generate` or `/key/update` body, validated before anything changes.
#[derive(Debug, Default)]
pub(super) struct KeyPatch {
    pub(super) key_alias: Patch<String>,
    max_budget: Patch<f64>,
    soft_budget: Patch<f64>,
    budget_duration: Patch<String>,
    duration: Patch<String>,
    spend: Patch<f64>,
    metadata: Patch<Map<String, Value>>,
    models: Patch<Vec<Value>>,
    blocked: Patch<bool>,
    tpm_limit: Patch<i64>,
    rpm_limit: Patch<i64>,
    tpd_limit: Patch<i64>,
    max_parallel_requests: Patch<i64>,
    user_id: Patch<String>,
    team_id: Patch<String>,
    organization_id: Patch<String>,
    project_id: Patch<String>,
    agent_id: Patch<String>,
    budget_id: Patch<String>,
    key_type: Patch<String>,
    temp_budget_increase: Patch<f64>,
    temp_budget_expiry: Patch<DateTime<Utc>>,
    stored: Vec<(String, Value)>,
    metadata_fields: Vec<(String, Value)>,
}

/// LiteLLM's budget check: an `HTTPException(400)` (so `internal_server_error` from
/// `/key/generate`, `auth_error` from `/key/update`).
fn check_budget(name: &str, value: Patch<f64>) -> ApiResult<Patch<f64>> {
    if let Some(Some(v)) = value
        && (!v.is_finite() || v < 0.0)
    {
        return Err(ApiError::http_exception(
            StatusCode::BAD_REQUEST,
            &format!(
                "{name} must be a non-negative finite number. Received: {}",
                py_float(v)
            ),
        ));
    }
    Ok(value)
}

fn check_limit(name: &str, value: Patch<i64>) -> ApiResult<Patch<i64>> {
    if let Some(Some(v)) = value
        && v < 0
    {
        return Err(ApiError::validation(
            &["body", name],
            "greater_than_equal",
            "Input should be greater than or equal to 0",
            json!(v),
        ));
    }
    Ok(value)
}

impl KeyPatch {
    pub(super) fn parse(body: &Map<String, Value>, now: DateTime<Utc>) -> ApiResult<Self> {
        let mut patch = KeyPatch {
            key_alias: opt_string(body, "key_alias")?,
            max_budget: check_budget("max_budget", opt_f64(body, "max_budget", true)?)?,
            soft_budget: check_budget("soft_budget", opt_f64(body, "soft_budget", true)?)?,
            budget_duration: opt_string(body, "budget_duration")?,
            duration: opt_string(body, "duration")?,
            spend: opt_f64(body, "spend", false)?,
            metadata: opt_object(body, "metadata")?,
            models: opt_list(body, "models")?,
            blocked: opt_bool(body, "blocked")?,
            tpm_limit: check_limit("tpm_limit", opt_i64(body, "tpm_limit")?)?,
            rpm_limit: check_limit("rpm_limit", opt_i64(body, "rpm_limit")?)?,
            tpd_limit: check_limit("tpd_limit", opt_i64(body, "tpd_limit")?)?,
            max_parallel_requests: opt_i64(body, "max_parallel_requests")?,
            user_id: opt_string(body, "user_id")?,
            team_id: opt_string(body, "team_id")?,
            organization_id: opt_string(body, "organization_id")?,
            project_id: opt_string(body, "project_id")?,
            agent_id: opt_string(body, "agent_id")?,
            budget_id: opt_string(body, "budget_id")?,
            key_type: opt_string(body, "key_type")?,
            temp_budget_increase: opt_f64(body, "temp_budget_increase", false)?,
            temp_budget_expiry: opt_datetime(body, "temp_budget_expiry")?,
            ..KeyPatch::default()
        };
        if let Some(Some(spend)) = patch.spend
            && !spend.is_finite()
        {
            return Err(ApiError::bad_request(
                format!("spend must be a finite number, got {}", py_float(spend)),
                Some("spend"),
            ));
        }
        if let Some(Some(kind)) = &patch.key_type
            && !["llm_api", "management", "read_only", "default"].contains(&kind.as_str())
        {
            return Err(ApiError::validation(
                &["body", "key_type"],
                "enum",
                "Input should be 'llm_api', 'management', 'read_only' or 'default'",
                json!(kind),
            ));
        }
        if let Some(Some(duration)) = &patch.budget_duration {
            periods::validate_budget_duration(duration, now)
                .map_err(|message| ApiError::http_exception(StatusCode::BAD_REQUEST, &message))?;
        }
        if let Some(Some(duration)) = &patch.duration
            && duration != "-1"
            && expiry_from(duration, now).is_none()
        {
            return Err(ApiError::proxy(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Internal Server Error, Invalid duration format: {duration}"),
                "internal_server_error",
                Some("None"),
            ));
        }
        let increase = matches!(patch.temp_budget_increase, Some(Some(_)));
        let expiry = matches!(patch.temp_budget_expiry, Some(Some(_)));
        if increase != expiry {
            return Err(ApiError::validation(
                &["body"],
                "value_error",
                "Value error, temp_budget_increase and temp_budget_expiry must be set together",
                Value::Object(body.clone()),
            ));
        }
        if let Some(Some(tags)) = opt_list(body, "tags")?
            && !tags.is_empty()
        {
            return Err(ApiError::http_exception(
                StatusCode::FORBIDDEN,
                "Only premium users can add tags to keys. You must be a LiteLLM Enterprise user to use this feature.",
            ));
        }
        if let Some(Some(budgets)) = opt_object(body, "model_max_budget")?
            && !budgets.is_empty()
        {
            return Err(ApiError::http_exception(
                StatusCode::FORBIDDEN,
                "You must have an enterprise license to set model_max_budget",
            ));
        }
        for name in STORED_COLUMNS {
            if let Some(value) = body.get(*name) {
                patch.stored.push(((*name).to_string(), value.clone()));
            }
        }
        for name in METADATA_FIELDS {
            if let Some(value) = body.get(*name).filter(|v| !v.is_null()) {
                patch
                    .metadata_fields
                    .push(((*name).to_string(), value.clone()));
            }
        }
        Ok(patch)
    }

    /// Writes the patch into `record` (only the fields that were sent).
    pub(super) fn apply(self, record: &mut KeyRecord, now: DateTime<Utc>) {
        fn set<T>(slot: &mut Option<T>, patch: Patch<T>) {
            if let Some(value) = patch {
                *slot = value;
            }
        }
        set(&mut record.key_alias, self.key_alias);
        set(&mut record.max_budget, self.max_budget);
        set(&mut record.blocked, self.blocked);
        set(&mut record.tpm_limit, self.tpm_limit);
        set(&mut record.rpm_limit, self.rpm_limit);
        set(&mut record.tpd_limit, self.tpd_limit);
        set(
            &mut record.max_parallel_requests,
            self.max_parallel_requests,
        );
        set(&mut record.user_id, self.user_id);
        set(&mut record.team_id, self.team_id);
        set(&mut record.organization_id, self.organization_id);
        set(&mut record.project_id, self.project_id);
        set(&mut record.agent_id, self.agent_id);
        set(&mut record.budget_id, self.budget_id);
        if let Some(Some(spend)) = self.spend {
            record.spend = spend;
        }
        if let Some(kind) = self.key_type {
            record.key_type = kind.unwrap_or_else(|| "default".into());
        }
        if let Some(models) = self.models {
            record.models = models.unwrap_or_default();
        }
        if let Some(metadata) = self.metadata {
            record.metadata = metadata.unwrap_or_default();
        }
        for (name, value) in self.metadata_fields {
            record.metadata.insert(name, value);
        }
        for (name, value) in self.stored {
            if value.is_null() {
                record.other.remove(&name);
            } else {
                record.other.insert(name, value);
            }
        }
        match self.budget_duration {
            Some(Some(duration)) => {
                record.budget_reset_at = Some(periods::next_reset(&duration, now));
                record.budget_duration = Some(duration);
            }
            Some(None) => {
                record.budget_duration = None;
                record.budget_reset_at = None;
            }
            None => {}
        }
        match self.duration {
            Some(Some(duration)) if duration != "-1" => {
                record.expires = expiry_from(&duration, now)
            }
            Some(_) => record.expires = None,
            None => {}
        }
        let touches_budget_row =
            self.soft_budget.is_some() || matches!(self.temp_budget_increase, Some(Some(_)));
        if touches_budget_row {
            let has_row = record.budget.is_some();
            let wants_row = has_row
                || matches!(self.soft_budget, Some(Some(_)))
                || matches!(self.temp_budget_increase, Some(Some(_)));
            if wants_row {
                let row = record.budget.get_or_insert_with(|| BudgetRow::new(now));
                if let Some(soft) = self.soft_budget {
                    row.soft_budget = soft;
                }
                if let Some(Some(increase)) = self.temp_budget_increase {
                    row.temp_budget_increase = Some(increase);
                    row.temp_budget_expiry = self.temp_budget_expiry.flatten();
                }
                row.updated_at = now;
                record.budget_id = Some(row.budget_id.clone());
            }
        }
        record.updated_at = now;
        // LiteLLM drops the key's cached auth object after an edit.
        record.auth_cache = None;
    }
}

/// `expires = now + duration_in_seconds(duration)`, not snapped.
pub(super) fn expiry_from(duration: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let period = periods::parse(duration)?;
    let seconds = periods::duration_in_seconds(period, now)?;
    now.checked_add_signed(Duration::try_seconds(seconds)?)
}
