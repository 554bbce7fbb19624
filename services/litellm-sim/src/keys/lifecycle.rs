//! `/key/delete` (into the archive of deleted keys), `/key/block` and `/key/unblock`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::auth::require_admin;
use crate::error::{ApiError, ApiResult};
use crate::records::{ADMIN_USER_ID, DeletedKey};
use crate::request::{body_object, opt_string, opt_string_list};
use crate::sim::Sim;

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
        let mut record = db
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
