//! `/sim/webhook_url`, `/sim/webhooks` and the switches (`/sim/projected_alerts`,
//! `/sim/enterprise`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use super::SimControl;
use crate::error::{ApiError, ApiResult};
use crate::request::{body_object, opt_bool, opt_string};
use crate::sim::Sim;

fn webhook_url_json(control: &SimControl) -> Value {
    json!({"url": control.webhook_url()})
}

pub(crate) async fn get_webhook_url(State(sim): State<Arc<Sim>>) -> ApiResult<Json<Value>> {
    Ok(Json(webhook_url_json(&SimControl { sim })))
}

pub(crate) async fn set_webhook_url(
    State(sim): State<Arc<Sim>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = body_object(&body)?;
    let url = match opt_string(&body, "url")? {
        Some(url) => url,
        None => {
            return Err(ApiError::validation(
                &["body", "url"],
                "missing",
                "Field required",
                Value::Null,
            ));
        }
    };
    let control = SimControl { sim };
    control.set_webhook_url(url);
    Ok(Json(webhook_url_json(&control)))
}

/// Longest `wait_ms` `GET /sim/webhooks` honours.
const MAX_WEBHOOK_WAIT_MS: u64 = 30_000;

pub(crate) async fn webhooks(
    State(sim): State<Arc<Sim>>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let control = SimControl { sim };
    let wait_ms = match query.get("wait_ms") {
        None => 0,
        Some(text) => text.trim().parse::<u64>().map_err(|_| {
            ApiError::bad_request(
                "wait_ms must be a whole number of milliseconds",
                Some("wait_ms"),
            )
        })?,
    };
    let sent = if wait_ms > 0 {
        control
            .settled_webhooks(StdDuration::from_millis(wait_ms.min(MAX_WEBHOOK_WAIT_MS)))
            .await
    } else {
        control.webhooks()
    };
    Ok(Json(
        json!({"webhooks": sent, "in_flight": control.webhooks_in_flight()}),
    ))
}

pub(crate) async fn clear_webhooks(State(sim): State<Arc<Sim>>) -> ApiResult<Json<Value>> {
    SimControl { sim }.clear_webhooks();
    Ok(Json(json!({"webhooks": []})))
}

/// `{"enabled": bool}`, required.
fn enabled_flag(body: &Bytes) -> ApiResult<bool> {
    let body = body_object(body)?;
    let Some(Some(enabled)) = opt_bool(&body, "enabled")? else {
        return Err(ApiError::validation(
            &["body", "enabled"],
            "missing",
            "Field required",
            Value::Null,
        ));
    };
    Ok(enabled)
}

pub(crate) async fn set_projected_alerts(
    State(sim): State<Arc<Sim>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let enabled = enabled_flag(&body)?;
    SimControl { sim }.set_projected_limit_alerts(enabled);
    Ok(Json(json!({"enabled": enabled})))
}

pub(crate) async fn set_enterprise(
    State(sim): State<Arc<Sim>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let enabled = enabled_flag(&body)?;
    SimControl { sim }.set_enterprise(enabled);
    Ok(Json(json!({"enabled": enabled})))
}
