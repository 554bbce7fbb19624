//! `/sim/keys/{key}/*`: read a key, set its spend and daily history.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::KeySnapshot;
use super::{SimControl, control_error, parse_date, required_f64, unknown};
use crate::error::{ApiError, ApiResult};
use crate::request::{body_object, opt_string};
use crate::sim::Sim;

pub(crate) async fn get_key(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
) -> ApiResult<Json<KeySnapshot>> {
    SimControl { sim }
        .key(&key)
        .map(Json)
        .ok_or_else(|| control_error(&unknown(&key)))
}

pub(crate) async fn set_spend(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<KeySnapshot>> {
    let body = body_object(&body)?;
    let spend = required_f64(&body, "spend")?;
    let control = SimControl { sim };
    control
        .set_spend(&key, spend)
        .map_err(|e| control_error(&e))?;
    control
        .key(&key)
        .map(Json)
        .ok_or_else(|| control_error(&unknown(&key)))
}

pub(crate) async fn set_daily_spend(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = body_object(&body)?;
    let spend = required_f64(&body, "spend")?;
    let date = match opt_string(&body, "date")? {
        Some(Some(text)) => parse_date(&text, "date")?,
        _ => {
            return Err(ApiError::validation(
                &["body", "date"],
                "missing",
                "Field required",
                Value::Null,
            ));
        }
    };
    SimControl { sim }
        .set_daily_spend(&key, date, spend)
        .map_err(|e| control_error(&e))?;
    Ok(Json(json!({"key": key, "date": date, "spend": spend})))
}

pub(crate) async fn seed_daily_history(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = body_object(&body)?;
    let Some(Value::Array(items)) = body.get("spend") else {
        return Err(ApiError::validation(
            &["body", "spend"],
            "list_type",
            "Input should be a valid list",
            Value::Null,
        ));
    };
    let daily = items
        .iter()
        .map(|v| {
            v.as_f64().ok_or_else(|| {
                ApiError::validation(
                    &["body", "spend"],
                    "float_type",
                    "Input should be a valid number",
                    v.clone(),
                )
            })
        })
        .collect::<ApiResult<Vec<f64>>>()?;
    let last_day = match opt_string(&body, "last_day")? {
        Some(Some(text)) => parse_date(&text, "last_day")?,
        _ => sim.clock.now().date_naive(),
    };
    SimControl { sim }
        .seed_daily_history(&key, last_day, &daily)
        .map_err(|e| control_error(&e))?;
    Ok(Json(
        json!({"key": key, "last_day": last_day, "days": daily.len()}),
    ))
}
