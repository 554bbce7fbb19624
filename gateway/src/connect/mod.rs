//! The protocols the API paths speak, sorted by content type: gRPC and gRPC-web go through
//! tonic-web as before; the Connect protocol (unary POST in JSON or binary, GET for methods
//! without side effects, and streams) is converted to a gRPC call here. Either way the call then
//! takes the one upstream path (metrics, then the proxy, or the gateway's reflection service),
//! so auth, deadlines, request ids and counting are the same for every protocol.
//!
//! Messages are converted through the descriptors budget-proto exports, never per method.

mod codec;
mod descriptors;
mod error;
mod get;
mod stream;
mod unary;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use budget_proto::wire::CallMetrics as _;

use http::header::{ACCEPT, CONTENT_TYPE, TE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use tonic::Code;
use tonic::body::Body;
use tower::Service;
use tower::util::BoxCloneSyncService;

pub(crate) use descriptors::Descriptors;

use codec::Encoding;
use error::{ConnectError, Refused};

use crate::metrics::{self, Metrics, REQUEST_ID};

/// A gRPC service: the upstream path, or it behind tonic-web.
pub(crate) type GrpcService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

const CONNECT_PROTOCOL_VERSION: &str = "connect-protocol-version";
const CONNECT_TIMEOUT_MS: &str = "connect-timeout-ms";
const GRPC_TIMEOUT: &str = "grpc-timeout";
/// `grpc-timeout` allows at most eight digits.
const MAX_GRPC_TIMEOUT_VALUE: u64 = 99_999_999;

/// The content types a Connect POST may have, for a 415's `Accept-Post`.
const CONNECT_CONTENT_TYPES: &str = "application/json, application/proto, \
    application/connect+json, application/connect+proto, application/grpc, \
    application/grpc-web, application/grpc-web-text";

/// Serves one group of gRPC paths in every protocol.
#[derive(Clone)]
pub(crate) struct Protocols {
    /// gRPC and gRPC-web, as tonic-web passes or translates them.
    grpc_and_web: GrpcService,
    /// The gRPC service the Connect translation calls.
    upstream: GrpcService,
    descriptors: Descriptors,
    /// Where calls the gateway refuses itself are counted (the others pass the metrics layer
    /// on the upstream path); `None` for paths that are not counted.
    metrics: Option<Arc<Metrics>>,
}

impl Protocols {
    pub(crate) fn new(
        grpc_and_web: GrpcService,
        upstream: GrpcService,
        descriptors: Descriptors,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        Self {
            grpc_and_web,
            upstream,
            descriptors,
            metrics,
        }
    }

    /// Answers the request; a Connect call refused here is counted like a forwarded one and
    /// gets an `x-request-id` all the same.
    async fn serve(self, request: Request<Body>) -> Response<Body> {
        let started = Instant::now();
        let method = metrics::method_label(request.uri().path());
        let request_id = metrics::request_id(request.headers());
        let metrics = self.metrics.clone();
        let mut response = self.dispatch(request).await;
        if let Some(Refused(code)) = response.extensions().get::<Refused>().copied() {
            if let Some(metrics) = metrics {
                let code = budget_proto::wire::code_name(u8::try_from(code as i32).unwrap_or(2));
                metrics.grpc_call(method, code, started.elapsed());
            }
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert(REQUEST_ID, value);
            }
        }
        response
    }

    async fn dispatch(mut self, request: Request<Body>) -> Response<Body> {
        let protocol = Protocol::of(request.method(), request.headers());
        if protocol == Protocol::Grpc {
            let Ok(response) = self.grpc_and_web.call(request).await;
            return response;
        }
        if protocol == Protocol::Unsupported {
            return unsupported_media_type();
        }
        let Some(method) = self.descriptors.method(request.uri().path()) else {
            let mut response =
                ConnectError::new(Code::Unimplemented, "No such method").refuse(&self.descriptors);
            *response.status_mut() = StatusCode::NOT_FOUND;
            return response;
        };
        let streaming = method.is_client_streaming() || method.is_server_streaming();
        match protocol {
            Protocol::Stream(encoding) => {
                stream::serve(self.upstream, self.descriptors, method, encoding, request).await
            }
            _ if streaming => ConnectError::new(
                Code::Unimplemented,
                format!(
                    "{} is a streaming method: use a streaming protocol",
                    method.name()
                ),
            )
            .refuse(&self.descriptors),
            Protocol::Unary(encoding) => {
                unary::serve_post(self.upstream, self.descriptors, method, encoding, request).await
            }
            _ => get::serve(self.upstream, self.descriptors, method, request).await,
        }
    }
}

impl Service<Request<axum::body::Body>> for Protocols {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<axum::body::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.serve(request.map(Body::new)).await) })
    }
}

/// Which protocol a request speaks, from its method and content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// gRPC or gRPC-web; also anything but GET and POST, which tonic-web answers as before.
    Grpc,
    Unary(Encoding),
    Stream(Encoding),
    Get,
    Unsupported,
}

impl Protocol {
    fn of(method: &Method, headers: &HeaderMap) -> Self {
        if method == Method::GET {
            return Protocol::Get;
        }
        if method != Method::POST {
            return Protocol::Grpc;
        }
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase())
            .unwrap_or_default();
        match content_type.as_str() {
            "application/json" => Protocol::Unary(Encoding::Json),
            "application/proto" => Protocol::Unary(Encoding::Proto),
            "application/connect+json" => Protocol::Stream(Encoding::Json),
            "application/connect+proto" => Protocol::Stream(Encoding::Proto),
            grpc if grpc.starts_with("application/grpc") => Protocol::Grpc,
            _ => Protocol::Unsupported,
        }
    }
}

fn unsupported_media_type() -> Response<Body> {
    // Counted as a malformed call, as tonic-web counts a body it cannot decode.
    let mut response = Response::new(Body::new(Full::new(bytes::Bytes::from_static(
        b"unsupported content type: use application/json or application/proto (Connect), \
          or gRPC, gRPC-web",
    ))));
    *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response.headers_mut().insert(
        HeaderName::from_static("accept-post"),
        HeaderValue::from_static(CONNECT_CONTENT_TYPES),
    );
    response
        .extensions_mut()
        .insert(Refused(Code::InvalidArgument));
    response
}

/// The headers of the gRPC call a Connect request becomes: the caller's own (authorization,
/// x-request-id, custom metadata) without Connect's and HTTP's framing ones, gRPC's content
/// type, and `Connect-Timeout-Ms` as `grpc-timeout` (the proxy caps it at its own deadline).
fn grpc_headers(caller: &HeaderMap) -> Result<HeaderMap, ConnectError> {
    if let Some(version) = caller.get(CONNECT_PROTOCOL_VERSION)
        && version.as_bytes() != b"1"
    {
        return Err(ConnectError::new(
            Code::InvalidArgument,
            "Connect-Protocol-Version must be 1",
        ));
    }
    let mut headers = HeaderMap::new();
    for (name, value) in caller {
        if is_protocol_header(name) {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(TE, HeaderValue::from_static("trailers"));
    if let Some(value) = caller.get(CONNECT_TIMEOUT_MS) {
        headers.insert(GRPC_TIMEOUT, grpc_timeout(value)?);
    }
    Ok(headers)
}

/// `Connect-Timeout-Ms` (at most ten digits) as a `grpc-timeout` value.
fn grpc_timeout(value: &HeaderValue) -> Result<HeaderValue, ConnectError> {
    let millis = value
        .to_str()
        .ok()
        .filter(|text| {
            !text.is_empty() && text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit())
        })
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| {
            ConnectError::new(
                Code::InvalidArgument,
                "Connect-Timeout-Ms must be a whole number of milliseconds, at most 10 digits",
            )
        })?;
    let text = if millis <= MAX_GRPC_TIMEOUT_VALUE {
        format!("{millis}m")
    } else {
        format!("{}S", (millis / 1000).min(MAX_GRPC_TIMEOUT_VALUE))
    };
    HeaderValue::try_from(text)
        .map_err(|_| ConnectError::new(Code::InvalidArgument, "Connect-Timeout-Ms is unreadable"))
}

/// Headers that describe one hop's framing, never a call's metadata.
fn is_protocol_header(name: &HeaderName) -> bool {
    let name = name.as_str();
    matches!(
        name,
        "content-type"
            | "content-length"
            | "content-encoding"
            | "accept-encoding"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "upgrade"
            | "te"
            | "trailer"
            | "accept"
    ) || name.starts_with("connect-")
        || name.starts_with("grpc-")
}

/// The metadata of a gRPC answer, as Connect sends it: everything but gRPC's own headers.
fn response_metadata(grpc: &HeaderMap) -> HeaderMap {
    let mut metadata = HeaderMap::new();
    for (name, value) in grpc {
        if is_protocol_header(name) || name == ACCEPT {
            continue;
        }
        metadata.append(name.clone(), value.clone());
    }
    metadata
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn content_types_pick_the_protocol() {
        let of = |ct: &'static str| Protocol::of(&Method::POST, &headers(&[("content-type", ct)]));
        assert_eq!(of("application/json"), Protocol::Unary(Encoding::Json));
        assert_eq!(
            of("application/json; charset=utf-8"),
            Protocol::Unary(Encoding::Json)
        );
        assert_eq!(of("application/proto"), Protocol::Unary(Encoding::Proto));
        assert_eq!(
            of("application/connect+proto"),
            Protocol::Stream(Encoding::Proto)
        );
        assert_eq!(of("application/grpc-web+proto"), Protocol::Grpc);
        assert_eq!(of("application/grpc"), Protocol::Grpc);
        assert_eq!(of("text/plain"), Protocol::Unsupported);
        assert_eq!(Protocol::of(&Method::GET, &HeaderMap::new()), Protocol::Get);
    }

    #[test]
    fn connect_headers_become_grpc_ones() {
        let grpc = grpc_headers(&headers(&[
            ("content-type", "application/json"),
            ("connect-protocol-version", "1"),
            ("connect-timeout-ms", "1500"),
            ("authorization", "Bearer abc"),
            ("x-request-id", "r1"),
            ("grpc-timeout", "1H"),
        ]))
        .unwrap();
        assert_eq!(grpc["content-type"], "application/grpc");
        assert_eq!(grpc["grpc-timeout"], "1500m");
        assert_eq!(grpc["authorization"], "Bearer abc");
        assert_eq!(grpc["x-request-id"], "r1");
        assert!(grpc.get("connect-protocol-version").is_none());
        let long = grpc_timeout(&HeaderValue::from_static("9999999999")).unwrap();
        assert_eq!(long, "9999999S");
        assert!(grpc_timeout(&HeaderValue::from_static("-1")).is_err());
        assert!(grpc_headers(&headers(&[("connect-protocol-version", "2")])).is_err());
    }
}
