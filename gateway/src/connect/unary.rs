//! Connect's unary calls (`POST` with `application/json` or `application/proto`, and `GET`
//! through `get.rs`): the message becomes a one-message gRPC call to the shared upstream path,
//! and its answer, or its status with the details, comes back as Connect's response.

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Version};
use http_body_util::{BodyExt, Full};
use prost_reflect::MethodDescriptor;
use tonic::Code;
use tonic::body::Body;
use tower::ServiceExt as _;

use super::codec::{self, Encoding, FLAG_COMPRESSED};
use super::descriptors::Descriptors;
use super::error::ConnectError;
use super::{GrpcService, grpc_headers, response_metadata};

/// A unary call, decoded from whichever form it came in.
pub(crate) struct UnaryCall {
    pub(crate) method: MethodDescriptor,
    pub(crate) encoding: Encoding,
    /// The request message, protobuf binary.
    pub(crate) message: Bytes,
    /// The caller's headers, with their Connect-specific ones still in.
    pub(crate) headers: HeaderMap,
}

/// `POST` with a unary content type: reads, decompresses and converts the body, then calls.
pub(crate) async fn serve_post(
    upstream: GrpcService,
    descriptors: Descriptors,
    method: MethodDescriptor,
    encoding: Encoding,
    request: Request<Body>,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let decoded = async {
        let bytes = codec::read_body(body).await?;
        let content_encoding = parts
            .headers
            .get(CONTENT_ENCODING)
            .map(|value| value.to_str().unwrap_or("unreadable"));
        let bytes = codec::decompress(content_encoding, bytes)?;
        codec::to_binary(encoding, &bytes, &method.input())
    };
    match decoded.await {
        Ok(message) => {
            let call = UnaryCall {
                method,
                encoding,
                message,
                headers: parts.headers,
            };
            call_upstream(upstream, &descriptors, call).await
        }
        Err(error) => error.refuse(&descriptors),
    }
}

/// Sends the call upstream as gRPC and turns the answer into Connect's unary response.
pub(crate) async fn call_upstream(
    upstream: GrpcService,
    descriptors: &Descriptors,
    call: UnaryCall,
) -> Response<Body> {
    let headers = match grpc_headers(&call.headers) {
        Ok(headers) => headers,
        Err(error) => return error.refuse(descriptors),
    };
    let path = format!(
        "/{}/{}",
        call.method.parent_service().full_name(),
        call.method.name()
    );
    let body = Body::new(Full::new(codec::envelope(0, &call.message)));
    let mut request = Request::new(body);
    *request.method_mut() = Method::POST;
    *request.version_mut() = Version::HTTP_2;
    *request.headers_mut() = headers;
    match path.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => {
            return ConnectError::new(Code::Unimplemented, "No such method").refuse(descriptors);
        }
    }
    let Ok(response) = upstream.oneshot(request).await;
    let (parts, body) = response.into_parts();
    let mut metadata = response_metadata(&parts.headers);
    let (data, trailers) = match body.collect().await {
        Ok(collected) => {
            let trailers = collected.trailers().cloned().unwrap_or_default();
            (collected.to_bytes(), trailers)
        }
        Err(status) => {
            return ConnectError::from_status(&status).into_unary_response(descriptors, metadata);
        }
    };
    // A status in the headers is a trailers-only answer (an error, or the gateway's own).
    let status = tonic::Status::from_header_map(&parts.headers)
        .or_else(|| tonic::Status::from_header_map(&trailers));
    for (name, value) in response_metadata(&trailers).iter() {
        if let Ok(name) = HeaderName::try_from(format!("trailer-{name}")) {
            metadata.append(name, value.clone());
        }
    }
    match status {
        Some(status) if status.code() == Code::Ok => {}
        Some(status) => {
            return ConnectError::from_status(&status).into_unary_response(descriptors, metadata);
        }
        None => {
            tracing::warn!(http_status = %parts.status, "an answer without a gRPC status");
            return ConnectError::new(Code::Internal, "budget-service sent no status")
                .into_unary_response(descriptors, metadata);
        }
    }
    let answer = match one_message(data) {
        Ok(message) => codec::from_binary(call.encoding, message, &call.method.output()),
        Err(error) => Err(error),
    };
    match answer {
        Ok(body) => {
            let mut response = Response::new(Body::new(Full::new(body)));
            *response.headers_mut() = metadata;
            let content_type = match call.encoding {
                Encoding::Json => "application/json",
                Encoding::Proto => "application/proto",
            };
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
        Err(error) => error.into_unary_response(descriptors, metadata),
    }
}

/// The single, uncompressed message of a unary answer.
fn one_message(data: Bytes) -> Result<Bytes, ConnectError> {
    let mut buffer = BytesMut::from(data.as_ref());
    match (codec::take_envelope(&mut buffer), buffer.is_empty()) {
        (Some((flags, message)), true) if flags & FLAG_COMPRESSED == 0 => Ok(message),
        _ => {
            tracing::warn!("a unary answer that is not one uncompressed message");
            Err(ConnectError::new(
                Code::Internal,
                "budget-service sent a malformed answer",
            ))
        }
    }
}
