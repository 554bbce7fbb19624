//! Spend history: `GET /user/daily/activity/aggregated` and `GET /user/daily/activity`, read from
//! the daily spend table (per UTC date × key hash × model × endpoint), which budget resets never
//! touch.
//!
//! Every model is reported as LiteLLM reports a deployment `openai/<model>` serving the model
//! group `<model>`: `breakdown.models` is keyed `openai/<model>`, `model_groups` `<model>`,
//! `providers` `openai`. Requests refused before a model was resolved (no model) count under
//! the provider `unknown` only; admin-route refusals have no endpoint. `entities` is keyed by
//! the key's `user_id`, `Unassigned` without one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use crate::auth::require_admin;
use crate::error::{ApiError, ApiResult};
use crate::request::{query_bool, query_int};
use crate::sim::Sim;
use crate::store::{DayKey, DayMetrics, State as Db};

/// The provider the sim reports for every model.
const PROVIDER: &str = "openai";
/// The provider of requests refused before a model was resolved.
const UNKNOWN_PROVIDER: &str = "unknown";
/// `USAGE_TOP_API_KEYS_DEFAULT`.
const API_KEY_LIMIT: i64 = 100;

fn metrics_json(m: &DayMetrics) -> Value {
    json!({
        "spend": m.spend,
        "flat_cost": 0.0,
        "ptu_hours": 0.0,
        "prompt_tokens": m.prompt_tokens,
        "completion_tokens": m.completion_tokens,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "compression_saved_tokens": 0,
        "compression_savings_spend": 0.0,
        "prompt_caching_savings_spend": 0.0,
        "gateway_injected_caching_savings_spend": 0.0,
        "autorouter_savings_spend": 0.0,
        "total_tokens": m.prompt_tokens + m.completion_tokens,
        "successful_requests": m.successful_requests,
        "failed_requests": m.failed_requests,
        "api_requests": m.api_requests,
        "total_response_time_ms": 0,
        "timed_requests": 0,
    })
}

fn key_metadata(db: &Db, token: &str) -> Value {
    if let Some(k) = db.keys.get(token) {
        json!({"key_alias": k.key_alias, "team_id": k.team_id, "user_id": k.user_id, "user_email": null, "key_exists": true})
    } else if let Some(d) = db.deleted.get(token) {
        let k = &d.record;
        json!({"key_alias": k.key_alias, "team_id": k.team_id, "user_id": k.user_id, "user_email": null, "key_exists": false})
    } else {
        json!({"key_alias": null, "team_id": null, "user_id": null, "user_email": null, "key_exists": false})
    }
}

fn user_of(db: &Db, token: &str) -> Option<String> {
    db.keys
        .get(token)
        .map(|k| k.user_id.clone())
        .or_else(|| db.deleted.get(token).map(|d| d.record.user_id.clone()))
        .flatten()
}

/// The filters common to both routes.
struct Filter {
    start: NaiveDate,
    end: NaiveDate,
    api_key: Option<String>,
    model: Option<String>,
    user_id: Option<String>,
}

fn strict_date(text: Option<&String>) -> Option<NaiveDate> {
    let text = text?;
    if text.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// The daily-activity routes' 400, which FastAPI renders itself: `{"detail": {"error": ...}}`.
fn bad_dates(reason: &str) -> ApiError {
    ApiError::fastapi_detail(StatusCode::BAD_REQUEST, json!({ "error": reason }))
}

/// `parse_canonical_date_range`.
fn date_range(query: &HashMap<String, String>) -> ApiResult<(NaiveDate, NaiveDate)> {
    let (Some(start), Some(end)) = (query.get("start_date"), query.get("end_date")) else {
        return Err(bad_dates("Please provide start_date and end_date"));
    };
    let (Some(start), Some(end)) = (strict_date(Some(start)), strict_date(Some(end))) else {
        return Err(bad_dates(
            "start_date and end_date must be valid YYYY-MM-DD dates",
        ));
    };
    if end < start {
        return Err(bad_dates("end_date must be on or after start_date"));
    }
    Ok((start, end))
}

fn parse_filter(query: &HashMap<String, String>, now: DateTime<Utc>) -> ApiResult<Filter> {
    let (start, mut end) = date_range(query)?;
    let include_today = query_bool(
        query.get("include_current_utc_day"),
        "include_current_utc_day",
    )?;
    let timezone = match query.get("timezone") {
        Some(_) => Some(query_int(query.get("timezone"), "timezone", 0)?),
        None => None,
    };
    // `_adjust_dates_for_timezone`: only with both a timezone and include_current_utc_day, a
    // range reaching the caller's local today is extended to today's UTC bucket.
    if let (true, Some(offset)) = (include_today, timezone) {
        let caller_today = (now - Duration::minutes(offset)).date_naive();
        if end >= caller_today {
            end = end.max(now.date_naive());
        }
    }
    let non_empty = |name: &str| query.get(name).filter(|v| !v.is_empty()).cloned();
    Ok(Filter {
        start,
        end,
        api_key: non_empty("api_key"),
        model: non_empty("model"),
        user_id: non_empty("user_id"),
    })
}

/// The matching rows, newest date first.
fn rows(db: &Db, filter: &Filter) -> Vec<(DayKey, DayMetrics)> {
    let mut rows: Vec<_> = db
        .daily
        .between(filter.start, filter.end, filter.api_key.as_deref())
        .filter(|((_, token, model, _), _)| {
            filter.model.as_ref().is_none_or(|m| m == model)
                && filter
                    .user_id
                    .as_ref()
                    .is_none_or(|u| user_of(db, token).as_ref() == Some(u))
        })
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0));
    rows
}

/// Metrics of one breakdown entry, with the keys behind them.
#[derive(Default)]
struct Entry {
    metrics: DayMetrics,
    per_key: BTreeMap<String, DayMetrics>,
}

impl Entry {
    fn add(&mut self, token: &str, metrics: &DayMetrics) {
        self.metrics.add(metrics);
        self.per_key
            .entry(token.to_owned())
            .or_default()
            .add(metrics);
    }
}

#[derive(Default)]
struct Breakdown {
    models: BTreeMap<String, Entry>,
    model_groups: BTreeMap<String, Entry>,
    providers: BTreeMap<String, Entry>,
    endpoints: BTreeMap<String, Entry>,
    entities: BTreeMap<String, Entry>,
    api_keys: BTreeMap<String, DayMetrics>,
}

/// `entities` is keyed by the key's user, `Unassigned` without one.
fn entity_of(db: &Db, token: &str) -> String {
    user_of(db, token).unwrap_or_else(|| "Unassigned".to_owned())
}

/// `SpendAnalyticsPaginatedResponse` for a set of rows.
fn response(
    db: &Db,
    rows: &[(DayKey, DayMetrics)],
    page: i64,
    total_pages: i64,
    aggregated: bool,
) -> Value {
    let mut days: BTreeMap<NaiveDate, (DayMetrics, Breakdown)> = BTreeMap::new();
    let mut totals = DayMetrics::default();
    for ((date, token, model, endpoint), metrics) in rows {
        let (day, breakdown) = days.entry(*date).or_default();
        day.add(metrics);
        totals.add(metrics);
        let provider = if model.is_empty() {
            UNKNOWN_PROVIDER.to_owned()
        } else {
            let deployment = format!("{PROVIDER}/{model}");
            breakdown
                .models
                .entry(deployment)
                .or_default()
                .add(token, metrics);
            breakdown
                .model_groups
                .entry(model.clone())
                .or_default()
                .add(token, metrics);
            PROVIDER.to_owned()
        };
        breakdown
            .providers
            .entry(provider)
            .or_default()
            .add(token, metrics);
        if !endpoint.is_empty() {
            breakdown
                .endpoints
                .entry(endpoint.clone())
                .or_default()
                .add(token, metrics);
        }
        breakdown
            .entities
            .entry(entity_of(db, token))
            .or_default()
            .add(token, metrics);
        breakdown
            .api_keys
            .entry(token.clone())
            .or_default()
            .add(metrics);
    }
    let keyed = |per_key: &BTreeMap<String, DayMetrics>| -> Map<String, Value> {
        per_key
            .iter()
            .map(|(token, m)| {
                (
                    token.clone(),
                    json!({"metrics": metrics_json(m), "metadata": key_metadata(db, token)}),
                )
            })
            .collect()
    };
    let entries = |entries: &BTreeMap<String, Entry>| -> Map<String, Value> {
        entries
            .iter()
            .map(|(name, entry)| {
                (
                    name.clone(),
                    json!({"metrics": metrics_json(&entry.metrics), "metadata": {}, "api_key_breakdown": keyed(&entry.per_key)}),
                )
            })
            .collect()
    };
    let results: Vec<Value> = days
        .iter()
        .rev()
        .map(|(date, (metrics, breakdown))| {
            json!({
                "date": date.format("%Y-%m-%d").to_string(),
                "metrics": metrics_json(metrics),
                "breakdown": {
                    "mcp_servers": {},
                    "models": entries(&breakdown.models),
                    "model_groups": entries(&breakdown.model_groups),
                    "providers": entries(&breakdown.providers),
                    "endpoints": entries(&breakdown.endpoints),
                    "api_keys": keyed(&breakdown.api_keys),
                    "entities": entries(&breakdown.entities),
                },
            })
        })
        .collect();
    let distinct_keys: std::collections::BTreeSet<&String> =
        rows.iter().map(|((_, t, _, _), _)| t).collect();
    let mut per_entity: BTreeMap<String, std::collections::BTreeSet<&String>> = BTreeMap::new();
    for token in &distinct_keys {
        per_entity
            .entry(entity_of(db, token))
            .or_default()
            .insert(token);
    }
    let entity_total_api_keys: Map<String, Value> = per_entity
        .into_iter()
        .map(|(entity, keys)| (entity, json!(keys.len())))
        .collect();
    json!({
        "results": results,
        "metadata": {
            "total_spend": totals.spend,
            "total_flat_cost": 0.0,
            "total_ptu_hours": 0.0,
            "total_prompt_tokens": totals.prompt_tokens,
            "total_completion_tokens": totals.completion_tokens,
            "total_tokens": totals.prompt_tokens + totals.completion_tokens,
            "total_api_requests": totals.api_requests,
            "total_successful_requests": totals.successful_requests,
            "total_failed_requests": totals.failed_requests,
            "total_cache_read_input_tokens": 0,
            "total_cache_creation_input_tokens": 0,
            "total_compression_saved_tokens": 0,
            "total_compression_savings_spend": 0.0,
            "total_prompt_caching_savings_spend": 0.0,
            "total_gateway_injected_caching_savings_spend": 0.0,
            "total_autorouter_savings_spend": 0.0,
            "total_response_time_ms": 0,
            "total_timed_requests": 0,
            "page": page,
            "total_pages": total_pages,
            "has_more": page < total_pages,
            "api_key_limit": aggregated.then_some(API_KEY_LIMIT),
            "total_api_keys": distinct_keys.len(),
            "entity_total_api_keys": aggregated.then_some(entity_total_api_keys),
        },
    })
}

/// GET /user/daily/activity/aggregated (one page holding every day).
pub(crate) async fn aggregated(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    sim.with_state(|db, now| {
        require_admin(
            &headers,
            &sim.master_key,
            db,
            now,
            "/user/daily/activity/aggregated",
        )?;
        let filter = parse_filter(&query, now)?;
        let rows = rows(db, &filter);
        Ok(Json(response(db, &rows, 1, 1, true)))
    })
}

/// GET /user/daily/activity (`[BETA]`): pages over raw rows (date × key × model).
pub(crate) async fn paginated(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let page = query_int(query.get("page"), "page", 1)?;
    let page_size = query_int(query.get("page_size"), "page_size", 50)?;
    if page < 1 {
        return Err(ApiError::validation(
            &["query", "page"],
            "greater_than_equal",
            "Input should be greater than or equal to 1",
            json!(page),
        ));
    }
    if !(1..=1000).contains(&page_size) {
        return Err(ApiError::validation(
            &["query", "page_size"],
            if page_size < 1 {
                "greater_than_equal"
            } else {
                "less_than_equal"
            },
            if page_size < 1 {
                "Input should be greater than or equal to 1"
            } else {
                "Input should be less than or equal to 1000"
            },
            json!(page_size),
        ));
    }
    sim.with_state(|db, now| {
        require_admin(&headers, &sim.master_key, db, now, "/user/daily/activity")?;
        let filter = parse_filter(&query, now)?;
        let all = rows(db, &filter);
        let total_pages = (all.len() as i64 + page_size - 1) / page_size;
        let slice: Vec<_> = all
            .into_iter()
            .skip(((page - 1) * page_size) as usize)
            .take(page_size as usize)
            .collect();
        Ok(Json(response(db, &slice, page, total_pages.max(1), false)))
    })
}
