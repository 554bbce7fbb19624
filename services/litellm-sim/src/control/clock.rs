//! `/sim/clock*` and `/sim/chat_cost`: move the sim's clock, fix the cost of a chat call.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use chrono::Duration;
use serde_json::{Value, json};

use super::SimControl;
use crate::error::{ApiError, ApiResult};
use crate::request::{body_object, opt_f64, opt_i64, opt_string, parse_datetime};
use crate::sim::Sim;

pub(crate) async fn clock(State(sim): State<Arc<Sim>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"now": sim.clock.now()})))
}

pub(crate) async fn advance_clock(
    State(sim): State<Arc<Sim>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = body_object(&body)?;
    let by = match (
        opt_f64(&body, "seconds", false)?.flatten(),
        opt_i64(&body, "ms")?.flatten(),
    ) {
        (Some(s), _) if s.is_finite() => Duration::milliseconds((s * 1000.0).round() as i64),
        (_, Some(ms)) => Duration::milliseconds(ms),
        _ => {
            return Err(ApiError::validation(
                &["body", "seconds"],
                "missing",
                "Field required",
                Value::Null,
            ));
        }
    };
    sim.clock.advance(by);
    Ok(Json(json!({"now": sim.clock.now()})))
}

pub(crate) async fn set_clock(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult<Json<Value>> {
    let body = body_object(&body)?;
    let Some(Some(text)) = opt_string(&body, "now")? else {
        return Err(ApiError::validation(
            &["body", "now"],
            "missing",
            "Field required",
            Value::Null,
        ));
    };
    let at = parse_datetime(&text).ok_or_else(|| {
        ApiError::validation(
            &["body", "now"],
            "datetime_parsing",
            "Input should be a valid datetime",
            json!(text),
        )
    })?;
    sim.clock.set(at);
    Ok(Json(json!({"now": sim.clock.now()})))
}

pub(crate) async fn set_chat_cost(
    State(sim): State<Arc<Sim>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = body_object(&body)?;
    let usd = opt_f64(&body, "usd", false)?.flatten();
    if usd.is_some_and(|v| !v.is_finite() || v < 0.0) {
        return Err(ApiError::bad_request(
            "usd must be a non-negative finite number or null",
            Some("usd"),
        ));
    }
    SimControl { sim }.set_chat_cost(usd);
    Ok(Json(json!({"usd": usd})))
}
