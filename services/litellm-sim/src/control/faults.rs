//! `/sim/faults` and `/sim/calls`: inject faults, count calls.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use serde_json::{Map, Value, json};

use super::SimControl;
use crate::error::{ApiError, ApiResult};
use crate::faults::{Fault, FaultRule};
use crate::request::{body_object, opt_f64, opt_i64, opt_string};
use crate::sim::Sim;

fn fault_json(rule: &FaultRule) -> Value {
    let (name, delay_ms) = match &rule.fault {
        Fault::Status500 => ("status_500", None),
        Fault::Hang => ("hang", None),
        Fault::Slow(d) => ("slow", Some(d.as_millis())),
        Fault::MalformedJson => ("malformed_json", None),
        Fault::TruncatedJson => ("truncated_json", None),
        Fault::ConnectionReset => ("connection_reset", None),
        Fault::NotFound => ("not_found", None),
    };
    let mut answer = json!({"path_prefix": rule.path_prefix, "fault": name, "delay_ms": delay_ms, "times": rule.times});
    if let Some(ppm) = rule.rate_ppm {
        answer["rate"] = json!(f64::from(ppm) / 1_000_000.0);
        answer["seed"] = json!(rule.seed);
    }
    answer
}

fn parse_fault(body: &Map<String, Value>) -> ApiResult<FaultRule> {
    let bad = |msg: &str| ApiError::bad_request(msg.to_string(), Some("fault"));
    let path_prefix = match opt_string(body, "path_prefix")? {
        Some(Some(p)) => p,
        _ => {
            return Err(ApiError::validation(
                &["body", "path_prefix"],
                "missing",
                "Field required",
                Value::Null,
            ));
        }
    };
    let name = opt_string(body, "fault")?.flatten().unwrap_or_default();
    let fault = match name.as_str() {
        "status_500" | "500" => Fault::Status500,
        "hang" => Fault::Hang,
        "slow" => {
            let ms = opt_i64(body, "delay_ms")?
                .flatten()
                .ok_or_else(|| bad("slow needs delay_ms"))?;
            Fault::Slow(StdDuration::from_millis(
                u64::try_from(ms).map_err(|_| bad("delay_ms must be >= 0"))?,
            ))
        }
        "malformed_json" => Fault::MalformedJson,
        "truncated_json" => Fault::TruncatedJson,
        "connection_reset" => Fault::ConnectionReset,
        "not_found" | "404" => Fault::NotFound,
        _ => {
            return Err(bad(
                "fault must be one of status_500, hang, slow, malformed_json, truncated_json, connection_reset, not_found",
            ));
        }
    };
    let times = match opt_i64(body, "times")?.flatten() {
        Some(n) => Some(u32::try_from(n).map_err(|_| bad("times must be >= 0"))?),
        None => None,
    };
    let mut rule = FaultRule::new(path_prefix, fault);
    rule.times = times;
    if let Some(rate) = opt_f64(body, "rate", false)?.flatten() {
        if !(0.0..=1.0).contains(&rate) {
            return Err(bad("rate must be between 0 and 1"));
        }
        rule = rule.rate(rate);
    }
    if let Some(seed) = opt_i64(body, "seed")?.flatten() {
        rule = rule.seed(u64::try_from(seed).map_err(|_| bad("seed must be >= 0"))?);
    }
    Ok(rule)
}

pub(crate) async fn inject_fault(
    State(sim): State<Arc<Sim>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let rule = parse_fault(&body_object(&body)?)?;
    let answer = fault_json(&rule);
    SimControl { sim }.inject(rule);
    Ok(Json(answer))
}

pub(crate) async fn list_faults(State(sim): State<Arc<Sim>>) -> ApiResult<Json<Value>> {
    let control = SimControl { sim };
    let faults: Vec<Value> = control.faults().iter().map(fault_json).collect();
    Ok(Json(
        json!({"faults": faults, "injected": control.all_injected()}),
    ))
}

pub(crate) async fn clear_faults(State(sim): State<Arc<Sim>>) -> ApiResult<Json<Value>> {
    SimControl { sim }.clear_faults();
    Ok(Json(json!({"faults": []})))
}

pub(crate) async fn calls(
    State(sim): State<Arc<Sim>>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let control = SimControl { sim };
    Ok(Json(match query.get("path") {
        Some(path) => json!({"path": path, "count": control.calls(path)}),
        None => json!({"calls": control.all_calls()}),
    }))
}

pub(crate) async fn reset_calls(State(sim): State<Arc<Sim>>) -> ApiResult<Json<Value>> {
    SimControl { sim }.reset_calls();
    Ok(Json(json!({"calls": {}})))
}
