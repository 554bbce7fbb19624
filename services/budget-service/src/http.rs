//! The plain-HTTP side of budget-service on BUDGET_HTTP_ADDR: LiteLLM's budget webhook
//! receiver, `POST /hooks/litellm/{secret}`, `/healthz` and Prometheus' `/metrics`.
//!
//! LiteLLM cannot sign webhooks, so the secret rides in the path and is compared in
//! constant time. A webhook only prompts an evaluation of its tenant from a fresh read;
//! anything we do not handle still gets 200 (LiteLLM never retries, and this must not look
//! like an outage). Bad input gets 400/401/413, never 500.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use crate::litellm::parse_webhook;
use crate::service::{Budgets, KeyWebhook};

/// Largest webhook body accepted.
pub(crate) const MAX_WEBHOOK_BYTES: usize = 64 * 1024;

#[derive(Clone)]
struct HookState {
    budgets: Arc<Budgets>,
    secret: Option<Arc<str>>,
}

/// The HTTP routes; without a secret configured, every webhook is refused with 401.
pub(crate) fn router(budgets: Arc<Budgets>, webhook_secret: Option<String>) -> Router {
    let state = HookState {
        budgets,
        secret: webhook_secret.filter(|s| !s.is_empty()).map(Arc::from),
    };
    Router::new()
        .route("/hooks/litellm/{secret}", post(litellm_webhook))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/metrics", axum::routing::get(metrics))
        // The body limit answers 413 before the handler reads anything.
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BYTES))
        // A panicking handler answers 500 (LiteLLM does not retry; the next pass evaluates).
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .with_state(state)
}

/// Prometheus' text exposition of this service's metrics.
async fn metrics(State(state): State<HookState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        state.budgets.metrics().render(),
    )
        .into_response()
}

async fn litellm_webhook(
    State(state): State<HookState>,
    Path(secret): Path<String>,
    body: Bytes,
) -> Response {
    let authorised = state
        .secret
        .as_deref()
        .is_some_and(|want| constant_time_eq(want.as_bytes(), secret.as_bytes()));
    if !authorised {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "unknown webhook secret"})),
        )
            .into_response();
    }
    let hint = match parse_webhook(&body) {
        Ok(hint) => hint,
        Err(error) => {
            tracing::info!(error = %error, "refused a malformed LiteLLM webhook");
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "malformed webhook body"})),
            )
                .into_response();
        }
    };
    let ignored = |reason: &str| {
        tracing::info!(event = %hint.event, event_group = %hint.event_group, reason, "LiteLLM webhook ignored");
        (
            StatusCode::OK,
            axum::Json(json!({"status": "ignored", "reason": reason})),
        )
            .into_response()
    };
    if hint.event_group != "key" {
        return ignored("not a virtual-key event");
    }
    let Some(key_hash) = hint.key_hash.as_deref() else {
        return ignored("no key token");
    };
    match state.budgets.on_key_webhook(key_hash).await {
        Ok(KeyWebhook::NoTenant) => ignored("key of no tenant"),
        Ok(KeyWebhook::Evaluated {
            tenant_id,
            new_alerts,
        }) => {
            tracing::info!(tenant_id = %tenant_id, event = %hint.event, new_alerts = new_alerts.len(), "evaluated on a LiteLLM webhook");
            (
                StatusCode::OK,
                axum::Json(json!({"status": "evaluated", "new_alerts": new_alerts.len()})),
            )
                .into_response()
        }
        Err(error) => {
            tracing::warn!(error = %error, "webhook: evaluation failed; the evaluator will catch up");
            (StatusCode::OK, axum::Json(json!({"status": "deferred"}))).into_response()
        }
    }
}

/// Compares without an early exit, so the time taken says nothing about the secret.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3cres"));
        assert!(!constant_time_eq(b"s3cret", b"s3cret-longer"));
        assert!(!constant_time_eq(b"s3cret", b""));
    }
}
