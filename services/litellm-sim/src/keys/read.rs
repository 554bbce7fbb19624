//! `/key/info` and `/key/list`.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::key_not_found_in_db;
use crate::auth::{Caller, require_admin};
use crate::error::{ApiError, ApiResult};
use crate::key_table::{CreationOrder, KeyTable};
use crate::records::{DeletedKey, KeyRecord, KeyStatus};
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
    let filters = ListFilters {
        query: &query,
        substring,
        status,
        expires,
    };
    let order = ListOrder::of(
        query.get("sort_by").map(String::as_str),
        query.get("sort_order").map(String::as_str),
    );
    let offset = usize::try_from((page - 1).saturating_mul(size)).unwrap_or(usize::MAX);
    let size = usize::try_from(size).unwrap_or(0);
    sim.with_state(|db, now| {
        require_admin(&headers, &sim.master_key, db, now, "/key/list")?;
        let (total, keys): (usize, Vec<Value>) = if status == Some("deleted") {
            let mut found: Vec<&DeletedKey> = db
                .deleted
                .values()
                .filter(|d| filters.keep(&d.record, KeyStatus::Deleted, now))
                .collect();
            found.sort_by(|a, b| order.compare(&a.record, &b.record));
            let total = found.len();
            let keys = found
                .into_iter()
                .skip(offset)
                .take(size)
                .map(|d| {
                    if full {
                        let mut row = d.info_json();
                        row.insert("token".into(), json!(d.record.token));
                        Value::Object(row)
                    } else {
                        Value::String(d.record.token.clone())
                    }
                })
                .collect();
            (total, keys)
        } else {
            let (total, page) = live_page(&db.keys, &filters, order, offset, size, now);
            let keys = page
                .into_iter()
                .map(|k| if full { Value::Object(k.listed_json()) } else { Value::String(k.token.clone()) })
                .collect();
            (total, keys)
        };
        let total = i64::try_from(total).unwrap_or(i64::MAX);
        let size = i64::try_from(size).unwrap_or(1).max(1);
        let total_pages = (total + size - 1) / size;
        Ok(Json(json!({"keys": keys, "total_count": total, "current_page": page, "total_pages": total_pages})))
    })
}

/// `/key/list`'s filters.
struct ListFilters<'a> {
    query: &'a HashMap<String, String>,
    substring: bool,
    status: Option<&'a str>,
    expires: Option<&'a str>,
}

/// The query parameters that narrow the listing (besides `key_alias` and `key_hash`, which
/// the indexes serve).
const NARROWING: &[&str] = &[
    "search",
    "user_id",
    "team_id",
    "organization_id",
    "project_id",
    "agent_id",
];

impl ListFilters<'_> {
    fn filters_nothing(&self) -> bool {
        self.status.is_none()
            && self.expires.is_none()
            && !self.query.contains_key("key_alias")
            && !self.query.contains_key("key_hash")
            && !NARROWING.iter().any(|name| self.query.contains_key(*name))
    }

    fn keep(&self, k: &KeyRecord, status: KeyStatus, now: DateTime<Utc>) -> bool {
        let query = self.query;
        let eq = |field: &Option<String>, name: &str| {
            query
                .get(name)
                .is_none_or(|want| field.as_deref() == Some(want.as_str()))
        };
        let alias_ok = match query.get("key_alias") {
            None => true,
            Some(want) if self.substring => k
                .key_alias
                .as_deref()
                .is_some_and(|a| a.contains(want.as_str())),
            Some(want) => k.key_alias.as_deref() == Some(want.as_str()),
        };
        let search_ok = query.get("search").is_none_or(|s| {
            k.key_alias
                .as_deref()
                .is_some_and(|a| a.contains(s.as_str()))
                || k.token.starts_with(s.as_str())
        });
        let hash_ok = query
            .get("key_hash")
            .is_none_or(|h| hash_if_needed(h) == k.token);
        let status_ok = match self.status {
            None | Some("deleted") => true,
            Some(s) => status.as_str() == s,
        };
        let expires_ok = match self.expires {
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
    }
}

/// The matching live keys' count and the requested page of them. Without filters, in the
/// default order, the page is read straight from the creation index; an exact `key_alias` or
/// a `key_hash` starts from the one key it names; other filters and orders read every key.
fn live_page<'a>(
    keys: &'a KeyTable,
    filters: &ListFilters<'_>,
    order: ListOrder<'_>,
    offset: usize,
    size: usize,
    now: DateTime<Utc>,
) -> (usize, Vec<&'a KeyRecord>) {
    if let (true, Some(creation)) = (filters.filters_nothing(), order.by_creation()) {
        return (keys.len(), keys.page(creation, offset, size));
    }
    let query = filters.query;
    let candidates: Vec<&KeyRecord> = match (query.get("key_hash"), query.get("key_alias")) {
        (Some(hash), _) => keys.get(&hash_if_needed(hash)).into_iter().collect(),
        (None, Some(alias)) if !filters.substring => keys
            .tokens_with_alias(alias)
            .iter()
            .filter_map(|token| keys.get(token))
            .collect(),
        _ => keys.values().collect(),
    };
    let mut found: Vec<&KeyRecord> = candidates
        .into_iter()
        .filter(|k| filters.keep(k, k.status(now), now))
        .collect();
    found.sort_by(|a, b| order.compare(a, b));
    let total = found.len();
    (total, found.into_iter().skip(offset).take(size).collect())
}

/// `sort_by` and `sort_order` (descending unless `asc`).
#[derive(Clone, Copy)]
struct ListOrder<'a> {
    by: &'a str,
    descending: bool,
}

impl<'a> ListOrder<'a> {
    fn of(sort_by: Option<&'a str>, order: Option<&str>) -> ListOrder<'a> {
        ListOrder {
            by: sort_by.unwrap_or("created_at"),
            descending: !matches!(order, Some(o) if o.eq_ignore_ascii_case("asc")),
        }
    }

    /// The creation order, when that is what is asked for (an unknown `sort_by` included).
    fn by_creation(self) -> Option<CreationOrder> {
        let other = [
            "spend",
            "max_budget",
            "budget_reset_at",
            "key_alias",
            "updated_at",
            "expires",
        ];
        (!other.contains(&self.by)).then_some(if self.descending {
            CreationOrder::NewestFirst
        } else {
            CreationOrder::OldestFirst
        })
    }

    fn compare(self, a: &KeyRecord, b: &KeyRecord) -> Ordering {
        let ord = match self.by {
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
        if self.descending { ord.reverse() } else { ord }
    }
}
