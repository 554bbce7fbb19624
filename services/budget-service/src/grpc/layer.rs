//! The tower layer around every gRPC service (BudgetService, health, reflection): one tracing
//! span per call (`rpc`, with `method`, `request_id` and, once the handler knows it,
//! `tenant_id`), the `x-request-id` (kept when the caller sent a sane one, else made here,
//! and echoed on the answer), and the call's count and latency by method and gRPC code.
//!
//! Layer order in tonic (outermost first): tonic's own error recovery and `timeout` →
//! this layer → the routes. The code comes from `grpc-status` in the response headers
//! (trailers-only answers: errors) or else in the trailers at the end of the body; the
//! latency runs until then. A call whose future is dropped before answering (the server
//! timeout, or the client going away) counts as `CANCELLED`; so does a body dropped before
//! its trailers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use tower::{Layer, Service};
use tracing::Instrument;

use crate::metrics::Metrics;

pub const REQUEST_ID: &str = "x-request-id";

/// Adds [`RpcObserver`] to a service.
#[derive(Clone)]
pub struct RpcLayer {
    metrics: Arc<Metrics>,
}

impl RpcLayer {
    pub fn new(metrics: Arc<Metrics>) -> RpcLayer {
        RpcLayer { metrics }
    }
}

impl<S> Layer<S> for RpcLayer {
    type Service = RpcObserver<S>;

    fn layer(&self, inner: S) -> RpcObserver<S> {
        RpcObserver {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcObserver<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RpcObserver<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Send,
    S::Future: Send + 'static,
    ResBody: Body + Unpin,
{
    type Response = Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let method = request.uri().path().trim_start_matches('/').to_owned();
        let request_id = request
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|id| is_sane_request_id(id))
            .map(str::to_owned)
            .unwrap_or_else(new_request_id);
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            request.headers_mut().insert(REQUEST_ID, value);
        }
        let span = tracing::info_span!(
            "rpc",
            method = %method,
            request_id = %request_id,
            tenant_id = tracing::field::Empty,
        );
        let mut record = Record {
            metrics: self.metrics.clone(),
            method,
            started: Instant::now(),
            done: false,
        };
        let future = span.in_scope(|| self.inner.call(request));
        Box::pin(
            async move {
                let mut response = future.await?;
                undecodable_as_invalid_argument(response.headers_mut());
                if let Ok(value) = HeaderValue::from_str(&request_id) {
                    response.headers_mut().insert(REQUEST_ID, value);
                }
                if let Some(code) = grpc_code(response.headers()) {
                    // Trailers-only: the whole answer is in the headers.
                    record.finish(code);
                }
                let pending = (!record.done).then(|| record.take());
                Ok(response.map(|inner| ObservedBody {
                    inner,
                    record: pending,
                }))
            }
            .instrument(span),
        )
    }
}

/// What is still to be counted for one call.
struct Record {
    metrics: Arc<Metrics>,
    method: String,
    started: Instant,
    done: bool,
}

impl Record {
    fn finish(&mut self, code: &str) {
        if self.done {
            return;
        }
        self.done = true;
        // tonic answers UNIMPLEMENTED for paths it does not route: one label for all of them.
        let method = if code == "UNIMPLEMENTED" {
            "unknown"
        } else {
            &self.method
        };
        self.metrics.grpc_call(method, code, self.started.elapsed());
    }

    /// Moves the pending count out, leaving this one done (so its drop counts nothing).
    fn take(&mut self) -> Record {
        self.done = true;
        Record {
            metrics: self.metrics.clone(),
            method: std::mem::take(&mut self.method),
            started: self.started,
            done: false,
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        self.finish("CANCELLED");
    }
}

/// A response body that counts the call when its trailers (or its end) go by.
pub struct ObservedBody<B> {
    inner: B,
    record: Option<Record>,
}

impl<B: Body + Unpin> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = grpc_code(trailers).unwrap_or("UNKNOWN");
                    if let Some(mut record) = this.record.take() {
                        record.finish(code);
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(mut record) = this.record.take() {
                    record.finish("INTERNAL");
                }
            }
            Poll::Ready(None) => {
                if let Some(mut record) = this.record.take() {
                    record.finish("UNKNOWN");
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The start of each message (as sent, percent-encoded) of the INTERNAL statuses tonic answers
/// when a request's bytes are not one valid message: bad protobuf, a frame cut short, an
/// unknown or unusable compression flag, no message at all.
const UNDECODABLE: [&str; 4] = [
    "failed%20to%20decode%20Protobuf%20message",
    "Unexpected%20EOF%20decoding%20stream",
    "Missing%20request%20message",
    "protocol%20error:",
];

/// An undecodable request is the caller's mistake, not ours: tonic's INTERNAL for it becomes
/// INVALID_ARGUMENT with a fixed message, so callers and alerts on INTERNAL see only our
/// own failures. Decoding fails before any handler runs, so the answer is trailers-only.
fn undecodable_as_invalid_argument(headers: &mut HeaderMap) {
    let internal = headers
        .get("grpc-status")
        .is_some_and(|code| code.as_bytes() == b"13");
    let undecodable = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .is_some_and(|m| UNDECODABLE.iter().any(|start| m.starts_with(start)));
    if internal && undecodable {
        headers.insert("grpc-status", HeaderValue::from_static("3"));
        headers.insert(
            "grpc-message",
            HeaderValue::from_static("The%20request%20is%20not%20a%20valid%20message"),
        );
        headers.remove("grpc-status-details-bin");
    }
}

/// The gRPC status code's name from `grpc-status`, if the headers carry one.
fn grpc_code(headers: &HeaderMap) -> Option<&'static str> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    Some(code_name(value.trim().parse().unwrap_or(2)))
}

fn code_name(code: u8) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// 1 to 128 characters of letters, digits and `-_.:`; anything else is replaced.
pub fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Records the tenant on the current RPC span (a no-op outside one, or for an empty id).
pub fn record_tenant(tenant_id: &str) {
    if !tenant_id.is_empty() {
        tracing::Span::current().record("tenant_id", tenant_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_checked() {
        assert!(is_sane_request_id("abc-123_x.y:z"));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id("has space"));
        assert!(!is_sane_request_id(&"a".repeat(129)));
        assert_eq!(new_request_id().len(), 32);
    }

    #[test]
    fn only_undecodable_requests_lose_internal() {
        let answer = |code: &'static str, message: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert("grpc-status", HeaderValue::from_static(code));
            headers.insert("grpc-message", HeaderValue::from_static(message));
            undecodable_as_invalid_argument(&mut headers);
            (
                headers["grpc-status"].clone(),
                headers["grpc-message"].clone(),
            )
        };
        let (code, message) = answer(
            "13",
            "failed%20to%20decode%20Protobuf%20message:%20invalid%20wire%20type%20value:%207",
        );
        assert_eq!(
            (code.as_bytes(), message.as_bytes()),
            (
                &b"3"[..],
                &b"The%20request%20is%20not%20a%20valid%20message"[..]
            )
        );
        assert_eq!(answer("13", "Unexpected%20EOF%20decoding%20stream.").0, "3");
        assert_eq!(answer("13", "Internal%20error").0, "13");
        assert_eq!(answer("5", "Missing%20request%20message").0, "5");
    }

    #[test]
    fn codes_are_named() {
        let mut headers = HeaderMap::new();
        assert_eq!(grpc_code(&headers), None);
        headers.insert("grpc-status", HeaderValue::from_static("5"));
        assert_eq!(grpc_code(&headers), Some("NOT_FOUND"));
        headers.insert("grpc-status", HeaderValue::from_static("x"));
        assert_eq!(grpc_code(&headers), Some("UNKNOWN"));
    }
}
