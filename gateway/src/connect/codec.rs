//! Bytes on the wire: reading a bounded request body, gzip, the 5-byte envelopes gRPC and
//! Connect's streams share, and messages in proto3 JSON ⇄ protobuf binary through the
//! descriptors.

use std::io::Read as _;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost_reflect::{DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions};
use tonic::Code;
use tonic::body::Body;

use super::error::ConnectError;

/// The largest message budget-service decodes (its `max_decoding_message_size`); the gateway
/// refuses a larger one itself, so a Connect caller reads why.
pub(crate) const MAX_MESSAGE_BYTES: usize = budget_proto::wire::MAX_REQUEST_BYTES;

/// The largest request body the gateway reads for one Connect call. Proto3 JSON of a message
/// takes several times its binary size (field names, base64, decimal digits), so the body may
/// be larger than the message limit; the message it decodes to is then held to that limit.
pub(crate) const MAX_BODY_BYTES: usize = 4 * MAX_MESSAGE_BYTES;

/// Envelope flags: the message is compressed; the frame ends a Connect stream.
pub(crate) const FLAG_COMPRESSED: u8 = 0x01;
pub(crate) const FLAG_END_STREAM: u8 = 0x02;

/// Which encoding a Connect call's messages are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Json,
    Proto,
}

/// Reads the whole body, refusing one larger than `MAX_BODY_BYTES`.
pub(crate) async fn read_body(body: Body) -> Result<Bytes, ConnectError> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(too_large()),
        Err(_) => Err(ConnectError::new(
            Code::InvalidArgument,
            "The request body could not be read",
        )),
    }
}

fn too_large() -> ConnectError {
    ConnectError::new(
        Code::ResourceExhausted,
        format!(
            "The request is too large: a message may have at most {MAX_MESSAGE_BYTES} bytes \
             in protobuf binary and a request body at most {MAX_BODY_BYTES} bytes"
        ),
    )
}

/// Undoes the request's compression: `identity` (or none) and `gzip` are supported; Connect
/// answers any other with `unimplemented`.
pub(crate) fn decompress(encoding: Option<&str>, bytes: Bytes) -> Result<Bytes, ConnectError> {
    match encoding.unwrap_or("identity") {
        "identity" => Ok(bytes),
        "gzip" => {
            let mut out = Vec::new();
            let limit = u64::try_from(MAX_BODY_BYTES).unwrap_or(u64::MAX) + 1;
            flate2::read::GzDecoder::new(bytes.as_ref())
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|_| {
                    ConnectError::new(Code::InvalidArgument, "The gzip request body is corrupt")
                })?;
            if out.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            Ok(Bytes::from(out))
        }
        other => Err(ConnectError::new(
            Code::Unimplemented,
            format!("Compression {other:?} is not supported; use gzip or identity"),
        )),
    }
}

/// A message in protobuf binary, from the caller's encoding: JSON is converted (unknown fields
/// refused, as proto3 JSON parsers do by default), binary is checked to be the message.
pub(crate) fn to_binary(
    encoding: Encoding,
    bytes: &[u8],
    descriptor: &MessageDescriptor,
) -> Result<Bytes, ConnectError> {
    let binary = match encoding {
        Encoding::Proto => {
            DynamicMessage::decode(descriptor.clone(), bytes).map_err(|err| {
                ConnectError::new(
                    Code::InvalidArgument,
                    format!(
                        "The request is not a valid {}: {err}",
                        descriptor.full_name()
                    ),
                )
            })?;
            Bytes::copy_from_slice(bytes)
        }
        Encoding::Json => {
            let mut deserializer = serde_json::Deserializer::from_slice(bytes);
            let message = DynamicMessage::deserialize_with_options(
                descriptor.clone(),
                &mut deserializer,
                &DeserializeOptions::new().deny_unknown_fields(true),
            )
            .and_then(|message| deserializer.end().map(|()| message))
            .map_err(|err| {
                ConnectError::new(
                    Code::InvalidArgument,
                    format!(
                        "The request is not valid JSON for {}: {err}",
                        descriptor.full_name()
                    ),
                )
            })?;
            Bytes::from(prost::Message::encode_to_vec(&message))
        }
    };
    if binary.len() > MAX_MESSAGE_BYTES {
        return Err(too_large());
    }
    Ok(binary)
}

/// A message from protobuf binary into the caller's encoding: proto3 JSON with camelCase names,
/// 64-bit integers as strings, enums by name, defaults left out.
pub(crate) fn from_binary(
    encoding: Encoding,
    bytes: Bytes,
    descriptor: &MessageDescriptor,
) -> Result<Bytes, ConnectError> {
    match encoding {
        Encoding::Proto => Ok(bytes),
        Encoding::Json => {
            let message = DynamicMessage::decode(descriptor.clone(), bytes).map_err(|err| {
                tracing::warn!(error = %err, message = descriptor.full_name(), "undecodable answer");
                ConnectError::new(Code::Internal, "budget-service sent an undecodable answer")
            })?;
            let mut out = Vec::new();
            let mut serializer = serde_json::Serializer::new(&mut out);
            message
                .serialize_with_options(&mut serializer, &SerializeOptions::new())
                .map_err(|_| {
                    ConnectError::new(Code::Internal, "The answer cannot be shown as JSON")
                })?;
            Ok(Bytes::from(out))
        }
    }
}

/// One envelope: flags, the length as a big-endian u32, the bytes.
pub(crate) fn envelope(flags: u8, message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(flags);
    out.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    out.put_slice(message);
    out.freeze()
}

/// Splits off the first whole envelope in `buffer`, if it holds one: `(flags, message)`.
pub(crate) fn take_envelope(buffer: &mut BytesMut) -> Option<(u8, Bytes)> {
    if buffer.len() < 5 {
        return None;
    }
    let length = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]);
    let length = usize::try_from(length).ok()?;
    if buffer.len() < 5 + length {
        return None;
    }
    let frame = buffer.split_to(5 + length);
    Some((frame[0], frame.freeze().slice(5..)))
}

/// The length an envelope at the head of `buffer` announces.
pub(crate) fn announced_length(buffer: &[u8]) -> Option<usize> {
    let header: [u8; 4] = buffer.get(1..5)?.try_into().ok()?;
    usize::try_from(u32::from_be_bytes(header)).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn status_request() -> MessageDescriptor {
        budget_proto::descriptor_pool()
            .get_message_by_name("budget.v1.GetBudgetStatusRequest")
            .unwrap()
    }

    #[test]
    fn json_becomes_binary_and_unknown_fields_are_refused() {
        let binary =
            to_binary(Encoding::Json, br#"{"tenantId":"acme"}"#, &status_request()).unwrap();
        assert_eq!(binary.as_ref(), b"\x0a\x04acme");
        let err =
            to_binary(Encoding::Json, br#"{"tenant":"acme"}"#, &status_request()).unwrap_err();
        assert_eq!(err.code, Code::InvalidArgument);
        assert!(err.message.contains("tenant"), "{}", err.message);
        let err = to_binary(Encoding::Json, br#"{"tenantId":"#, &status_request()).unwrap_err();
        assert_eq!(err.code, Code::InvalidArgument);
    }

    #[test]
    fn envelopes_round_trip() {
        let mut buffer = BytesMut::from(envelope(FLAG_END_STREAM, b"{}").as_ref());
        buffer.extend_from_slice(&[0, 0, 0]);
        assert_eq!(
            take_envelope(&mut buffer),
            Some((FLAG_END_STREAM, Bytes::from_static(b"{}")))
        );
        assert_eq!(take_envelope(&mut buffer), None);
    }

    #[test]
    fn unknown_compression_is_unimplemented() {
        let err = decompress(Some("br"), Bytes::new()).unwrap_err();
        assert_eq!(err.code, Code::Unimplemented);
    }
}
