//! The `/key/*` admin endpoints: generate, update, info, list, delete, block, unblock,
//! regenerate and reset_spend, with LiteLLM's field semantics (merge-patch updates, `budget_duration`
//! recomputing `budget_reset_at` on every update that carries it, soft budgets in a joined
//! budget row, deleted keys kept in an archive).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use crate::auth::{Caller, require_admin};
use crate::error::{ApiError, ApiResult};
use crate::periods;
use crate::request::{
    Patch, body_object, opt_bool, opt_datetime, opt_f64, opt_i64, opt_list, opt_object, opt_string,
    opt_string_list, query_bool, query_int,
};
use crate::store::{ADMIN_USER_ID, BudgetRow, DeletedKey, KeyRecord, KeyStatus, Sim};
use crate::util::{abbreviate, fmt_ts, hash_if_needed, hash_token, py_float};

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
struct KeyPatch {
    key_alias: Patch<String>,
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
    fn parse(body: &Map<String, Value>, now: DateTime<Utc>) -> ApiResult<Self> {
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
    fn apply(self, record: &mut KeyRecord, now: DateTime<Utc>) {
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
fn expiry_from(duration: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let period = periods::parse(duration)?;
    let seconds = periods::duration_in_seconds(period, now)?;
    now.checked_add_signed(Duration::try_seconds(seconds)?)
}

fn duplicate_alias(alias: &str) -> ApiError {
    ApiError::bad_request(
        format!(
            "Key with alias '{alias}' already exists. Unique key aliases across all keys are required."
        ),
        Some("key_alias"),
    )
}

fn key_not_found_in_db() -> ApiError {
    ApiError::not_found("Key not found in database", Some("key"))
}

/// `GenerateKeyResponse.router_settings` when none were sent: every router setting null.
fn default_router_settings() -> Value {
    json!({
        "routing_strategy_args": null, "routing_strategy": null, "routing_groups": null,
        "retry_policy": null, "model_group_retry_policy": null,
        "model_group_affinity_config": null, "allowed_fails": null, "cooldown_time": null,
        "num_retries": null, "timeout": null, "max_retries": null, "retry_after": null,
        "fallbacks": null, "context_window_fallbacks": null, "model_group_alias": {},
        "enable_tag_filtering": null, "weights": null, "tag_routing_prefix": null,
        "optional_pre_call_checks": null, "fallback_on_unsupported_params": null,
    })
}

/// The `GenerateKeyResponse` fields for a new key, in LiteLLM 1.108.7's order. `duration` is
/// always null (LiteLLM consumes it into `expires`); `litellm_budget_table` is the budget row
/// created for a soft budget.
fn generate_response(record: &KeyRecord, raw_key: &str) -> Value {
    let ts = |t: Option<DateTime<Utc>>| t.map(fmt_ts);
    let meta = |name: &str| record.metadata.get(name).cloned().unwrap_or(Value::Null);
    let stored = |name: &str, default: Value| record.other.get(name).cloned().unwrap_or(default);
    json!({
        "key_alias": record.key_alias,
        "duration": null,
        "models": record.models,
        "spend": record.spend,
        "max_budget": record.max_budget,
        "user_id": record.user_id,
        "team_id": record.team_id,
        "agent_id": record.agent_id,
        "max_parallel_requests": record.max_parallel_requests,
        "metadata": record.metadata,
        "tpm_limit": record.tpm_limit,
        "rpm_limit": record.rpm_limit,
        "budget_duration": record.budget_duration,
        "budget_limits": stored("budget_limits", Value::Null),
        "allowed_cache_controls": stored("allowed_cache_controls", json!([])),
        "config": stored("config", json!({})),
        "permissions": stored("permissions", json!({})),
        "model_max_budget": {},
        "budget_fallbacks": stored("budget_fallbacks", json!({})),
        "model_rpm_limit": meta("model_rpm_limit"),
        "model_tpm_limit": meta("model_tpm_limit"),
        "mcp_rpm_limit": meta("mcp_rpm_limit"),
        "tag_rpm_limit": meta("tag_rpm_limit"),
        "guardrails": meta("guardrails"),
        "policies": stored("policies", Value::Null),
        "prompts": meta("prompts"),
        "blocked": record.blocked,
        "aliases": stored("aliases", json!({})),
        "object_permission": null,
        "key": raw_key,
        "tpd_limit": record.tpd_limit,
        "default_estimated_output_tokens": null,
        "default_estimated_output_tokens_per_model": null,
        "budget_id": record.budget_id,
        "end_user_budget_id": null,
        "tags": null,
        "disable_global_guardrails": meta("disable_global_guardrails"),
        "enable_prompt_caching": null,
        "throttle_on_budget_exceeded": null,
        "enforced_params": meta("enforced_params"),
        "allowed_routes": stored("allowed_routes", json!([])),
        "allowed_passthrough_routes": meta("allowed_passthrough_routes"),
        "denied_passthrough_routes": meta("denied_passthrough_routes"),
        "allowed_vector_store_indexes": null,
        "rpm_limit_type": meta("rpm_limit_type"),
        "tpm_limit_type": meta("tpm_limit_type"),
        "router_settings": stored("router_settings", default_router_settings()),
        "access_group_ids": stored("access_group_ids", json!([])),
        "key_name": record.key_name,
        "key_type": record.key_type,
        "expires": ts(record.expires),
        "token_id": record.token,
        "organization_id": record.organization_id,
        "project_id": record.project_id,
        "litellm_budget_table": record.budget.as_ref().map(BudgetRow::to_json),
        "token": record.token,
        "created_by": ADMIN_USER_ID,
        "updated_by": ADMIN_USER_ID,
        "created_at": fmt_ts(record.created_at),
        "updated_at": fmt_ts(record.updated_at),
    })
}

/// POST /key/generate
pub(crate) async fn generate(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = body_object(&body)?;
    sim.with_state(|db, now| {
        require_admin(&headers, &sim.master_key, db, now, "/key/generate")?;
        let patch = KeyPatch::parse(&body, now)?;
        let raw_key = match opt_string(&body, "key")? {
            Some(Some(key)) => {
                if !key.starts_with("sk-") {
                    return Err(ApiError::bad_request(
                        format!("Invalid key format. LiteLLM Virtual Key must start with 'sk-'. Received: {}", abbreviate(&key)),
                        Some("key"),
                    ));
                }
                key
            }
            _ => crate::util::generate_raw_key(),
        };
        if let Some(Some(alias)) = &patch.key_alias
            && !db.tokens_with_alias(alias).is_empty() {
                return Err(duplicate_alias(alias));
            }
        let token = hash_token(&raw_key);
        if db.keys.contains_key(&token) {
            return Err(ApiError::bad_request("Key with this value already exists.", Some("key")));
        }
        let seq = db.next_seq();
        let mut record = KeyRecord::new(token.clone(), abbreviate(&raw_key), now, seq);
        patch.apply(&mut record, now);
        db.note_reset_at(record.budget_reset_at);
        let response = generate_response(&record, &raw_key);
        db.deleted.remove(&token);
        db.keys.insert(token, record);
        Ok(Json(response))
    })
}

/// POST /key/update
pub(crate) async fn update(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = body_object(&body)?;
    let sent_key = opt_string(&body, "key")?.flatten();
    let sent_alias = opt_string(&body, "key_alias")?.flatten();
    if sent_key.is_none() && sent_alias.is_none() {
        // `UpdateKeyRequest`'s model validator.
        return Err(ApiError::validation(
            &["body"],
            "value_error",
            "Value error, either key or key_alias must be provided",
            Value::Object(body),
        ));
    }
    sim.with_state(|db, now| {
        require_admin(&headers, &sim.master_key, db, now, "/key/update")?;
        let (token, echo) = match (&sent_key, &sent_alias) {
            (Some(key), _) => {
                let token = db.live_token(key).ok_or_else(|| ApiError::not_found("Key not found.", Some("key")))?;
                (token, key.clone())
            }
            (None, Some(alias)) => {
                let tokens = db.tokens_with_alias(alias);
                match tokens.as_slice() {
                    [] => {
                        return Err(ApiError::not_found(
                            format!("Key not found. No key with key_alias='{alias}'."),
                            Some("key_alias"),
                        ));
                    }
                    [token] => (token.clone(), token.clone()),
                    _ => {
                        return Err(ApiError::bad_request(
                            format!("Multiple keys share key_alias='{alias}', so it cannot be used as an identifier."),
                            Some("key_alias"),
                        ));
                    }
                }
            }
            (None, None) => {
                return Err(ApiError::bad_request("either key or key_alias must be provided", Some("key")));
            }
        };
        update_key(db, &body, token, echo, now)
    })
    .map_err(ApiError::in_update)
}

/// The update itself, once the key is found; `HTTPException`s from here are re-raised by
/// `update_key_fn` as `auth_error` ([`ApiError::in_update`]).
fn update_key(
    db: &mut crate::store::State,
    body: &Map<String, Value>,
    token: String,
    echo: String,
    now: DateTime<Utc>,
) -> ApiResult<Json<Value>> {
    {
        let patch = KeyPatch::parse(body, now)?;
        if let Some(Some(alias)) = &patch.key_alias
            && db.tokens_with_alias(alias).iter().any(|t| *t != token)
        {
            return Err(duplicate_alias(alias));
        }
        let record = db
            .keys
            .get_mut(&token)
            .ok_or_else(|| ApiError::not_found("Key not found.", Some("key")))?;
        patch.apply(record, now);
        let reset_at = record.budget_reset_at;
        let mut response = Map::new();
        response.insert("key".into(), Value::String(echo));
        response.extend(record.updated_row_json());
        db.note_reset_at(reset_at);
        Ok(Json(Value::Object(response)))
    }
}

/// GET /key/info?key=
pub(crate) async fn info(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    sim.with_state(|db, now| {
        let caller = require_admin(&headers, &sim.master_key, db, now, "/key/info")?;
        let key = match (query.get("key"), &caller) {
            (Some(key), _) => key.clone(),
            (None, Caller::Master) => return Err(key_not_found_in_db()),
            (None, Caller::Virtual(own)) => own.clone(),
        };
        let token = hash_if_needed(&key);
        let (info, owner) = if let Some(record) = db.keys.get(&token) {
            (record.info_json(now), record.user_id.clone())
        } else if let Some(deleted) = db.deleted.get(&token) {
            (deleted.info_json(), deleted.record.user_id.clone())
        } else {
            return Err(key_not_found_in_db());
        };
        // `_can_user_query_key_info`: an admin, the key itself, or a key of the same user; keys
        // without a user all share `user_id` None, so they may read each other's info.
        if let Caller::Virtual(own) = &caller {
            let caller_user = db.keys.get(own).and_then(|k| k.user_id.clone());
            if *own != token && caller_user != owner {
                return Err(ApiError::http_exception_text(
                    StatusCode::FORBIDDEN,
                    "You are not allowed to access this key's info. Your role=None",
                ));
            }
        }
        Ok(Json(json!({"key": key, "info": info})))
    })
}

/// GET /key/list
pub(crate) async fn list(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let page = query_int(query.get("page"), "page", 1)?;
    let size = query_int(query.get("size"), "size", 10)?;
    if page < 1 {
        return Err(ApiError::validation(
            &["query", "page"],
            "greater_than_equal",
            "Input should be greater than or equal to 1",
            json!(page),
        ));
    }
    if !(1..=100).contains(&size) {
        let (kind, msg) = if size < 1 {
            (
                "greater_than_equal",
                "Input should be greater than or equal to 1",
            )
        } else {
            (
                "less_than_equal",
                "Input should be less than or equal to 100",
            )
        };
        return Err(ApiError::validation(
            &["query", "size"],
            kind,
            msg,
            json!(size),
        ));
    }
    let full = query_bool(query.get("return_full_object"), "return_full_object")?;
    let substring = query_bool(query.get("substring_matching"), "substring_matching")?;
    let status = query.get("status").map(String::as_str);
    if let Some(s) = status
        && !["active", "expired", "revoked", "deleted"].contains(&s)
    {
        return Err(ApiError::bad_request(
            format!("Invalid status '{s}'. Must be one of: active, expired, revoked, deleted"),
            Some("status"),
        ));
    }
    let expires = query.get("expires").map(String::as_str);
    if let Some(e) = expires
        && !["active", "expired"].contains(&e)
    {
        return Err(ApiError::bad_request(
            format!("Invalid expires '{e}'. Must be one of: active, expired"),
            Some("expires"),
        ));
    }
    sim.with_state(|db, now| {
        require_admin(&headers, &sim.master_key, db, now, "/key/list")?;
        let mut rows: Vec<(KeyRecord, KeyStatus, Map<String, Value>)> = if status == Some("deleted") {
            db.deleted
                .values()
                .map(|d| {
                    let mut row = d.info_json();
                    row.insert("token".into(), json!(d.record.token));
                    (d.record.clone(), KeyStatus::Deleted, row)
                })
                .collect()
        } else {
            db.keys.values().map(|k| (k.clone(), k.status(now), k.listed_json())).collect()
        };
        let eq = |field: &Option<String>, name: &str| query.get(name).is_none_or(|want| field.as_deref() == Some(want.as_str()));
        rows.retain(|(k, st, _)| {
            let alias_ok = match query.get("key_alias") {
                None => true,
                Some(want) if substring => k.key_alias.as_deref().is_some_and(|a| a.contains(want.as_str())),
                Some(want) => k.key_alias.as_deref() == Some(want.as_str()),
            };
            let search_ok = query.get("search").is_none_or(|s| {
                k.key_alias.as_deref().is_some_and(|a| a.contains(s.as_str())) || k.token.starts_with(s.as_str())
            });
            let hash_ok = query.get("key_hash").is_none_or(|h| hash_if_needed(h) == k.token);
            let status_ok = match status {
                None | Some("deleted") => true,
                Some(s) => st.as_str() == s,
            };
            let expires_ok = match expires {
                Some("expired") => k.is_expired(now),
                Some(_) => !k.is_expired(now),
                None => true,
            };
            alias_ok
                && search_ok
                && hash_ok
                && status_ok
                && expires_ok
                && eq(&k.user_id, "user_id")
                && eq(&k.team_id, "team_id")
                && eq(&k.organization_id, "organization_id")
                && eq(&k.project_id, "project_id")
                && eq(&k.agent_id, "agent_id")
        });
        sort_rows(&mut rows, query.get("sort_by").map(String::as_str), query.get("sort_order").map(String::as_str));
        let total = rows.len() as i64;
        let total_pages = (total + size - 1) / size;
        let keys: Vec<Value> = rows
            .into_iter()
            .skip(((page - 1) * size) as usize)
            .take(size as usize)
            .map(|(k, _, row)| if full { Value::Object(row) } else { Value::String(k.token) })
            .collect();
        Ok(Json(json!({"keys": keys, "total_count": total, "current_page": page, "total_pages": total_pages})))
    })
}

fn sort_rows(
    rows: &mut [(KeyRecord, KeyStatus, Map<String, Value>)],
    sort_by: Option<&str>,
    order: Option<&str>,
) {
    let descending = !matches!(order, Some(o) if o.eq_ignore_ascii_case("asc"));
    let by = sort_by.unwrap_or("created_at");
    rows.sort_by(|(a, _, _), (b, _, _)| {
        let ord = match by {
            "spend" => a.spend.total_cmp(&b.spend),
            "max_budget" => a
                .max_budget
                .unwrap_or(f64::MIN)
                .total_cmp(&b.max_budget.unwrap_or(f64::MIN)),
            "budget_reset_at" => a.budget_reset_at.cmp(&b.budget_reset_at),
            "key_alias" => a.key_alias.cmp(&b.key_alias),
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            "expires" => a.expires.cmp(&b.expires),
            _ => a.created_at.cmp(&b.created_at),
        }
        .then(a.seq.cmp(&b.seq));
        if descending { ord.reverse() } else { ord }
    });
}

/// POST /key/delete
pub(crate) async fn delete(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = body_object(&body)?;
    sim.with_state(|db, now| {
        require_admin(&headers, &sim.master_key, db, now, "/key/delete")?;
        let keys = opt_string_list(&body, "keys")?.flatten().unwrap_or_default();
        let aliases = opt_string_list(&body, "key_aliases")?.flatten().unwrap_or_default();
        if keys.is_empty() && aliases.is_empty() {
            return Err(ApiError::validation(
                &["body"],
                "value_error",
                "Value error, At least one of 'keys' or 'key_aliases' must be provided.",
                Value::Object(body.clone()),
            ));
        }
        let (echo, mut tokens): (Vec<String>, Vec<String>) = if keys.is_empty() {
            let tokens = aliases.iter().flat_map(|a| db.tokens_with_alias(a)).collect();
            (aliases.clone(), tokens)
        } else {
            (keys.clone(), keys.iter().filter_map(|k| db.live_token(k)).collect())
        };
        tokens.dedup();
        if tokens.is_empty() {
            return Err(ApiError::http_exception(StatusCode::NOT_FOUND, "No keys found"));
        }
        for token in &tokens {
            if let Some(record) = db.keys.remove(token) {
                db.deleted.insert(
                    token.clone(),
                    DeletedKey {
                        record,
                        id: uuid::Uuid::new_v4().to_string(),
                        deleted_at: now,
                        deleted_by: ADMIN_USER_ID.to_string(),
                    },
                );
            }
        }
        if tokens.len() < echo.len() {
            return Err(ApiError::bad_request(
                format!(
                    "Not all keys passed in were deleted. This probably means you don't have access to delete all the keys passed in. Keys passed in: {}, Deleted keys: {}",
                    echo.len(),
                    tokens.len()
                ),
                Some("keys"),
            ));
        }
        Ok(Json(json!({"deleted_keys": echo})))
    })
}

fn block_body_key(body: &Bytes) -> ApiResult<String> {
    let body = body_object(body)?;
    match opt_string(&body, "key")? {
        Some(Some(key)) => Ok(key),
        _ => Err(ApiError::validation(
            &["body", "key"],
            "missing",
            "Field required",
            Value::Object(body),
        )),
    }
}

fn set_blocked(
    sim: &Sim,
    headers: &HeaderMap,
    body: &Bytes,
    route: &str,
    blocked: bool,
) -> ApiResult<Json<Value>> {
    let key = block_body_key(body)?;
    sim.with_state(|db, now| {
        require_admin(headers, &sim.master_key, db, now, route)?;
        let token = db
            .live_token(&key)
            .ok_or_else(|| ApiError::not_found("Key not found.", Some("key")))?;
        let record = db
            .keys
            .get_mut(&token)
            .ok_or_else(|| ApiError::not_found("Key not found.", Some("key")))?;
        record.blocked = Some(blocked);
        record.updated_at = now;
        record.auth_cache = None;
        // LiteLLM answers /key/block with its pydantic token model, /key/unblock with the
        // updated table row; neither joins the budget row.
        let row = if blocked {
            record.token_model_json(false)
        } else {
            record.updated_row_json()
        };
        Ok(Json(Value::Object(row)))
    })
}

/// POST /key/block
pub(crate) async fn block(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    set_blocked(&sim, &headers, &body, "/key/block", true)
}

/// POST /key/unblock
pub(crate) async fn unblock(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    set_blocked(&sim, &headers, &body, "/key/unblock", false)
}

/// What LiteLLM answers to `/key/regenerate` without an enterprise licence.
const REGENERATE_IS_ENTERPRISE: &str = "Regenerating Virtual Keys is an Enterprise feature, \
You must be a LiteLLM Enterprise user to use this feature. If you have a license please set \
`LITELLM_LICENSE` in your env. Get a 7 day trial key here: https://www.litellm.ai/enterprise#trial. \
\nPricing: https://www.litellm.ai/#pricing";

/// POST /key/regenerate `{"key": <raw or hash>, ...}`: an enterprise feature. Like a proxy
/// without a licence, the sim answers 500 `internal_server_error` (whatever the key) unless
/// [`crate::SimControl::set_enterprise`] turned the licence on. Then the key's value is replaced
/// in place, keeping its spend, limits and budget row, with any other fields sent applied like
/// `/key/update`; the old value is gone (404) and the answer is a `GenerateKeyResponse` with
/// the new raw `key`.
pub(crate) async fn regenerate(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    regenerate_key(&sim, &headers, None, &body)
}

/// POST /key/{key}/regenerate (body optional): [`regenerate`] with the key in the path.
pub(crate) async fn regenerate_by_path(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    regenerate_key(&sim, &headers, Some(key), &body)
}

fn regenerate_key(
    sim: &Sim,
    headers: &HeaderMap,
    path_key: Option<String>,
    body: &Bytes,
) -> ApiResult<Json<Value>> {
    let body = if path_key.is_some() && body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        body_object(body)?
    };
    sim.with_state(|db, now| {
        require_admin(headers, &sim.master_key, db, now, "/key/regenerate")?;
        if !db.enterprise {
            return Err(ApiError::proxy(
                StatusCode::INTERNAL_SERVER_ERROR,
                REGENERATE_IS_ENTERPRISE,
                "internal_server_error",
                None,
            ));
        }
        let key = match path_key {
            Some(key) => key,
            None => opt_string(&body, "key")?
                .flatten()
                .ok_or_else(|| ApiError::bad_request("key is required", Some("key")))?,
        };
        let old = db
            .live_token(&key)
            .ok_or_else(|| ApiError::not_found("Key not found.", Some("key")))?;
        let mut fields = body.clone();
        fields.remove("key");
        let patch = KeyPatch::parse(&fields, now)?;
        if let Some(Some(alias)) = &patch.key_alias
            && db.tokens_with_alias(alias).iter().any(|t| *t != old)
        {
            return Err(duplicate_alias(alias));
        }
        let raw_key = crate::util::generate_raw_key();
        let token = hash_token(&raw_key);
        let mut record = db
            .keys
            .remove(&old)
            .ok_or_else(|| ApiError::not_found("Key not found.", Some("key")))?;
        patch.apply(&mut record, now);
        db.note_reset_at(record.budget_reset_at);
        record.token = token.clone();
        record.key_name = abbreviate(&raw_key);
        record.updated_at = now;
        let response = generate_response(&record, &raw_key);
        db.keys.insert(token, record);
        Ok(Json(response))
    })
}

/// POST /key/{key}/reset_spend {"reset_to": float}
pub(crate) async fn reset_spend(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = body_object(&body)?;
    let reset_to = match opt_f64(&body, "reset_to", false)? {
        Some(Some(v)) => v,
        _ => {
            return Err(ApiError::validation(
                &["body", "reset_to"],
                "missing",
                "Field required",
                Value::Object(body),
            ));
        }
    };
    sim.with_state(|db, now| {
        require_admin(&headers, &sim.master_key, db, now, "/key/reset_spend")?;
        let token = db.live_token(&key).ok_or_else(key_not_found_in_db)?;
        let record = db.keys.get_mut(&token).ok_or_else(key_not_found_in_db)?;
        if !reset_to.is_finite() || reset_to < 0.0 {
            return Err(ApiError::bad_request(
                "reset_to must be a non-negative finite number",
                Some("reset_to"),
            ));
        }
        if reset_to > record.spend {
            return Err(ApiError::bad_request(
                format!(
                    "reset_to ({}) must be <= current spend ({})",
                    py_float(reset_to),
                    py_float(record.spend)
                ),
                Some("reset_to"),
            ));
        }
        if let Some(max) = record.max_budget
            && reset_to > max
        {
            return Err(ApiError::bad_request(
                format!(
                    "reset_to ({}) must be <= max_budget ({})",
                    py_float(reset_to),
                    py_float(max)
                ),
                Some("reset_to"),
            ));
        }
        let previous = record.spend;
        record.spend = reset_to;
        record.auth_cache = None;
        record.updated_at = now;
        let mut response = Map::new();
        response.insert("key".into(), Value::String(key.clone()));
        response.insert("previous_spend".into(), json!(previous));
        response.extend(record.row_json());
        Ok(Json(Value::Object(response)))
    })
}
