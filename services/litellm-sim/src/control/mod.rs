//! Test controls: [`SimControl`] in-process, and the same over HTTP under `/sim/*` (master key
//! required) for other processes.
//!
//! | route | body / query | effect |
//! |---|---|---|
//! | `GET /sim/health` | | `{"status":"ok","now","webhook_url"}` |
//! | `GET /sim/keys/{key}` | key = raw, hash or alias | the [`KeySnapshot`] (404 envelope if unknown) |
//! | `POST /sim/keys/{key}/spend` | `{"spend": 12.5}` | sets the current-window spend |
//! | `POST /sim/keys/{key}/daily_spend` | `{"date": "2026-11-28", "spend": 1.5}` | sets one day's spend |
//! | `POST /sim/keys/{key}/daily_history` | `{"spend": [..oldest..newest], "last_day"?: "YYYY-MM-DD"}` | one day per entry, ending `last_day` (default today) |
//! | `POST /sim/faults` | `{"path_prefix", "fault", "delay_ms"?, "times"?, "rate"?, "seed"?}` | injects a fault (`rate`: share of matching calls, 0 to 1) |
//! | `GET /sim/faults` | | `{"faults": [...], "injected": {path: n}}` |
//! | `DELETE /sim/faults` | | clears every fault (not the injected counts) |
//! | `GET /sim/calls` | `?path=/key/info` optional | `{"calls": {path: n}}` or `{"path", "count"}` |
//! | `DELETE /sim/calls` | | resets the counters, injected faults' too |
//! | `GET /sim/clock` | | `{"now": ts}` |
//! | `POST /sim/clock/advance` | `{"seconds": 86400}` (or `"ms"`) | moves the clock forward |
//! | `POST /sim/clock/set` | `{"now": "2026-11-28T12:34:56Z"}` | sets the clock |
//! | `POST /sim/chat_cost` | `{"usd": 0.25}` or `{"usd": null}` | fixed cost per chat call, or back to token pricing |
//! | `GET /sim/webhook_url` | | `{"url": ...}` |
//! | `POST /sim/webhook_url` | `{"url": "http://..."}` or `{"url": null}` | where budget webhooks go from now on |
//! | `GET /sim/webhooks` | `?wait_ms=2000` optional | `{"webhooks": [{"url", "body", "status"}], "in_flight": n}`; with `wait_ms`, first waits for in-flight sends |
//! | `DELETE /sim/webhooks` | | forgets the recorded attempts |
//! | `POST /sim/projected_alerts` | `{"enabled": false}` | turns `projected_limit_exceeded` off (on by default, as in LiteLLM) or back on |
//! | `POST /sim/enterprise` | `{"enabled": true}` | LiteLLM's enterprise licence: `/key/regenerate` works (off by default: 500) |
//!
//! `fault` is one of `status_500`, `hang`, `slow` (with `delay_ms`), `malformed_json`,
//! `truncated_json`, `connection_reset`, `not_found`.
//!
//! The master key is checked once for all of these routes, by `middleware::master_key_only`.

mod api;
mod clock;
mod faults;
mod keys;
mod webhooks;

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::request::opt_f64;
use crate::sim::Sim;

use api::unknown;
pub use api::{KeySnapshot, SimControl};
pub(crate) use clock::{advance_clock, clock, set_chat_cost, set_clock};
pub(crate) use faults::{calls, clear_faults, inject_fault, list_faults, reset_calls};
pub(crate) use keys::{get_key, seed_daily_history, set_daily_spend, set_spend};
pub(crate) use webhooks::{
    clear_webhooks, get_webhook_url, set_enterprise, set_projected_alerts, set_webhook_url,
    webhooks,
};

fn control_error(err: &anyhow::Error) -> ApiError {
    ApiError::not_found(err.to_string(), Some("key"))
}

fn required_f64(body: &Map<String, Value>, name: &str) -> ApiResult<f64> {
    match opt_f64(body, name, false)? {
        Some(Some(v)) => Ok(v),
        _ => Err(ApiError::validation(
            &["body", name],
            "missing",
            "Field required",
            Value::Null,
        )),
    }
}

fn parse_date(text: &str, name: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ApiError::validation(
            &["body", name],
            "date_from_datetime_parsing",
            "Input should be a valid date",
            json!(text),
        )
    })
}

pub(crate) async fn health(State(sim): State<Arc<Sim>>) -> ApiResult<Json<Value>> {
    let webhook_url = SimControl { sim: sim.clone() }.webhook_url();
    Ok(Json(
        json!({"status": "ok", "now": sim.clock.now(), "webhook_url": webhook_url}),
    ))
}

/// Unknown `/sim/*` paths.
pub(crate) async fn not_found() -> ApiError {
    ApiError::proxy(StatusCode::NOT_FOUND, "Not Found", "not_found_error", None)
}
