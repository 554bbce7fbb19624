//! Prometheus metrics of one gateway (one registry per [`crate::Gateway`]), the
//! `x-request-id` given to every forwarded call, and `/metrics`, served on a listener of its own
//! (GATEWAY_METRICS_ADDR), never on the public port.
//!
//! Series:
//! - `gateway_grpc_web_requests_total{method,code}`,
//!   `gateway_grpc_web_request_duration_seconds{method,code}`: calls on the API paths in every
//!   protocol (gRPC-web, gRPC, Connect; the name is older than the other two) by gRPC code,
//!   whether budget-service or the gateway itself (no credentials, upstream down, a Connect
//!   request it could not read) answered.
//! - `gateway_http_requests_total{kind,status}`: every other request on the public port, `kind`
//!   being `page`, `asset`, `signin`, `export` or `other`.
//!
//! Every label comes from a fixed list (methods of budget-service, else `unknown`), so no
//! caller, signed in or not, can add series.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{Request as AxumRequest, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response as AxumResponse};
use http::{HeaderValue, Request, Response};
use http_body::Body;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use tower::{Layer, Service};
use tracing::Instrument;

use budget_proto::v1::budget_service_server::SERVICE_NAME;
pub(crate) use budget_proto::wire::REQUEST_ID;
use budget_proto::wire::{
    BUDGET_SERVICE_METHODS, CallMetrics, CallRecord, ObservedBody, UNKNOWN_METHOD,
    is_sane_request_id,
};

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
                "Calls to budget-service through the gateway (gRPC-web, gRPC, Connect), by method and gRPC status code.",
            ),
            &["method", "code"],
        )
        .expect("valid static counter options");
        let grpc_duration = HistogramVec::new(
            HistogramOpts::new(
                "gateway_grpc_web_request_duration_seconds",
                "Time from a call's arrival to its status.",
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

    /// Everything, in Prometheus' text exposition format.
    pub(crate) fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %error, "encoding the metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl CallMetrics for Metrics {
    fn grpc_call(&self, method: &str, code: &str, elapsed: std::time::Duration) {
        self.grpc_requests.with_label_values(&[method, code]).inc();
        self.grpc_duration
            .with_label_values(&[method, code])
            .observe(elapsed.as_secs_f64());
    }
}

/// The metrics listener's routes: `GET /metrics` and nothing else.
pub(crate) fn router(metrics: Arc<Metrics>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(serve))
        .with_state(metrics)
}

/// `GET /metrics`.
async fn serve(State(metrics): State<Arc<Metrics>>) -> AxumResponse {
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
    type Response = Response<ObservedBody<ResBody, Metrics>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let method = method_label(request.uri().path());
        let request_id = request_id(request.headers());
        let header = HeaderValue::from_str(&request_id).ok();
        if let Some(value) = &header {
            request.headers_mut().insert(REQUEST_ID, value.clone());
        }
        // `trace_id` is recorded by the proxy when traces are on.
        let span = tracing::info_span!(
            "grpc_web",
            method = %method,
            request_id = %request_id,
            trace_id = tracing::field::Empty,
        );
        let record = CallRecord::start(self.metrics.clone(), method);
        let future = span.in_scope(|| self.inner.call(request));
        Box::pin(
            async move {
                let mut response = future.await?;
                if let Some(value) = header {
                    response.headers_mut().insert(REQUEST_ID, value);
                }
                Ok(record.observe(response))
            }
            .instrument(span),
        )
    }
}

/// The method's name when `path` names one of budget-service's, else `unknown`: the path is
/// the caller's choice, signed in or not, and each label is a series kept forever.
pub(crate) fn method_label(path: &str) -> &'static str {
    path.strip_prefix(&format!("/{SERVICE_NAME}/"))
        .and_then(|name| BUDGET_SERVICE_METHODS.iter().find(|known| **known == name))
        .copied()
        .unwrap_or(UNKNOWN_METHOD)
}

/// The call's id: a sane incoming `x-request-id`, else a new one.
pub(crate) fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane_request_id(id))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id)
}

fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_made_here_are_sane() {
        assert!(is_sane_request_id(&new_request_id()));
    }
}
