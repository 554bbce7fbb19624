//! The LiteLLM admin API client: the only place that knows LiteLLM's URLs and JSON.
//!
//! Every answer is validated here (finite, non-negative amounts, parseable dates) and
//! converted to micros and UTC, so the rest of the service never sees LiteLLM's floats.

// Tenant data reaches every line here: no arithmetic that can overflow or panic, and no
// `as` cast that could silently saturate or truncate a value. Checked operations only
// (tests compute expectations freely).
#![cfg_attr(
    not(test),
    deny(
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        clippy::cast_sign_loss
    )
)]

mod lifecycle;
mod webhook;
mod wire;

pub use webhook::{WebhookHint, parse_webhook};

use std::time::Duration;

use budget_telemetry::{Context, KeyValue, SpanKind, TraceContextExt as _, Tracer};
use chrono::{DateTime, NaiveDate, Utc};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::clock::{Clock, SystemClock};
use crate::domain::money::{micros_to_usd, usd_to_micros};
use wire::{ActivityResponse, ErrorEnvelope, GenerateResponse, KeyInfoResponse, KeyRow};

/// Why a LiteLLM call failed. Messages never contain the master key or a raw virtual key.
#[derive(Debug, thiserror::Error)]
pub enum LiteLlmError {
    #[error("LiteLLM did not answer within the timeout")]
    Timeout,
    #[error("LiteLLM is unreachable: {0}")]
    Transport(String),
    #[error("LiteLLM answered HTTP {status} ({kind}): {message}")]
    Upstream {
        status: u16,
        kind: String,
        message: String,
    },
    #[error("LiteLLM does not know the key")]
    KeyNotFound,
    #[error("LiteLLM already has a key with alias {0}")]
    DuplicateAlias(String),
    #[error("LiteLLM sent an answer we cannot use: {0}")]
    InvalidResponse(String),
}

/// Whether LiteLLM still lets the key make calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    /// Blocked (LiteLLM calls this "revoked").
    Revoked,
    Expired,
    Deleted,
}

/// One UTC day of a key's spend from LiteLLM's daily activity: the day's total and, from
/// `breakdown.models`, the spend by model (at most `MODELS_PER_DAY` named, the rest "other").
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DaySpend {
    pub day: NaiveDate,
    pub spend_micros: i64,
    pub models: Vec<crate::domain::ModelSpend>,
}

/// A [`DaySpend`] of the key with this hash, from the whole proxy's activity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyDaySpend {
    pub key_hash: String,
    pub day: DaySpend,
}

/// What LiteLLM reports about a key's budget.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyBudget {
    /// Spend in the current budget window.
    pub spend_micros: i64,
    pub max_budget_micros: Option<i64>,
    pub soft_budget_micros: Option<i64>,
    pub budget_duration: Option<String>,
    /// When LiteLLM next resets the window's spend.
    pub budget_reset_at: Option<DateTime<Utc>>,
    pub status: KeyStatus,
}

/// A key LiteLLM just created.
#[derive(Clone, Debug)]
pub struct NewKey {
    /// The raw `sk-...` key: shown once to the caller, never stored.
    pub raw_key: String,
    /// sha256 of the raw key, as LiteLLM stores and addresses it.
    pub key_hash: String,
}

/// The budget fields we set on a tenant's key.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyLimits {
    /// The key's hard limit: the tenant's block amount.
    pub max_budget_micros: i64,
    /// The key's soft budget: the tenant's alert amount.
    pub soft_budget_micros: i64,
    /// Sent only when it changes: LiteLLM restarts the period whenever it receives it.
    pub budget_duration: Option<&'static str>,
}

/// A client for one LiteLLM proxy, authenticated with its master key.
#[derive(Clone)]
pub struct LiteLlmClient {
    http: reqwest::Client,
    base_url: String,
    master_key: String,
    /// The proxy has LiteLLM's enterprise licence (/key/regenerate works).
    enterprise: bool,
    /// Call latency and errors by endpoint.
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    /// "Now", for deciding whether a key has expired.
    clock: std::sync::Arc<dyn Clock>,
    /// One client span per call, under the caller's span, its context sent as `traceparent`.
    tracer: Tracer,
}

impl LiteLlmClient {
    /// Builds a client whose every call gives up after `timeout`.
    pub fn new(
        base_url: &str,
        master_key: &str,
        timeout: Duration,
    ) -> Result<LiteLlmClient, LiteLlmError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .no_proxy()
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| LiteLlmError::Transport(e.to_string()))?;
        Ok(LiteLlmClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            master_key: master_key.to_owned(),
            enterprise: false,
            metrics: None,
            clock: std::sync::Arc::new(SystemClock),
            tracer: Tracer::disabled(),
        })
    }

    /// Makes a span per call (endpoint and HTTP status) and sends its trace context along.
    pub(crate) fn with_tracer(mut self, tracer: Tracer) -> Self {
        self.tracer = tracer;
        self
    }

    /// Reads "now" from `clock` (the wall clock unless set), as the use cases do.
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Counts every call's latency and errors by endpoint in `metrics`.
    pub(crate) fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// POST /key/generate: a new key for a tenant with the given limits.
    pub(crate) async fn generate_key(
        &self,
        alias: &str,
        tenant_id: &str,
        limits: &KeyLimits,
    ) -> Result<NewKey, LiteLlmError> {
        let body = serde_json::json!({
            "key_alias": alias,
            "max_budget": micros_to_usd(limits.max_budget_micros),
            "soft_budget": micros_to_usd(limits.soft_budget_micros),
            "budget_duration": limits.budget_duration,
            "metadata": {"tenant_id": tenant_id},
        });
        let answer = self.post_key_generate(alias, &body).await?;
        let key_hash = answer
            .token
            .or(answer.token_id)
            .unwrap_or_else(|| wire::sha256_hex(&answer.key));
        if !answer.key.starts_with("sk-") || key_hash.len() != 64 {
            return Err(LiteLlmError::InvalidResponse(
                "generated key has an unexpected form".into(),
            ));
        }
        Ok(NewKey {
            raw_key: answer.key,
            key_hash,
        })
    }

    /// POST /key/generate with `body`; LiteLLM's refusal of a taken alias is
    /// [`LiteLlmError::DuplicateAlias`].
    async fn post_key_generate(
        &self,
        alias: &str,
        body: &serde_json::Value,
    ) -> Result<GenerateResponse, LiteLlmError> {
        let request = self.http.post(self.url("/key/generate")).json(body);
        match self.send(request).await {
            Err(LiteLlmError::Upstream {
                status: 400,
                message,
                ..
            }) if message.contains("already exists") => {
                Err(LiteLlmError::DuplicateAlias(alias.to_owned()))
            }
            other => other,
        }
    }

    /// POST /key/update: sets the key's limits; returns the key as LiteLLM now has it.
    pub(crate) async fn update_key(
        &self,
        key_hash: &str,
        limits: &KeyLimits,
    ) -> Result<KeyBudget, LiteLlmError> {
        let mut body = serde_json::json!({
            "key": key_hash,
            "max_budget": micros_to_usd(limits.max_budget_micros),
            "soft_budget": micros_to_usd(limits.soft_budget_micros),
        });
        if let (Some(duration), Some(map)) = (limits.budget_duration, body.as_object_mut()) {
            map.insert("budget_duration".into(), duration.into());
        }
        let request = self.http.post(self.url("/key/update")).json(&body);
        let row: KeyRow = self.send(request).await?;
        row.into_budget(self.clock.now())
    }

    /// GET /key/info: the key's current spend, limits, reset time and status.
    pub(crate) async fn key_info(&self, key_hash: &str) -> Result<KeyBudget, LiteLlmError> {
        let request = self
            .http
            .get(self.url("/key/info"))
            .query(&[("key", key_hash)]);
        let answer: KeyInfoResponse = self.send(request).await?;
        answer.info.into_budget(self.clock.now())
    }

    /// POST /key/delete: removes the key (LiteLLM archives it).
    pub(crate) async fn delete_key(&self, key_hash: &str) -> Result<(), LiteLlmError> {
        let body = serde_json::json!({ "keys": [key_hash] });
        let request = self.http.post(self.url("/key/delete")).json(&body);
        let _: serde_json::Value = self.send(request).await?;
        Ok(())
    }

    /// GET /user/daily/activity/aggregated for one key: spend per UTC day from `start`
    /// to `end` inclusive, today's spend so far included. Days without spend are absent.
    pub(crate) async fn daily_spend(
        &self,
        key_hash: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<DaySpend>, LiteLlmError> {
        self.activity(start, end, Some(key_hash)).await?.into_days()
    }

    /// GET /key/list?return_full_object=true: one page (at most 100) of every key, with
    /// spend and reset times. Returns the keys by hash and the number of pages.
    pub(crate) async fn list_keys(
        &self,
        page: u32,
    ) -> Result<(Vec<(String, KeyBudget)>, u32), LiteLlmError> {
        let page = page.to_string();
        let request = self.http.get(self.url("/key/list")).query(&[
            ("return_full_object", "true"),
            ("page", page.as_str()),
            ("size", "100"),
        ]);
        let answer: wire::KeyListResponse = self.send(request).await?;
        answer.into_keys(self.clock.now())
    }

    /// GET /user/daily/activity/aggregated for the whole proxy: every key's spend per UTC
    /// day from `start` to `end`, by key hash, each day split by model.
    pub(crate) async fn daily_spend_by_key(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<KeyDaySpend>, LiteLlmError> {
        self.activity(start, end, None).await?.into_key_days()
    }

    /// GET /user/daily/activity/aggregated from `start` to `end` (today's spend so far
    /// included), for one key by hash or, without one, for the whole proxy.
    async fn activity(
        &self,
        start: NaiveDate,
        end: NaiveDate,
        key_hash: Option<&str>,
    ) -> Result<ActivityResponse, LiteLlmError> {
        let (start, end) = (
            start.format("%Y-%m-%d").to_string(),
            end.format("%Y-%m-%d").to_string(),
        );
        let mut query = vec![
            ("start_date", start.as_str()),
            ("end_date", end.as_str()),
            ("include_current_utc_day", "true"),
        ];
        query.extend(key_hash.map(|hash| ("api_key", hash)));
        let request = self
            .http
            .get(self.url("/user/daily/activity/aggregated"))
            .query(&query);
        self.send(request).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Sends with the master key and decodes a 200 answer; maps every failure.
    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, LiteLlmError> {
        let (client, request) = request.bearer_auth(&self.master_key).build_split();
        let mut request = request.map_err(transport_error)?;
        // The path without the base URL's own prefix: "/key/info", never a query or a key.
        let endpoint = request.url().path().to_owned();
        let endpoint = url::Url::parse(&self.base_url)
            .ok()
            .and_then(|base| {
                endpoint
                    .strip_prefix(base.path().trim_end_matches('/'))
                    .map(str::to_owned)
            })
            .unwrap_or(endpoint);
        let method = request.method().as_str().to_owned();
        let cx = self.tracer.start(
            format!("LiteLLM {method} {endpoint}"),
            SpanKind::Client,
            vec![
                KeyValue::new("http.request.method", method),
                KeyValue::new("litellm.endpoint", endpoint.clone()),
            ],
            &Context::current(),
        );
        budget_telemetry::inject(&cx, request.headers_mut());
        let started = std::time::Instant::now();
        let result = self.exchange(&client, request, &cx).await;
        if let Some(metrics) = &self.metrics {
            let error = result.as_ref().err().map(error_kind);
            metrics.litellm_call(&endpoint, started.elapsed(), error);
        }
        if let Err(error) = &result {
            budget_telemetry::record_error(&cx, error_kind(error));
        }
        cx.span().end();
        result
    }

    /// Sends `request` and decodes the answer; the HTTP status goes on the call's span in `cx`.
    async fn exchange<T: DeserializeOwned>(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        cx: &Context,
    ) -> Result<T, LiteLlmError> {
        let response = client.execute(request).await.map_err(transport_error)?;
        let status = response.status();
        cx.span().set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status.as_u16()),
        ));
        let body = response.bytes().await.map_err(transport_error)?;
        if status == StatusCode::OK {
            return serde_json::from_slice(&body)
                .map_err(|e| LiteLlmError::InvalidResponse(format!("undecodable JSON: {e}")));
        }
        let (kind, message) = match serde_json::from_slice::<ErrorEnvelope>(&body) {
            Ok(envelope) => (
                envelope.error.kind.unwrap_or_default(),
                envelope.error.message.unwrap_or_default(),
            ),
            Err(_) => (
                String::new(),
                String::from_utf8_lossy(&body).chars().take(200).collect(),
            ),
        };
        if status == StatusCode::NOT_FOUND {
            return Err(LiteLlmError::KeyNotFound);
        }
        Err(LiteLlmError::Upstream {
            status: status.as_u16(),
            kind,
            message,
        })
    }
}

/// A failure's kind, as a metric label.
fn error_kind(error: &LiteLlmError) -> &'static str {
    match error {
        LiteLlmError::Timeout => "timeout",
        LiteLlmError::Transport(_) => "transport",
        LiteLlmError::Upstream { .. } => "upstream",
        LiteLlmError::KeyNotFound => "not_found",
        LiteLlmError::DuplicateAlias(_) => "duplicate_alias",
        LiteLlmError::InvalidResponse(_) => "invalid_response",
    }
}

fn transport_error(error: reqwest::Error) -> LiteLlmError {
    if error.is_timeout() {
        LiteLlmError::Timeout
    } else if error.is_decode() || error.is_body() {
        LiteLlmError::InvalidResponse("the answer was cut off".into())
    } else {
        // Without the URL: it would carry the key hash, and the cause chain is enough.
        LiteLlmError::Transport(error.without_url().to_string())
    }
}

/// Checks a LiteLLM dollar amount and converts it to micros.
fn amount(field: &str, usd: f64) -> Result<i64, LiteLlmError> {
    usd_to_micros(usd)
        .filter(|micros| *micros >= 0)
        .ok_or_else(|| {
            LiteLlmError::InvalidResponse(format!("{field} is not a non-negative amount"))
        })
}
