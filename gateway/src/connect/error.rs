//! Connect's error vocabulary: the code names, the HTTP status each maps to, and the JSON error
//! body (`{"code", "message", "details"}`) built from a gRPC status, its
//! `grpc-status-details-bin` details passed on as sent.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use prost::Message as _;
use prost_reflect::DynamicMessage;
use serde_json::{Map, Value, json};
use tonic::Code;
use tonic::body::Body;

use super::descriptors::Descriptors;

/// Marks an answer the gateway made without calling upstream, with its code.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refused(pub(crate) Code);

/// A Connect error: the gRPC code, a message for the caller and the details as sent upstream
/// (`google.protobuf.Any` values).
#[derive(Debug, Clone)]
pub(crate) struct ConnectError {
    pub(crate) code: Code,
    pub(crate) message: String,
    pub(crate) details: Vec<prost_types::Any>,
}

impl ConnectError {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// The gateway refused a Connect call itself, before any upstream call (which the metrics
    /// layer would have counted): the answer carries this, so the call is counted all the same.
    /// With no headers to pass on.
    pub(crate) fn refuse(self, descriptors: &Descriptors) -> Response<Body> {
        let code = self.code;
        let mut response = self.into_unary_response(descriptors, HeaderMap::new());
        response.extensions_mut().insert(Refused(code));
        response
    }

    /// The error a gRPC status describes, with the details of its `grpc-status-details-bin`.
    pub(crate) fn from_status(status: &tonic::Status) -> Self {
        let details = if status.details().is_empty() {
            Vec::new()
        } else {
            tonic_types::pb::Status::decode(status.details())
                .map(|rich| rich.details)
                .unwrap_or_default()
        };
        Self {
            code: status.code(),
            message: status.message().to_owned(),
            details,
        }
    }

    /// The JSON object Connect sends for an error; `debug` holds each detail Connect-style as
    /// proto3 JSON when its type is known (google.rpc's and the API's).
    pub(crate) fn to_json(&self, descriptors: &Descriptors) -> Value {
        let mut object = Map::new();
        object.insert("code".to_owned(), Value::from(code_name(self.code)));
        if !self.message.is_empty() {
            object.insert("message".to_owned(), Value::from(self.message.clone()));
        }
        if !self.details.is_empty() {
            let details = self
                .details
                .iter()
                .map(|any| detail_json(any, descriptors))
                .collect();
            object.insert("details".to_owned(), Value::Array(details));
        }
        Value::Object(object)
    }

    /// A unary (or GET) answer: the status Connect maps the code to and the JSON body, with
    /// `headers` (the call's response metadata) added.
    pub(crate) fn into_unary_response(
        self,
        descriptors: &Descriptors,
        headers: HeaderMap,
    ) -> Response<Body> {
        let body = self.to_json(descriptors).to_string();
        let mut response = Response::new(Body::new(http_body_util::Full::new(bytes::Bytes::from(
            body,
        ))));
        *response.status_mut() = http_status(self.code);
        *response.headers_mut() = headers;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

fn detail_json(any: &prost_types::Any, descriptors: &Descriptors) -> Value {
    let type_name = any
        .type_url
        .rsplit_once('/')
        .map_or(any.type_url.as_str(), |(_, name)| name);
    let mut object = Map::new();
    object.insert("type".to_owned(), Value::from(type_name));
    object.insert(
        "value".to_owned(),
        Value::from(STANDARD_NO_PAD.encode(&any.value)),
    );
    let debug = descriptors
        .message(type_name)
        .and_then(|descriptor| DynamicMessage::decode(descriptor, any.value.as_slice()).ok())
        .and_then(|message| serde_json::to_value(&message).ok());
    if let Some(debug) = debug {
        object.insert("debug".to_owned(), debug);
    }
    Value::Object(object)
}

/// Connect's name for a gRPC code.
pub(crate) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "canceled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

/// The HTTP status of a unary Connect error (the protocol's table).
pub(crate) fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The end-of-stream message of a streaming Connect call: the error if any, and the trailers.
pub(crate) fn end_of_stream_json(
    error: Option<&ConnectError>,
    trailers: &HeaderMap,
    descriptors: &Descriptors,
) -> Value {
    let mut object = Map::new();
    if let Some(error) = error {
        object.insert("error".to_owned(), error.to_json(descriptors));
    }
    let mut metadata = Map::new();
    for name in trailers.keys() {
        let values: Vec<Value> = trailers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(Value::from)
            .collect();
        metadata.insert(name.as_str().to_owned(), Value::Array(values));
    }
    if !metadata.is_empty() {
        object.insert("metadata".to_owned(), Value::Object(metadata));
    }
    json!(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_the_connect_name_and_status() {
        assert_eq!(code_name(Code::Cancelled), "canceled");
        assert_eq!(http_status(Code::Cancelled).as_u16(), 499);
        assert_eq!(http_status(Code::Unauthenticated), StatusCode::UNAUTHORIZED);
        assert_eq!(http_status(Code::ResourceExhausted).as_u16(), 429);
        assert_eq!(http_status(Code::FailedPrecondition).as_u16(), 400);
    }
}
