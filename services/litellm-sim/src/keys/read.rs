//! `/key/info` and `/key/list`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::key_not_found_in_db;
use crate::auth::{Caller, require_admin};
use crate::error::{ApiError, ApiResult};
use crate::records::{KeyRecord, KeyStatus};
use crate::request::{query_bool, query_int};
use crate::sim::Sim;
use crate::util::hash_if_needed;

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
