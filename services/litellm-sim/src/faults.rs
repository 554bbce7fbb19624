//! Injected faults and per-path call counting, as one middleware in front of every LiteLLM
//! route (`/sim/*` is neither counted nor faulted).
//!
//! A fault that answers by itself (500, 404, malformed JSON, hang, connection reset) does not
//! run the real handler, so it has no side effect; `Slow` and `TruncatedJson` run it.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;

use crate::error::ApiError;
use crate::store::Sim;

/// What an injected fault does to a matching call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 500 with LiteLLM's error envelope.
    Status500,
    /// Never answers; the client gives up (its timeout) or the server shuts down.
    Hang,
    /// Waits, then answers normally.
    Slow(Duration),
    /// 200 with a `Content-Type: application/json` body that is not JSON.
    MalformedJson,
    /// The real answer's status and headers, with its JSON body cut in half (a complete HTTP
    /// message whose JSON ends early).
    TruncatedJson,
    /// Closes the TCP connection with a reset (RST) without answering.
    ConnectionReset,
    /// 404 `not_found_error` "Key not found in database", as `/key/info` answers an unknown key.
    NotFound,
}

/// A fault on every call whose path starts with `path_prefix`; with `times`, only for the next
/// that many matching calls. The first matching rule, in injection order, applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub path_prefix: String,
    pub fault: Fault,
    pub times: Option<u32>,
}

impl FaultRule {
    /// A rule that applies to every matching call until the faults are cleared.
    pub fn new(path_prefix: impl Into<String>, fault: Fault) -> Self {
        Self {
            path_prefix: path_prefix.into(),
            fault,
            times: None,
        }
    }

    /// Limits the rule to the next `n` matching calls.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
}

/// Put into each request's extensions by the server's connection loop: asks that loop to reset
/// the connection the request came on.
#[derive(Debug, Clone)]
pub(crate) struct ConnReset(pub Arc<Notify>);

/// The middleware: counts the call, then applies the first matching fault, if any.
pub(crate) async fn fault_layer(
    State(sim): State<Arc<Sim>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    if path == "/sim" || path.starts_with("/sim/") {
        return next.run(request).await;
    }
    sim.count_call(&path);
    let Some(fault) = sim.take_fault(&path) else {
        return next.run(request).await;
    };
    tracing::debug!(%path, ?fault, "injecting fault");
    match fault {
        Fault::Status500 => ApiError::proxy(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error (litellm-sim injected fault)",
            "internal_server_error",
            Some("None"),
        )
        .into_response(),
        Fault::NotFound => {
            ApiError::not_found("Key not found in database", Some("key")).into_response()
        }
        Fault::MalformedJson => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            r#"{"key": "sk-...", "info": {"spend": 1.0,, "max_budget": }"#,
        )
            .into_response(),
        Fault::Slow(delay) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Fault::TruncatedJson => truncate(next.run(request).await).await,
        Fault::Hang => std::future::pending().await,
        Fault::ConnectionReset => {
            if let Some(ConnReset(notify)) = request.extensions().get::<ConnReset>() {
                notify.notify_one();
            }
            // The connection loop drops this future together with the connection.
            std::future::pending().await
        }
    }
}

async fn truncate(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let cut = (bytes.len() / 2).max(1).min(bytes.len().saturating_sub(1));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes.slice(..cut)))
}
