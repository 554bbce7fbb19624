//! `/key/regenerate` (an enterprise feature), `/key/{key}/regenerate` and
//! `/key/{key}/reset_spend`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::generate::generate_response;
use super::patch::KeyPatch;
use super::{duplicate_alias, key_not_found_in_db};
use crate::auth::require_admin;
use crate::error::{ApiError, ApiResult};
use crate::request::{body_object, opt_f64, opt_string};
use crate::sim::Sim;
use crate::util::{abbreviate, hash_token, py_float};

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
        record.token = token.clone();
        record.key_name = abbreviate(&raw_key);
        record.updated_at = now;
        let response = generate_response(&record, &raw_key);
        db.keys.insert(record);
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
        let mut record = db.keys.get_mut(&token).ok_or_else(key_not_found_in_db)?;
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
