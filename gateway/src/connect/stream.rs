//! Connect's streaming calls (`application/connect+proto` / `+json`): the same 5-byte envelopes
//! as gRPC, so proto frames pass through as they are and JSON ones are converted one message at
//! a time; gRPC's trailers become Connect's end-of-stream frame (flag 0x02, JSON holding the
//! error and the trailers). buf curl speaks this for server reflection.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, Request, Response, Version};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use prost_reflect::MethodDescriptor;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::body::Body;
use tonic::{Code, Status};
use tower::ServiceExt as _;

use super::codec::{self, Encoding, FLAG_COMPRESSED, FLAG_END_STREAM};
use super::descriptors::Descriptors;
use super::error::{ConnectError, Refused, end_of_stream_json};
use super::{GrpcService, grpc_headers, response_metadata};

const CONNECT_CONTENT_ENCODING: &str = "connect-content-encoding";

/// Frames waiting to be written, per direction; backpressure beyond that.
const FRAME_QUEUE: usize = 8;

type FrameSender = mpsc::Sender<Result<Frame<Bytes>, Status>>;

/// `POST` with a Connect streaming content type.
pub(crate) async fn serve(
    upstream: GrpcService,
    descriptors: Descriptors,
    method: MethodDescriptor,
    encoding: Encoding,
    request: Request<Body>,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let compression = parts
        .headers
        .get(CONNECT_CONTENT_ENCODING)
        .map(|value| value.as_bytes());
    if !matches!(compression, None | Some(b"identity")) {
        let error = ConnectError::new(
            Code::Unimplemented,
            "Compressed stream messages are not supported; use identity",
        );
        return end_only(encoding, &error, &descriptors);
    }
    let headers = match grpc_headers(&parts.headers) {
        Ok(headers) => headers,
        Err(error) => return end_only(encoding, &error, &descriptors),
    };
    // A JSON message the caller sent that does not fit the schema ends the call with that
    // error, rather than with whatever the cut-off upstream call reports.
    let request_error = Arc::new(Mutex::new(None::<ConnectError>));
    let body = match encoding {
        Encoding::Proto => body,
        Encoding::Json => {
            let (sender, receiver) = mpsc::channel(FRAME_QUEUE);
            tokio::spawn(json_to_binary(
                body,
                method.clone(),
                sender,
                request_error.clone(),
            ));
            Body::new(StreamBody::new(ReceiverStream::new(receiver)))
        }
    };
    let mut request = Request::new(body);
    *request.method_mut() = Method::POST;
    *request.version_mut() = Version::HTTP_2;
    *request.headers_mut() = headers;
    *request.uri_mut() = parts.uri;
    let Ok(response) = upstream.oneshot(request).await;
    let (response_parts, response_body) = response.into_parts();
    let (sender, receiver) = mpsc::channel(FRAME_QUEUE);
    tokio::spawn(grpc_to_connect(
        response_parts.headers.clone(),
        response_body,
        Answer {
            encoding,
            method,
            descriptors,
            request_error,
        },
        sender,
    ));
    answer(
        encoding,
        response_metadata(&response_parts.headers),
        Body::new(StreamBody::new(ReceiverStream::new(receiver))),
    )
}

/// The streaming response: always HTTP 200, errors travel in the end-of-stream frame.
fn answer(encoding: Encoding, headers: HeaderMap, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.headers_mut() = headers;
    let content_type = match encoding {
        Encoding::Json => "application/connect+json",
        Encoding::Proto => "application/connect+proto",
    };
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// An answer holding nothing but the end-of-stream frame with `error`, made here.
fn end_only(encoding: Encoding, error: &ConnectError, descriptors: &Descriptors) -> Response<Body> {
    let end = end_of_stream_json(Some(error), &HeaderMap::new(), descriptors).to_string();
    let body = Body::new(http_body_util::Full::new(codec::envelope(
        FLAG_END_STREAM,
        end.as_bytes(),
    )));
    let mut response = answer(encoding, HeaderMap::new(), body);
    response.extensions_mut().insert(Refused(error.code));
    response
}

/// Converts the caller's JSON messages to binary envelopes for upstream.
async fn json_to_binary(
    mut body: Body,
    method: MethodDescriptor,
    sender: FrameSender,
    request_error: Arc<Mutex<Option<ConnectError>>>,
) {
    let input = method.input();
    let mut buffer = BytesMut::new();
    let fail = |error: ConnectError| {
        let status = Status::new(error.code, error.message.clone());
        if let Ok(mut slot) = request_error.lock() {
            *slot = Some(error);
        }
        Err(status)
    };
    while let Some(frame) = body.frame().await {
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Err(status) => {
                let _ = sender.send(Err(status)).await;
                return;
            }
        };
        buffer.extend_from_slice(&data);
        if codec::announced_length(&buffer).is_some_and(|length| length > codec::MAX_BODY_BYTES) {
            let error = ConnectError::new(Code::ResourceExhausted, "A stream message is too large");
            let _ = sender.send(fail(error)).await;
            return;
        }
        while let Some((flags, message)) = codec::take_envelope(&mut buffer) {
            let converted = if flags & FLAG_COMPRESSED != 0 {
                Err(ConnectError::new(
                    Code::Unimplemented,
                    "Compressed stream messages are not supported",
                ))
            } else {
                codec::to_binary(Encoding::Json, &message, &input)
            };
            let frame = match converted {
                Ok(binary) => Ok(Frame::data(codec::envelope(0, &binary))),
                Err(error) => fail(error),
            };
            let failed = frame.is_err();
            if sender.send(frame).await.is_err() || failed {
                return;
            }
        }
    }
}

/// What the answer's conversion needs to know.
struct Answer {
    encoding: Encoding,
    method: MethodDescriptor,
    descriptors: Descriptors,
    request_error: Arc<Mutex<Option<ConnectError>>>,
}

/// Passes upstream's messages on (converted to JSON if asked) and ends with the end-of-stream
/// frame made from its status and trailers.
async fn grpc_to_connect(headers: HeaderMap, mut body: Body, answer: Answer, sender: FrameSender) {
    let output = answer.method.output();
    let mut buffer = BytesMut::new();
    let mut trailers = HeaderMap::new();
    let mut error = None;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(status) => {
                error = Some(ConnectError::from_status(&status));
                break;
            }
        };
        let frame = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                if let Ok(received) = frame.into_trailers() {
                    trailers = received;
                }
                continue;
            }
        };
        if answer.encoding == Encoding::Proto {
            if sender.send(Ok(Frame::data(frame))).await.is_err() {
                return;
            }
            continue;
        }
        buffer.extend_from_slice(&frame);
        while let Some((_, message)) = codec::take_envelope(&mut buffer) {
            match codec::from_binary(Encoding::Json, message, &output) {
                Ok(json) => {
                    if sender
                        .send(Ok(Frame::data(codec::envelope(0, &json))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(converted) => error = Some(converted),
            }
        }
    }
    let status = Status::from_header_map(&headers).or_else(|| Status::from_header_map(&trailers));
    let request_error = answer
        .request_error
        .lock()
        .ok()
        .and_then(|mut slot| slot.take());
    let error = request_error.or(error).or_else(|| match status {
        Some(status) if status.code() == Code::Ok => None,
        Some(status) => Some(ConnectError::from_status(&status)),
        None => Some(ConnectError::new(
            Code::Internal,
            "the call ended without a status",
        )),
    });
    let end = end_of_stream_json(
        error.as_ref(),
        &response_metadata(&trailers),
        &answer.descriptors,
    )
    .to_string();
    let _ = sender
        .send(Ok(Frame::data(codec::envelope(
            FLAG_END_STREAM,
            end.as_bytes(),
        ))))
        .await;
}
