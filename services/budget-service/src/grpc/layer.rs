//! The tower layer around every gRPC service (BudgetService, health, reflection): one tracing
//! span per call (`rpc`, with `method`, `request_id`, `trace_id` when traces are on and, once
//! the handler knows it, `tenant_id`), the `x-request-id` (kept when the caller sent a sane
//! one, else made here, and echoed on the answer), and the call's count and latency by method
//! and gRPC code.
//!
//! With traces on, each call is also an OpenTelemetry server span, the child of the caller's
//! `traceparent` (the gateway's span) or the root of a new trace, carrying the method, the
//! tenant and the code. The handler runs inside its context, so the LiteLLM calls it makes are
//! its children.
//!
//! Layer order in tonic (outermost first): tonic's own error recovery and `timeout` →
//! this layer → the routes. The code comes from `grpc-status` in the response headers
//! (trailers-only answers: errors) or else in the trailers at the end of the body; the
//! latency runs until then. A call whose future is dropped before answering (the server
//! timeout, or the client going away) counts as `CANCELLED`; so does a body dropped before
//! its trailers.
//!
//! Every BudgetService method takes exactly one request message. tonic reads the first one,
//! quietly drops any that follow and runs the call; here a request body is refused as
//! INVALID_ARGUMENT as soon as data follows its first whole message, before the handler runs
//! (tonic reads the rest of a unary body before calling it), so such a call changes nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use budget_telemetry::{FutureExt as _, KeyValue, RpcSpan, SpanKind, TraceContextExt as _, Tracer};

use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Body;
use tower::{Layer, Service};
use tracing::Instrument;

use super::metrics::GrpcMetrics;
use crate::error::ErrorCode;

pub use budget_proto::wire::REQUEST_ID;
use budget_proto::wire::{
    BUDGET_SERVICE_PATHS, CallRecord, ObservedBody, is_sane_request_id, method_label,
};

/// Every method this server routes, as its metric label; any other path is `unknown`, so
/// callers cannot grow the label set (see [`budget_proto::wire`]).
pub(crate) static KNOWN_METHODS: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| {
        let others = [
            "grpc.health.v1.Health/Check",
            "grpc.health.v1.Health/Watch",
            "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ];
        BUDGET_SERVICE_PATHS.iter().copied().chain(others).collect()
    });

/// Adds [`RpcObserver`] to a service.
#[derive(Clone)]
pub struct RpcLayer {
    metrics: Arc<GrpcMetrics>,
    tracer: Tracer,
}

impl RpcLayer {
    pub fn new(metrics: Arc<GrpcMetrics>, tracer: Tracer) -> RpcLayer {
        RpcLayer { metrics, tracer }
    }
}

impl<S> Layer<S> for RpcLayer {
    type Service = RpcObserver<S>;

    fn layer(&self, inner: S) -> RpcObserver<S> {
        RpcObserver {
            inner,
            metrics: self.metrics.clone(),
            tracer: self.tracer.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcObserver<S> {
    inner: S,
    metrics: Arc<GrpcMetrics>,
    tracer: Tracer,
}

/// A response whose call is counted, and its span ended, once its status goes by.
type Observed<B> = ObservedBody<ObservedBody<B, RpcSpan>, GrpcMetrics>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RpcObserver<S>
where
    S: Service<Request<OneMessage<ReqBody>>, Response = Response<ResBody>> + Send,
    S::Future: Send + 'static,
    ResBody: Body + Unpin,
{
    type Response = Response<Observed<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let method = method_label(request.uri().path(), &KNOWN_METHODS);
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
            trace_id = tracing::field::Empty,
        );
        let cx = self.server_span(&request, method, &request_id);
        if let Some(trace_id) = budget_telemetry::trace_id(&cx) {
            span.record("trace_id", trace_id);
        }
        let record = CallRecord::start(self.metrics.clone(), method);
        let span_end = CallRecord::start(Arc::new(RpcSpan::new(cx.clone())), method);
        let unary = request.uri().path().starts_with(UNARY_SERVICE);
        let request = request.map(|inner| OneMessage::new(inner, unary));
        let future = {
            let _attached = cx.clone().attach();
            span.in_scope(|| self.inner.call(request))
        };
        Box::pin(
            async move {
                let mut response = future.await?;
                undecodable_as_invalid_argument(response.headers_mut());
                if let Ok(value) = HeaderValue::from_str(&request_id) {
                    response.headers_mut().insert(REQUEST_ID, value);
                }
                Ok(record.observe(span_end.observe(response)))
            }
            .instrument(span)
            .with_context(cx),
        )
    }
}

impl<S> RpcObserver<S> {
    /// The call's OpenTelemetry server span, under the caller's `traceparent` if it sent one,
    /// as the context the call runs in (empty when traces are off).
    fn server_span<B>(
        &self,
        request: &Request<B>,
        method: &'static str,
        request_id: &str,
    ) -> budget_telemetry::Context {
        if !self.tracer.is_enabled() {
            return budget_telemetry::Context::new();
        }
        let parent = budget_telemetry::extract(request.headers());
        let mut attributes = RpcSpan::attributes(method);
        attributes.push(KeyValue::new("request_id", request_id.to_owned()));
        self.tracer
            .start(method, SpanKind::Server, attributes, &parent)
    }
}

/// The path prefix of the service whose every method takes one request message.
const UNARY_SERVICE: &str = "/budget.v1.BudgetService/";

/// A request body that, when `unary`, fails with INVALID_ARGUMENT once data follows its first
/// whole gRPC message (a 5-byte header: flag and big-endian length, then the message).
pub struct OneMessage<B> {
    inner: B,
    unary: bool,
    /// The first message's header bytes seen so far: `header[..filled]`.
    header: [u8; 5],
    filled: usize,
    /// Where the first message ends, once its header is complete.
    end: Option<u64>,
    seen: u64,
}

impl<B> OneMessage<B> {
    fn new(inner: B, unary: bool) -> Self {
        Self {
            inner,
            unary,
            header: [0; 5],
            filled: 0,
            end: None,
            seen: 0,
        }
    }

    /// Takes note of a chunk of the body; false once it runs past the first message.
    fn within_one_message(&mut self, chunk: &[u8]) -> bool {
        if self.end.is_none() {
            let wanted = (5 - self.filled).min(chunk.len());
            self.header[self.filled..self.filled + wanted].copy_from_slice(&chunk[..wanted]);
            self.filled += wanted;
            if self.filled == 5 {
                let [_, a, b, c, d] = self.header;
                self.end = Some(5 + u64::from(u32::from_be_bytes([a, b, c, d])));
            }
        }
        self.seen += chunk.len() as u64;
        self.end.is_none_or(|end| self.seen <= end)
    }
}

impl<B> Body for OneMessage<B>
where
    B: Body<Data = tonic::codegen::Bytes> + Unpin,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Data = tonic::codegen::Bytes;
    type Error = tonic::codegen::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<tonic::codegen::Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let fits = frame
                    .data_ref()
                    .is_none_or(|data| !this.unary || this.within_one_message(data));
                if fits {
                    Poll::Ready(Some(Ok(frame)))
                } else {
                    let refused =
                        super::status::with_reason(ErrorCode::InvalidArgument, NOT_ONE_MESSAGE);
                    Poll::Ready(Some(Err(Box::new(refused))))
                }
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The message of every refusal of a request that is not one valid message.
const NOT_ONE_MESSAGE: &str = "The request is not a valid message";

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

fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Records the tenant on the current RPC span and its OpenTelemetry span (a no-op outside
/// one, or for an empty id).
pub fn record_tenant(tenant_id: &str) {
    if !tenant_id.is_empty() {
        tracing::Span::current().record("tenant_id", tenant_id);
        // Only an id that could be one: anything else is the caller's text, of any length.
        if crate::domain::TenantId::parse(tenant_id).is_some() {
            budget_telemetry::Context::current()
                .span()
                .set_attribute(KeyValue::new("tenant_id", tenant_id.to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_routed_methods_are_labels() {
        let label = |path| method_label(path, &KNOWN_METHODS);
        assert_eq!(
            label("/budget.v1.BudgetService/WhoAmI"),
            "budget.v1.BudgetService/WhoAmI"
        );
        assert_eq!(
            label("/grpc.health.v1.Health/Check"),
            "grpc.health.v1.Health/Check"
        );
        assert_eq!(label("/budget.v1.BudgetService/Random"), "unknown");
        assert_eq!(label("/grpc.health.v1.Health/Random"), "unknown");
    }

    #[test]
    fn request_ids_made_here_are_sane() {
        assert_eq!(new_request_id().len(), 32);
        assert!(is_sane_request_id(&new_request_id()));
    }

    /// A body of the given data chunks.
    struct Chunks(std::collections::VecDeque<tonic::codegen::Bytes>);

    impl Body for Chunks {
        type Data = tonic::codegen::Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
            Poll::Ready(
                self.0
                    .pop_front()
                    .map(|data| Ok(http_body::Frame::data(data))),
            )
        }
    }

    /// Reads `chunks` through a `OneMessage`: the refusal's code, if any.
    async fn refusal(chunks: &[&[u8]], unary: bool) -> Option<tonic::Code> {
        let chunks = chunks
            .iter()
            .map(|c| tonic::codegen::Bytes::copy_from_slice(c))
            .collect();
        let mut body = OneMessage::new(Chunks(chunks), unary);
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Err(error) = frame {
                return Some(tonic::Status::from_error(error).code());
            }
        }
        None
    }

    #[tokio::test]
    async fn a_unary_request_is_one_message_however_it_is_split() {
        let one = [0, 0, 0, 0, 2, 10, 0];
        let two = [&one[..], &one[..]].concat();
        let refused = Some(tonic::Code::InvalidArgument);
        assert_eq!(refusal(&[&one], true).await, None);
        let split = [&one[..3], &one[3..5], &one[5..]];
        assert_eq!(refusal(&split, true).await, None, "header split");
        assert_eq!(
            refusal(&[&[0, 0, 0, 0, 0]], true).await,
            None,
            "empty message"
        );
        assert_eq!(refusal(&[&two], true).await, refused, "two in one chunk");
        assert_eq!(refusal(&[&one, &one], true).await, refused, "two chunks");
        assert_eq!(refusal(&[&one, &[0]], true).await, refused, "a stray byte");
        assert_eq!(refusal(&[&two], false).await, None, "streaming services");
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
}
