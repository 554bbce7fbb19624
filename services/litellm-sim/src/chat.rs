//! `POST /chat/completions` (and `/v1/chat/completions`): the virtual-key checks LiteLLM runs
//! before a call (blocked, model access, expiry, `spend >= max_budget` → 422 `budget_exceeded`),
//! then an OpenAI-shaped answer whose deterministic cost is charged to the key's `spend`,
//! `total_spend` and today's daily row.
//!
//! Cost: a fixed per-call amount when one is set ([`crate::SimControl::set_chat_cost`]),
//! otherwise gpt-4o-mini's list price, $0.15 per million prompt tokens and $0.60 per million
//! completion tokens. Prompt tokens are a quarter of the characters of the messages (at least 1);
//! completion tokens are `max_tokens` (or `max_completion_tokens`), 16 when neither is sent.
//! A soft budget never blocks (LiteLLM only alerts on it).
//!
//! Budget-alert webhooks: the checks run where the 422 is decided, on the spend before this
//! call's cost (see [`crate::webhooks`]).
//!
//! A call refused by the key checks (unknown, blocked or expired key, a key without `sk-`, a
//! model the key may not use, over budget) counts, as in LiteLLM, as a failed request of the
//! key presented (by its hash) in today's daily row; a key without `sk-` is refused before the
//! model is resolved, so its row has no model.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::auth::{Caller, authenticate, presented_key};
use crate::error::{ApiError, ApiResult};
use crate::records::KeyRecord;
use crate::request::body_object;
use crate::sim::Sim;
use crate::store::DayMetrics;
use crate::util::{hash_token, py_float};

const PROMPT_PRICE: f64 = 0.15e-6;
const COMPLETION_PRICE: f64 = 0.6e-6;
const DEFAULT_COMPLETION_TOKENS: u64 = 16;
const REPLY: &str = "OK. This is a simulated reply from litellm-sim.";

fn prompt_tokens(body: &Map<String, Value>) -> u64 {
    fn chars(value: &Value) -> usize {
        match value {
            Value::String(s) => s.chars().count(),
            Value::Array(items) => items.iter().map(chars).sum(),
            Value::Object(map) => map
                .get("text")
                .or_else(|| map.get("content"))
                .map_or(0, chars),
            _ => 0,
        }
    }
    let total: usize = body
        .get("messages")
        .and_then(Value::as_array)
        .map(|messages| {
            messages
                .iter()
                .map(|m| m.get("content").map_or(0, chars))
                .sum()
        })
        .unwrap_or(0);
    (total as u64).div_ceil(4).max(1)
}

fn completion_tokens(body: &Map<String, Value>) -> u64 {
    body.get("max_tokens")
        .or_else(|| body.get("max_completion_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_COMPLETION_TOKENS)
}

fn model_allowed(models: &[Value], model: &str) -> bool {
    models.is_empty()
        || models.iter().any(|m| {
            m.as_str().is_some_and(|m| {
                m == model || m == "all-proxy-models" || m == "*" || m == "all-team-models"
            })
        })
}

/// LiteLLM's 422 for a key at or over its budget (`Key=` is the alias and the key's name).
fn budget_exceeded(record: &KeyRecord, max: f64) -> ApiError {
    let label = format!(
        "{} ({})",
        record.key_alias.as_deref().unwrap_or("key"),
        record.key_name
    );
    ApiError::proxy(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!(
            "Budget has been exceeded! Key={label} Current cost: {}, Max budget: {}",
            py_float(record.spend),
            py_float(max)
        ),
        "budget_exceeded",
        None,
    )
}

/// POST /chat/completions
pub(crate) async fn completions(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Response> {
    let body = body_object(&body)?;
    let endpoint = uri.path();
    let requested_model = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or_default();
    // Budget webhooks decided under the lock, sent after it (even when the call is refused).
    let mut outbox = Vec::new();
    let answer = sim.with_state(|db, now| -> ApiResult<(String, u64, u64, f64, i64)> {
        let today = now.date_naive();
        let (caller, _) = authenticate(&headers, &sim.master_key, db, now).inspect_err(|_| {
            if let Some(key) = presented_key(&headers) {
                let model = if key.starts_with("sk-") { requested_model } else { "" };
                db.daily.record_failed_request(today, &hash_token(&key), model, endpoint);
            }
        })?;
        let model = match body.get("model") {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            _ => {
                return Err(ApiError::bad_request(
                    "Invalid model name passed in model=None. Call `/v1/models` to view available models for your key.",
                    Some("model"),
                ));
            }
        };
        if !body.get("messages").is_some_and(Value::is_array) {
            return Err(ApiError::bad_request("messages is a required field and must be a list", Some("messages")));
        }
        let prompt = prompt_tokens(&body);
        let completion = completion_tokens(&body);
        let cost = db
            .chat_cost
            .unwrap_or(prompt as f64 * PROMPT_PRICE + completion as f64 * COMPLETION_PRICE);
        let Caller::Virtual(token) = caller else {
            // The master key has no budget and no key row to charge.
            return Ok((model, prompt, completion, cost, now.timestamp()));
        };
        let Some(mut record) = db.keys.get_mut(&token) else {
            return Err(crate::auth::invalid_token());
        };
        if !model_allowed(&record.models, &model) {
            let allowed: Vec<String> = record.models.iter().filter_map(|m| m.as_str().map(|s| format!("'{s}'"))).collect();
            let refusal = ApiError::proxy(
                StatusCode::UNAUTHORIZED,
                format!(
                    "key not allowed to access model. This key can only access models=[{}]. Tried to access {model}",
                    allowed.join(", ")
                ),
                "key_model_access_denied",
                Some("model"),
            );
            db.daily.record_failed_request(today, &token, &model, endpoint);
            return Err(refusal);
        }
        let cached_spend = record.cached_auth_spend(now);
        let max_budget = record.effective_max_budget(now);
        // LiteLLM's budget alert checks run here, inside auth, on the spend before this call.
        db.alerting.auth_checks(&record, max_budget, now, &mut outbox);
        if let Some(max) = max_budget
            && max.is_finite() && record.spend >= max {
                let refusal = budget_exceeded(&record, max);
                db.daily.record_failed_request(today, &token, &model, endpoint);
                return Err(refusal);
            }
        record.spend += cost;
        record.total_spend += cost;
        record.last_active = Some(now);
        let metrics = DayMetrics {
            spend: cost,
            prompt_tokens: prompt,
            completion_tokens: completion,
            api_requests: 1,
            successful_requests: 1,
            failed_requests: 0,
        };
        // The projection reads the cached auth object's spend plus this call's cost.
        db.alerting.after_charge(&record, cached_spend + cost, now, &mut outbox);
        db.daily.add(today, &token, &model, endpoint, &metrics);
        Ok((model, prompt, completion, cost, now.timestamp()))
    });
    sim.dispatch_webhooks(outbox);
    let answer = answer?;
    let (model, prompt, completion, cost, created) = answer;
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion});
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let mut response = if stream {
        let chunk = |delta: Value, finish: Value, usage: Value| {
            json!({
                "id": id, "created": created, "model": model, "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                "usage": usage,
            })
        };
        let events = [
            chunk(
                json!({"role": "assistant", "content": REPLY}),
                Value::Null,
                Value::Null,
            ),
            chunk(json!({}), json!("stop"), usage),
        ];
        let mut text = String::new();
        for event in events {
            text.push_str(&format!("data: {event}\n\n"));
        }
        text.push_str("data: [DONE]\n\n");
        let mut r = Response::new(Body::from(text));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        r
    } else {
        // LiteLLM 1.108.7's answer, field for field (in its order).
        Json(json!({
            "id": id,
            "created": created,
            "model": model,
            "object": "chat.completion",
            "choices": [{
                "finish_reason": "stop",
                "index": 0,
                "message": {"content": REPLY, "role": "assistant"},
                "provider_specific_fields": {},
            }],
            "usage": usage,
        }))
        .into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&cost.to_string()) {
        response
            .headers_mut()
            .insert("x-litellm-response-cost", value);
    }
    Ok(response)
}
