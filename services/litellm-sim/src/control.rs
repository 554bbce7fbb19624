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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::{Context, anyhow};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::auth::{Caller, authenticate};
use crate::error::{ApiError, ApiResult};
use crate::faults::{Fault, FaultRule};
use crate::request::{body_object, opt_bool, opt_f64, opt_i64, opt_string, parse_datetime};
use crate::store::{KeyRecord, KeyStatus, Sim, State as Db};
use crate::webhooks::SentWebhook;

/// A key as the sim holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeySnapshot {
    /// sha256 of the raw key.
    pub token: String,
    pub key_name: String,
    pub key_alias: Option<String>,
    pub spend: f64,
    pub total_spend: f64,
    pub max_budget: Option<f64>,
    pub soft_budget: Option<f64>,
    pub budget_duration: Option<String>,
    pub budget_reset_at: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    pub blocked: bool,
    pub metadata: Map<String, Value>,
    pub status: KeyStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl KeySnapshot {
    fn of(record: &KeyRecord, status: KeyStatus) -> Self {
        Self {
            token: record.token.clone(),
            key_name: record.key_name.clone(),
            key_alias: record.key_alias.clone(),
            spend: record.spend,
            total_spend: record.total_spend,
            max_budget: record.max_budget,
            soft_budget: record.soft_budget(),
            budget_duration: record.budget_duration.clone(),
            budget_reset_at: record.budget_reset_at,
            expires: record.expires,
            blocked: record.blocked == Some(true),
            metadata: record.metadata.clone(),
            status,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// A cheap handle on a running sim, for tests.
#[derive(Debug, Clone)]
pub struct SimControl {
    pub(crate) sim: Arc<Sim>,
}

fn unknown(key: &str) -> anyhow::Error {
    anyhow!("litellm-sim: no key matches {key:?} (raw key, hash or alias)")
}

impl SimControl {
    fn live_token(db: &Db, key: &str) -> anyhow::Result<String> {
        db.resolve_any(key)
            .filter(|t| db.keys.contains_key(t))
            .ok_or_else(|| unknown(key))
    }

    /// Sets a live key's current-window `spend` (like `/key/update {"spend": ...}`; `total_spend`
    /// and the daily table are left alone). `key` is the raw key, its hash or its alias.
    pub fn set_spend(&self, key: &str, usd: f64) -> anyhow::Result<()> {
        self.sim.with_state(|db, now| {
            let token = Self::live_token(db, key)?;
            let record = db.keys.get_mut(&token).ok_or_else(|| unknown(key))?;
            record.spend = usd;
            record.updated_at = now;
            // Like `/key/update {"spend": ...}`, which drops LiteLLM's cached auth object.
            record.auth_cache = None;
            Ok(())
        })
    }

    /// Sets a key's spend for one UTC date in the daily table (replacing that day's rows by one
    /// `gpt-4o-mini` row; 0 removes the day). Works for live and deleted keys.
    pub fn set_daily_spend(&self, key: &str, date: NaiveDate, usd: f64) -> anyhow::Result<()> {
        self.sim.with_state(|db, _| {
            let token = db.resolve_any(key).ok_or_else(|| unknown(key))?;
            db.set_daily(date, &token, usd);
            Ok(())
        })
    }

    /// Seeds `daily.len()` days of history ending on `last_day`: `daily[0]` is the oldest day and
    /// the last entry is `last_day` (each as [`SimControl::set_daily_spend`]).
    pub fn seed_daily_history(
        &self,
        key: &str,
        last_day: NaiveDate,
        daily: &[f64],
    ) -> anyhow::Result<()> {
        self.sim.with_state(|db, _| {
            let token = db.resolve_any(key).ok_or_else(|| unknown(key))?;
            let count = i64::try_from(daily.len()).context("too many days")?;
            for (i, usd) in (0_i64..).zip(daily) {
                let date = last_day - Duration::days(count - 1 - i);
                db.set_daily(date, &token, *usd);
            }
            Ok(())
        })
    }

    /// A key's state (live or deleted) by raw key, hash or alias.
    pub fn key(&self, key: &str) -> Option<KeySnapshot> {
        self.sim.with_state(|db, now| {
            let token = db.resolve_any(key)?;
            if let Some(record) = db.keys.get(&token) {
                return Some(KeySnapshot::of(record, record.status(now)));
            }
            db.deleted
                .get(&token)
                .map(|d| KeySnapshot::of(&d.record, KeyStatus::Deleted))
        })
    }

    /// Adds a fault rule (after the existing ones). A rule with `times: Some(0)` does nothing.
    pub fn inject(&self, fault: FaultRule) {
        if fault.times == Some(0) {
            return;
        }
        self.sim.with_state(|db, _| db.faults.add(fault));
    }

    /// The fault rules still in force (with their remaining `times`).
    pub fn faults(&self) -> Vec<FaultRule> {
        self.sim.with_state(|db, _| db.faults.rules().to_vec())
    }

    /// Removes every fault rule (the counts of injected faults stay).
    pub fn clear_faults(&self) {
        self.sim.with_state(|db, _| db.faults.clear());
    }

    /// How many faults were injected into calls to `path` exactly, since the start or the last
    /// [`SimControl::reset_calls`].
    pub fn injected(&self, path: &str) -> u64 {
        self.sim
            .with_state(|db, _| db.faults.injected().get(path).copied().unwrap_or(0))
    }

    /// Every path's count of injected faults.
    pub fn all_injected(&self) -> BTreeMap<String, u64> {
        self.sim.with_state(|db, _| db.faults.injected().clone())
    }

    /// How many calls reached `path` exactly (query string excluded), faulted ones included,
    /// since the start or the last [`SimControl::reset_calls`]. `/sim/*` is not counted.
    pub fn calls(&self, path: &str) -> u64 {
        self.sim
            .with_state(|db, _| db.calls.get(path).copied().unwrap_or(0))
    }

    /// Every path's call count.
    pub fn all_calls(&self) -> BTreeMap<String, u64> {
        self.sim.with_state(|db, _| db.calls.clone())
    }

    /// Resets the call counters and the counts of injected faults.
    pub fn reset_calls(&self) {
        self.sim.with_state(|db, _| {
            db.calls.clear();
            db.faults.reset_injected();
        });
    }

    /// Moves the sim's clock (the next access applies any budget reset that became due).
    pub fn advance_clock(&self, by: Duration) {
        self.sim.clock.advance(by);
    }

    /// Sets the sim's clock to `at`; it keeps running from there.
    pub fn set_clock(&self, at: DateTime<Utc>) {
        self.sim.clock.set(at);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.sim.clock.now()
    }

    /// A fixed cost charged per chat call, or `None` for the token-based price.
    pub fn set_chat_cost(&self, usd: Option<f64>) {
        self.sim.with_state(|db, _| db.chat_cost = usd);
    }

    /// The `WEBHOOK_URL` budget alerts go to (from [`crate::SimConfig::webhook_url`], `--webhook-url`
    /// or env `WEBHOOK_URL`, or [`SimControl::set_webhook_url`]).
    pub fn webhook_url(&self) -> Option<String> {
        self.sim.with_state(|db, _| db.alerting.url.clone())
    }

    /// Points budget alerts at `url` from now on (`None`: alerts are neither sent nor marked as
    /// sent, like LiteLLM without `WEBHOOK_URL`). An empty string counts as `None`.
    pub fn set_webhook_url(&self, url: Option<String>) {
        let url = url.filter(|u| !u.trim().is_empty());
        self.sim.with_state(|db, _| db.alerting.url = url);
    }

    /// Every webhook attempt that has finished, oldest first (see [`SentWebhook`]).
    pub fn webhooks(&self) -> Vec<SentWebhook> {
        self.sim.with_state(|db, _| db.alerting.log.clone())
    }

    /// How many webhooks are decided but not finished yet.
    pub fn webhooks_in_flight(&self) -> usize {
        self.sim.with_state(|db, _| db.alerting.in_flight)
    }

    /// Waits (at most `timeout`) until every webhook already decided has been sent, then returns
    /// [`SimControl::webhooks`]. Webhooks are decided before a chat call answers, so after the
    /// answer this is deterministic: an empty result means the call sent nothing.
    pub async fn settled_webhooks(&self, timeout: StdDuration) -> Vec<SentWebhook> {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.webhooks_in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(StdDuration::from_millis(5)).await;
        }
        self.webhooks()
    }

    /// Forgets the recorded attempts (not LiteLLM's 24 h dedupe cache: move the clock for that).
    pub fn clear_webhooks(&self) {
        self.sim.with_state(|db, _| db.alerting.log.clear());
    }

    /// Turns off (or back on) the `projected_limit_exceeded` alert, which LiteLLM sends after
    /// a charged call whose projected spend passes the key's soft budget (on by default, as in
    /// LiteLLM; see the `webhooks` module docs). For tests about the other alerts alone.
    pub fn set_projected_limit_alerts(&self, enabled: bool) {
        self.sim
            .with_state(|db, _| db.alerting.projected_alerts = enabled);
    }

    /// Gives the sim LiteLLM's enterprise licence (or takes it away): with it, `/key/regenerate`
    /// replaces a key's value; without it (the default, like a proxy without
    /// `LITELLM_LICENSE`) it answers 500.
    pub fn set_enterprise(&self, enabled: bool) {
        self.sim.with_state(|db, _| db.enterprise = enabled);
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

fn master_only(sim: &Sim, headers: &HeaderMap) -> ApiResult<()> {
    sim.with_state(
        |db, now| match authenticate(headers, &sim.master_key, db, now)? {
            (Caller::Master, _) => Ok(()),
            (Caller::Virtual(_), _) => {
                Err(ApiError::auth("litellm-sim controls need the master key."))
            }
        },
    )
}

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

pub(crate) async fn health(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
    let webhook_url = SimControl { sim: sim.clone() }.webhook_url();
    Ok(Json(
        json!({"status": "ok", "now": sim.clock.now(), "webhook_url": webhook_url}),
    ))
}

pub(crate) async fn get_key(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> ApiResult<Json<KeySnapshot>> {
    master_only(&sim, &headers)?;
    SimControl { sim }
        .key(&key)
        .map(Json)
        .ok_or_else(|| control_error(&unknown(&key)))
}

pub(crate) async fn set_spend(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<KeySnapshot>> {
    master_only(&sim, &headers)?;
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
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
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
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
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
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
    let rule = parse_fault(&body_object(&body)?)?;
    let answer = fault_json(&rule);
    SimControl { sim }.inject(rule);
    Ok(Json(answer))
}

pub(crate) async fn list_faults(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
    let control = SimControl { sim };
    let faults: Vec<Value> = control.faults().iter().map(fault_json).collect();
    Ok(Json(
        json!({"faults": faults, "injected": control.all_injected()}),
    ))
}

pub(crate) async fn clear_faults(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
    SimControl { sim }.clear_faults();
    Ok(Json(json!({"faults": []})))
}

pub(crate) async fn calls(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
    let control = SimControl { sim };
    Ok(Json(match query.get("path") {
        Some(path) => json!({"path": path, "count": control.calls(path)}),
        None => json!({"calls": control.all_calls()}),
    }))
}

pub(crate) async fn reset_calls(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
    SimControl { sim }.reset_calls();
    Ok(Json(json!({"calls": {}})))
}

pub(crate) async fn clock(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
    Ok(Json(json!({"now": sim.clock.now()})))
}

pub(crate) async fn advance_clock(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
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

pub(crate) async fn set_clock(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
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
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
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

fn webhook_url_json(control: &SimControl) -> Value {
    json!({"url": control.webhook_url()})
}

pub(crate) async fn get_webhook_url(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
    Ok(Json(webhook_url_json(&SimControl { sim })))
}

pub(crate) async fn set_webhook_url(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
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
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
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

pub(crate) async fn clear_webhooks(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
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
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
    let enabled = enabled_flag(&body)?;
    SimControl { sim }.set_projected_limit_alerts(enabled);
    Ok(Json(json!({"enabled": enabled})))
}

pub(crate) async fn set_enterprise(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    master_only(&sim, &headers)?;
    let enabled = enabled_flag(&body)?;
    SimControl { sim }.set_enterprise(enabled);
    Ok(Json(json!({"enabled": enabled})))
}

/// Unknown `/sim/*` paths.
pub(crate) async fn not_found() -> ApiError {
    ApiError::proxy(StatusCode::NOT_FOUND, "Not Found", "not_found_error", None)
}
