//! Connect's GET form of a unary call (`?connect=v1&encoding=json&message=…&base64=1`), for
//! the methods the proto marks `idempotency_level = NO_SIDE_EFFECTS` and no others.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL};
use http::{HeaderValue, Request, Response, StatusCode};
use prost_reflect::MethodDescriptor;
use tonic::Code;
use tonic::body::Body;

use super::GrpcService;
use super::codec::{self, Encoding};
use super::descriptors::{Descriptors, has_no_side_effects};
use super::error::ConnectError;
use super::unary::{UnaryCall, call_upstream};

/// `GET /package.Service/Method?…`.
pub(crate) async fn serve(
    upstream: GrpcService,
    descriptors: Descriptors,
    method: MethodDescriptor,
    request: Request<Body>,
) -> Response<Body> {
    if !has_no_side_effects(&method) {
        let mut response = ConnectError::new(
            Code::Unimplemented,
            format!(
                "{} changes state, so it must be called with POST",
                method.name()
            ),
        )
        .refuse(&descriptors);
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let query = request.uri().query().unwrap_or_default();
    match GetQuery::parse(query).and_then(|query| query.message(&method)) {
        Ok((encoding, message)) => {
            let call = UnaryCall {
                method,
                encoding,
                message,
                headers: request.headers().clone(),
            };
            let mut response = call_upstream(upstream, &descriptors, call).await;
            // The answer is one caller's view of a tenant, fresh at the time: no cache, shared or
            // the browser's, keeps it.
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => error.refuse(&descriptors),
    }
}

/// The query parameters of a Connect GET.
#[derive(Debug, Default)]
struct GetQuery {
    connect: Option<String>,
    encoding: Option<String>,
    message: Option<Vec<u8>>,
    base64: bool,
    compression: Option<String>,
}

impl GetQuery {
    fn parse(query: &str) -> Result<Self, ConnectError> {
        let mut parsed = GetQuery::default();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value).ok_or_else(|| {
                invalid(format!("The query parameter {name:?} is not URL-encoded"))
            })?;
            let text = || String::from_utf8_lossy(&value).into_owned();
            match name {
                "connect" => parsed.connect = Some(text()),
                "encoding" => parsed.encoding = Some(text()),
                "message" => parsed.message = Some(value),
                "base64" => parsed.base64 = value == b"1",
                "compression" => parsed.compression = Some(text()),
                _ => {}
            }
        }
        Ok(parsed)
    }

    /// The request message in protobuf binary, and the encoding the answer is wanted in.
    fn message(self, method: &MethodDescriptor) -> Result<(Encoding, Bytes), ConnectError> {
        if let Some(version) = self.connect.as_deref().filter(|version| *version != "v1") {
            return Err(invalid(format!(
                "Connect protocol version {version:?} is not supported; use connect=v1"
            )));
        }
        let encoding = match self.encoding.as_deref() {
            Some("json") => Encoding::Json,
            Some("proto") => Encoding::Proto,
            Some(other) => {
                return Err(invalid(format!(
                    "Encoding {other:?} is not supported; use encoding=json or encoding=proto"
                )));
            }
            None => return Err(invalid("The query parameter encoding is missing")),
        };
        let raw = self
            .message
            .ok_or_else(|| invalid("The query parameter message is missing"))?;
        let bytes = if self.base64 {
            let text = String::from_utf8_lossy(&raw);
            URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| invalid("The query parameter message is not base64url"))?
        } else {
            raw
        };
        if bytes.len() > codec::MAX_BODY_BYTES {
            return Err(ConnectError::new(
                Code::ResourceExhausted,
                "The query parameter message is too large",
            ));
        }
        let bytes = codec::decompress(self.compression.as_deref(), Bytes::from(bytes))?;
        let binary = codec::to_binary(encoding, &bytes, &method.input())?;
        Ok((encoding, binary))
    }
}

fn invalid(message: impl Into<String>) -> ConnectError {
    ConnectError::new(Code::InvalidArgument, message)
}

/// `%XX` escapes and `+` (a space, as in forms) decoded; `None` for a broken escape.
fn percent_decode(value: &str) -> Option<Vec<u8>> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        match byte {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                index += 3;
            }
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            _ => {
                out.push(byte);
                index += 1;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_decode_and_broken_ones_are_refused() {
        assert_eq!(percent_decode("%7B%22a%22%7D+x").unwrap(), b"{\"a\"} x");
        assert_eq!(percent_decode("%7"), None);
        assert_eq!(percent_decode("%zz"), None);
    }
}
