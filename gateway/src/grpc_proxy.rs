//! Forwards gRPC calls to budget-service, over one pooled, lazily connected channel, as the
//! caller: an API caller's own `Authorization: Bearer` header, else the token of the browser's
//! session cookie.
//!
//! tonic-web's `GrpcWebLayer` (gRPC-web; plain gRPC passes through) or the Connect translation
//! (`connect/`) sits in front of this service and converts the call to gRPC and the answer back. This service decodes no messages and knows no RPC, so status
//! codes, messages and `grpc-status-details-bin` reach the browser exactly as budget-service sent
//! them. Only calls without credentials, bodies tonic-web cannot decode (INVALID_ARGUMENT) and
//! failures to reach budget-service become statuses made here.
//!
//! With traces on, every call is an OpenTelemetry server span here, whichever protocol it
//! came in by: the child of the caller's `traceparent` when one came (else the root of a new
//! trace), ended with the call's gRPC code, and sent upstream as the `traceparent` of the call
//! to budget-service, whose span is then its child. With traces off, the caller's trace context
//! goes upstream untouched, like any other header.

use std::convert::Infallible;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use http::header::{AUTHORIZATION, COOKIE, HOST};
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, BodyStream, StreamBody};
use tonic::Status;
use tonic::body::Body;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tower::{Service, ServiceExt};

use budget_proto::wire::{
    BUDGET_SERVICE_PATHS, CallRecord, REQUEST_ID, is_sane_request_id, method_label,
};
use budget_telemetry::{KeyValue, RpcSpan, SpanKind, Tracer};

use crate::session::Sessions;

const GRPC_TIMEOUT: &str = "grpc-timeout";
/// The gRPC spec allows at most eight digits in a `grpc-timeout` value.
const MAX_GRPC_TIMEOUT_VALUE: u64 = 99_999_999;

/// The channel to budget-service. Nothing connects until the first call, so the gateway starts
/// while budget-service is down. Every call on it waits at most `timeout`, even when the
/// browser's own `grpc-timeout` is longer. With `tls` (an https URL), it speaks TLS.
pub(crate) fn budget_service_channel(
    budget_service_url: http::Uri,
    timeout: Duration,
    tls: Option<ClientTlsConfig>,
) -> Result<Channel, tonic::transport::Error> {
    let mut endpoint = Endpoint::from(budget_service_url)
        .timeout(timeout)
        .connect_timeout(timeout);
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls)?;
    }
    Ok(endpoint.connect_lazy())
}

/// A tower service that sends every request with credentials to budget-service, as their
/// caller, and returns the answer.
#[derive(Debug, Clone)]
pub(crate) struct GrpcProxy {
    channel: Channel,
    default_timeout: HeaderValue,
    sessions: Sessions,
    tracer: Tracer,
}

impl GrpcProxy {
    /// `timeout` is the deadline sent upstream when the browser sets none; `tracer` makes each
    /// call's span.
    pub(crate) fn new(
        channel: Channel,
        timeout: Duration,
        sessions: Sessions,
        tracer: Tracer,
    ) -> Self {
        let seconds = timeout.as_secs().clamp(1, MAX_GRPC_TIMEOUT_VALUE);
        let default_timeout = HeaderValue::try_from(format!("{seconds}S"))
            .expect("digits and a unit letter are a valid header value");
        Self {
            channel,
            default_timeout,
            sessions,
            tracer,
        }
    }

    /// Starts the call's span (traces on), under the caller's trace context, and puts it in
    /// the headers in place of the caller's, for budget-service. The record ends the span.
    fn start_span(&self, request: &mut Request<Body>) -> Option<CallRecord<RpcSpan>> {
        if !self.tracer.is_enabled() {
            return None;
        }
        let method = method_label(request.uri().path(), BUDGET_SERVICE_PATHS);
        let parent = budget_telemetry::extract(request.headers());
        let mut attributes = RpcSpan::attributes(method);
        // Only an id the metrics layer would pass on: whatever route the call came by, a
        // caller's header never becomes a long attribute.
        if let Some(id) = request
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|id| is_sane_request_id(id))
        {
            attributes.push(KeyValue::new("request_id", id.to_owned()));
        }
        let cx = self
            .tracer
            .start(method, SpanKind::Server, attributes, &parent);
        if let Some(trace_id) = budget_telemetry::trace_id(&cx) {
            tracing::Span::current().record("trace_id", trace_id);
        }
        budget_telemetry::inject(&cx, request.headers_mut());
        Some(CallRecord::start(Arc::new(RpcSpan::new(cx)), method))
    }

    /// Whom the call is made for: an API caller's own `Authorization` header, passed on
    /// unchanged (budget-service checks it); else the session's token; else nobody. A header
    /// the request carries wins over the cookie the browser attaches by itself: the caller is
    /// the credential the request chose, never both. A request from another site carrying the
    /// cookie has already been refused (`cross_site::refuse_cross_site`). More than one
    /// `Authorization` header is nobody.
    fn caller(&self, headers: &http::HeaderMap) -> Option<HeaderValue> {
        let mut own = headers.get_all(AUTHORIZATION).iter();
        match (own.next(), own.next()) {
            (Some(authorization), None) => {
                let mut authorization = authorization.clone();
                authorization.set_sensitive(true);
                return Some(authorization);
            }
            (Some(_), Some(_)) => return None,
            (None, _) => {}
        }
        self.sessions
            .current(headers, SystemTime::now())
            .and_then(|session| session.bearer())
    }
}

/// The answer, with the call's span (if any) ended once its status goes by.
fn ending_span(span: Option<CallRecord<RpcSpan>>, response: Response<Body>) -> Response<Body> {
    match span {
        Some(record) => record.observe(response).map(Body::new),
        None => response,
    }
}

impl Service<Request<Body>> for GrpcProxy {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    /// Always ready: each call waits for the channel's readiness on its own clone (`oneshot`),
    /// the usual way to share a tonic `Channel`.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let span = self.start_span(&mut request);
        let Some(authorization) = self.caller(request.headers()) else {
            let status = Status::unauthenticated(
                "Sign in to use the budget service, or send Authorization: Bearer <token>",
            );
            return Box::pin(std::future::ready(Ok(ending_span(
                span,
                status.into_http(),
            ))));
        };
        let body_failed = Arc::new(AtomicBool::new(false));
        let failed = body_failed.clone();
        let mut request = request.map(|body| without_length(noting_errors(body, failed)));
        let headers = request.headers_mut();
        // The sealed cookie is for the gateway only.
        headers.remove(AUTHORIZATION);
        headers.remove(COOKIE);
        headers.insert(AUTHORIZATION, authorization);
        // The channel takes the authority from its endpoint; the browser's Host names the gateway.
        headers.remove(HOST);
        if !headers.contains_key(GRPC_TIMEOUT) {
            headers.insert(GRPC_TIMEOUT, self.default_timeout.clone());
        }
        let channel = self.channel.clone();
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            let response = match channel.oneshot(request).await {
                Ok(response) => response.map(without_length),
                // A browser body that could not be decoded ends the call with a bare stream reset:
                // the caller's mistake, not an outage.
                Err(_) if body_failed.load(Ordering::Relaxed) => {
                    Status::invalid_argument("The request is not valid gRPC-web").into_http()
                }
                Err(err) => {
                    let status = status_for_failed_call(&err);
                    tracing::warn!(
                        rpc = %path,
                        code = ?status.code(),
                        error = %ErrorChain(&err),
                        "calling budget-service failed"
                    );
                    status.into_http()
                }
            };
            Ok(ending_span(span, response))
        })
    }
}

/// Sets `failed` when reading the browser's body fails (tonic-web could not decode it).
fn noting_errors(body: Body, failed: Arc<AtomicBool>) -> Body {
    Body::new(body.map_err(move |status| {
        failed.store(true, Ordering::Relaxed);
        status
    }))
}

/// Hides a body's length. tonic-web passes on the length hint of a grpc-web-text body, which is
/// the length of the base64 text rather than of the decoded bytes; hyper would send it upstream as
/// `content-length` and budget-service's HTTP/2 stack would reset the stream for the mismatch.
/// Responses get the same treatment, as tonic-web adds a trailer frame to them.
fn without_length(body: Body) -> Body {
    Body::new(StreamBody::new(BodyStream::new(body)))
}

/// A call that got no answer: past its deadline, or budget-service could not be reached.
fn status_for_failed_call(err: &(dyn Error + 'static)) -> Status {
    let timed_out = std::iter::successors(Some(err), |&err| err.source())
        .any(|cause| cause.is::<tonic::TimeoutExpired>());
    if timed_out {
        Status::deadline_exceeded("budget-service did not answer in time")
    } else {
        Status::unavailable("budget-service is unavailable")
    }
}

/// Displays an error with its causes, `outer: inner: root`.
struct ErrorChain<'a>(&'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::session::SessionKey;

    #[tokio::test]
    async fn default_deadline_is_whole_seconds() {
        let timeout = Duration::from_secs(10);
        let channel =
            budget_service_channel("http://127.0.0.1:1".parse().unwrap(), timeout, None).unwrap();
        let sessions = Sessions::new(&SessionKey::from_bytes([0; 32]), timeout, false);
        let proxy = GrpcProxy::new(channel, timeout, sessions, Tracer::disabled());
        assert_eq!(proxy.default_timeout, "10S");
    }

    #[test]
    fn timeouts_map_to_deadline_exceeded_and_the_rest_to_unavailable() {
        #[derive(Debug)]
        struct Wrapper(Box<dyn Error + Send + Sync>);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("wrapped")
            }
        }
        impl Error for Wrapper {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&*self.0)
            }
        }

        let timeout = Wrapper(Box::new(tonic::TimeoutExpired(())));
        assert_eq!(
            status_for_failed_call(&timeout).code(),
            tonic::Code::DeadlineExceeded
        );
        let refused = Wrapper(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(
            status_for_failed_call(&refused).code(),
            tonic::Code::Unavailable
        );
    }
}
