//! Prometheus metrics of one gateway (one registry per router, so per [`crate::Gateway`]), the
//! `x-request-id` given to every forwarded call, and `/metrics`.
//!
//! Series:
//! - `gateway_grpc_web_requests_total{method,code}`,
//!   `gateway_grpc_web_request_duration_seconds{method,code}`: forwarded calls by gRPC code,
//!   whether budget-service or the gateway itself (no session, upstream down) answered.
//! - `gateway_http_requests_total{kind,status}`: every other request, `kind` being `page`,
//!   `asset`, `signin`, `export`, `metrics` or `other`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{Request as AxumRequest, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response as AxumResponse};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use tower::{Layer, Service};
use tracing::Instrument;

/// The header carrying a call's id from the browser through the gateway to budget-service.
pub(crate) const REQUEST_ID: &str = "x-request-id";

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// One gateway's metrics.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    grpc_requests: IntCounterVec,
    grpc_duration: HistogramVec,
    http_requests: IntCounterVec,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let registry = Registry::new();
        let grpc_requests = IntCounterVec::new(
            Opts::new(
                "gateway_grpc_web_requests_total",
                "gRPC-web calls forwarded to budget-service, by method and gRPC status code.",
            ),
            &["method", "code"],
        )
        .expect("valid static counter options");
        let grpc_duration = HistogramVec::new(
            HistogramOpts::new(
                "gateway_grpc_web_request_duration_seconds",
                "Time from a gRPC-web call's arrival to its trailers.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "code"],
        )
        .expect("valid static histogram options");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "gateway_http_requests_total",
                "Requests other than gRPC-web calls, by kind and HTTP status.",
            ),
            &["kind", "status"],
        )
        .expect("valid static counter options");
        for collector in [
            Box::new(grpc_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(grpc_duration.clone()),
            Box::new(http_requests.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are distinct");
        }
        Metrics {
            registry,
            grpc_requests,
            grpc_duration,
            http_requests,
        }
    }

    fn grpc_call(&self, method: &str, code: &str, started: Instant) {
        self.grpc_requests.with_label_values(&[method, code]).inc();
        self.grpc_duration
            .with_label_values(&[method, code])
            .observe(started.elapsed().as_secs_f64());
    }

    /// Everything, in Prometheus' text exposition format.
    pub(crate) fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %error, "encoding the metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// `GET /metrics`.
pub(crate) async fn serve(State(metrics): State<Arc<Metrics>>) -> AxumResponse {
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}

/// Middleware counting every request that is not a gRPC-web call, by kind and status.
pub(crate) async fn count_http(
    State(metrics): State<Arc<Metrics>>,
    request: AxumRequest,
    next: Next,
) -> AxumResponse {
    let path = request.uri().path();
    let grpc = path.starts_with(&format!(
        "/{}/",
        budget_proto::v1::budget_service_server::SERVICE_NAME
    ));
    let kind = if path.starts_with("/assets/") {
        "asset"
    } else if path == "/metrics" {
        "metrics"
    } else if path.starts_with("/export/") {
        "export"
    } else if path == "/session" || path == "/signout" || path == crate::signin::SIGN_IN_PATH {
        "signin"
    } else if request.method() == http::Method::GET || request.method() == http::Method::HEAD {
        "page"
    } else {
        "other"
    };
    let response = next.run(request).await;
    if !grpc {
        metrics
            .http_requests
            .with_label_values(&[kind, response.status().as_str()])
            .inc();
    }
    response
}

/// Put between tonic-web and the proxy: gives each call an `x-request-id` (a sane incoming one
/// is kept) on the upstream request and on the answer, a span, and its count and latency.
#[derive(Debug, Clone)]
pub(crate) struct GrpcMetricsLayer {
    metrics: Arc<Metrics>,
}

impl GrpcMetricsLayer {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> GrpcMetrics<S> {
        GrpcMetrics {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct GrpcMetrics<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
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
        let method = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let request_id = request
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|id| is_sane_request_id(id))
            .map(str::to_owned)
            .unwrap_or_else(new_request_id);
        let header = HeaderValue::from_str(&request_id).ok();
        if let Some(value) = &header {
            request.headers_mut().insert(REQUEST_ID, value.clone());
        }
        let span = tracing::info_span!("grpc_web", method = %method, request_id = %request_id);
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
                if let Some(value) = header {
                    response.headers_mut().insert(REQUEST_ID, value);
                }
                if let Some(code) = grpc_code(response.headers()) {
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
        // Unknown methods come back UNIMPLEMENTED: one label for all of them.
        let method = if code == "UNIMPLEMENTED" {
            "unknown"
        } else {
            &self.method
        };
        self.metrics.grpc_call(method, code, self.started);
    }

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
pub(crate) struct ObservedBody<B> {
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
        let code = match &polled {
            Poll::Ready(Some(Ok(frame))) => frame
                .trailers_ref()
                .map(|trailers| grpc_code(trailers).unwrap_or("UNKNOWN")),
            Poll::Ready(Some(Err(_))) => Some("INTERNAL"),
            Poll::Ready(None) => Some("UNKNOWN"),
            Poll::Pending => None,
        };
        if let Some(code) = code
            && let Some(mut record) = this.record.take()
        {
            record.finish(code);
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

fn grpc_code(headers: &HeaderMap) -> Option<&'static str> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    Some(match value.trim().parse::<u8>().unwrap_or(2) {
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
    })
}

/// 1 to 128 characters of letters, digits and `-_.:`; anything else is replaced.
fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_checked_and_made() {
        assert!(is_sane_request_id("req-1"));
        assert!(!is_sane_request_id("a b"));
        assert!(!is_sane_request_id(""));
        assert!(is_sane_request_id(&new_request_id()));
    }

    #[test]
    fn codes_are_named() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static("16"));
        assert_eq!(grpc_code(&headers), Some("UNAUTHENTICATED"));
    }
}
