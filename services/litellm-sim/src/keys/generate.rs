//! `/key/generate` and `/key/update`, and the `GenerateKeyResponse` a new key is answered with.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::duplicate_alias;
use super::patch::KeyPatch;
use crate::auth::require_admin;
use crate::error::{ApiError, ApiResult};
use crate::records::{ADMIN_USER_ID, BudgetRow, KeyRecord};
use crate::request::{body_object, opt_string};
use crate::sim::Sim;
use crate::util::{abbreviate, fmt_ts, hash_token};

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
pub(super) fn generate_response(record: &KeyRecord, raw_key: &str) -> Value {
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
        let response = generate_response(&record, &raw_key);
        db.deleted.remove(&token);
        db.keys.insert(record);
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
        let mut record = db
            .keys
            .get_mut(&token)
            .ok_or_else(|| ApiError::not_found("Key not found.", Some("key")))?;
        patch.apply(&mut record, now);
        let mut response = Map::new();
        response.insert("key".into(), Value::String(echo));
        response.extend(record.updated_row_json());
        Ok(Json(Value::Object(response)))
    }
}
