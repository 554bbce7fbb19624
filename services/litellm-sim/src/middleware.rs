//! The sim's middleware: the fault/call-counting layer every LiteLLM route passes through, and
//! the master-key guard in front of the `/sim/*` controls.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{Caller, authenticate};
use crate::error::ApiError;
use crate::faults::{ConnReset, Fault};
use crate::sim::Sim;

/// The `/sim/*` controls answer only the master key: any other key, valid or not, gets the
/// error `authenticate` gives it, and a valid virtual key a 401 of its own. Runs before the
/// route's extractors, so a refused request's body and query are never read.
pub(crate) async fn master_key_only(
    State(sim): State<Arc<Sim>>,
    request: Request,
    next: Next,
) -> Response {
    let checked = sim.with_state(|db, now| {
        match authenticate(request.headers(), &sim.master_key, db, now)? {
            (Caller::Master, _) => Ok(()),
            (Caller::Virtual(_), _) => {
                Err(ApiError::auth("litellm-sim controls need the master key."))
            }
        }
    });
    match checked {
        Ok(()) => next.run(request).await,
        Err(err) => err.into_response(),
    }
}

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
            // Like the real proxy, the call finishes even when the client has given up: a
            // change answered too late is still applied.
            let call = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                next.run(request).await
            });
            call.await
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
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
