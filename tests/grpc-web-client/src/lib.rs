//! The gRPC-web client the tests and benchmarks call the gateway with, as the dashboard does:
//! framing a request ([`frame`], [`data_frame`]), posting it ([`post`]), and taking the answer
//! apart ([`Reply`]): data frames, and the status from the trailer frame or, for a
//! trailers-only answer, from the HTTP headers.
//!
//! It reads answers leniently (a cut frame ends the reading, a trailer line without `:` is
//! skipped, text is decoded lossily) so that load tests can count bad answers instead of
//! panicking; tests assert on what it found.

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use prost::Message;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tonic::{Code, Status};

/// The content type the load tests and benchmarks send: binary, with the explicit `+proto`.
pub const CONTENT_TYPE_PROTO: &str = "application/grpc-web+proto";

/// Flag byte of a data frame (uncompressed message).
pub const DATA: u8 = 0x00;
/// Flag bit of a trailer frame.
pub const TRAILERS: u8 = 0x80;

/// The two gRPC-web encodings browsers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `application/grpc-web`: frames as bytes.
    Binary,
    /// `application/grpc-web-text`: each frame base64-encoded.
    Text,
}

impl Wire {
    /// The content type a browser sends for this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Wire::Binary => "application/grpc-web",
            Wire::Text => "application/grpc-web-text",
        }
    }

    /// tonic-web always answers with the explicit `+proto` form.
    pub fn response_content_type(self) -> &'static str {
        match self {
            Wire::Binary => "application/grpc-web+proto",
            Wire::Text => "application/grpc-web-text+proto",
        }
    }

    /// A request body in this encoding, from binary frames.
    pub fn encode(self, frames: Vec<u8>) -> Vec<u8> {
        match self {
            Wire::Binary => frames,
            Wire::Text => general_purpose::STANDARD.encode(frames).into_bytes(),
        }
    }

    /// Binary frames from a response body in this encoding.
    pub fn decode(self, body: &[u8]) -> Vec<u8> {
        match self {
            Wire::Binary => body.to_vec(),
            Wire::Text => decode_base64_chunks(body),
        }
    }
}

/// One gRPC-web frame: a flag byte ([`DATA`], [`TRAILERS`]), a big-endian length, the payload.
pub fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    frame_claiming(
        flag,
        u32::try_from(payload.len()).unwrap_or(u32::MAX),
        payload,
    )
}

/// A frame whose length field says `len`, whatever the payload's length (for malformed input).
pub fn frame_claiming(flag: u8, len: u32, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 5);
    frame.push(flag);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// The data frame of a unary request.
pub fn data_frame(message: &impl Message) -> Vec<u8> {
    frame(DATA, &message.encode_to_vec())
}

/// A POST of `body` to `url` as a gRPC-web call: `content-type` and `accept` set to
/// `content_type`, and `x-grpc-web: 1`. Add the cookie and other headers to the builder.
pub fn post(
    http: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::RequestBuilder {
    http.post(url)
        .header("content-type", content_type)
        .header("accept", content_type)
        .header("x-grpc-web", "1")
        .body(body)
}

/// Signs in at the gateway (`gateway` is its base URL, `http://host:port`) as the sign-in form
/// does, from the gateway's own origin, and returns the session cookie (`name=value`) to send
/// with calls. The client must not follow redirects: success is the 303 to the dashboard.
pub async fn sign_in(http: &reqwest::Client, gateway: &str, token: &str) -> Result<String, String> {
    let token: String = token
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect();
    let signed_in = http
        .post(format!("{gateway}/session"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", gateway)
        .body(format!("token={token}"))
        .send()
        .await
        .map_err(|err| format!("signing in: {err}"))?;
    if signed_in.status() != StatusCode::SEE_OTHER {
        return Err(format!("signing in: HTTP {}", signed_in.status()));
    }
    signed_in
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| "signing in: no session cookie".to_owned())
}

/// A gRPC-web response taken apart.
#[derive(Debug)]
pub struct Reply {
    pub http_status: StatusCode,
    pub headers: HeaderMap,
    /// The payloads of the data frames, in order.
    pub messages: Vec<Vec<u8>>,
    /// The trailer frames' fields, names in lower case.
    pub trailers: Vec<(String, String)>,
    /// The body ended inside a frame.
    pub truncated: bool,
}

impl Reply {
    /// Reads a whole response in the given encoding.
    pub async fn read(response: reqwest::Response, wire: Wire) -> reqwest::Result<Self> {
        let http_status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        Ok(Self::parse(http_status, headers, &wire.decode(&body)))
    }

    /// Takes binary frames apart.
    pub fn parse(http_status: StatusCode, headers: HeaderMap, body: &[u8]) -> Self {
        let mut reply = Self {
            http_status,
            headers,
            messages: Vec::new(),
            trailers: Vec::new(),
            truncated: false,
        };
        let mut rest = body;
        while !rest.is_empty() {
            let Some((&flag, after_flag)) = rest.split_first() else {
                break;
            };
            let Some(len) = after_flag
                .get(..4)
                .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
                .map(|bytes| u32::from_be_bytes(bytes) as usize)
            else {
                reply.truncated = true;
                break;
            };
            let Some(payload) = rest.get(5..5 + len) else {
                reply.truncated = true;
                break;
            };
            rest = &rest[5 + len..];
            if flag & TRAILERS == 0 {
                reply.messages.push(payload.to_vec());
            } else {
                for line in String::from_utf8_lossy(payload).split("\r\n") {
                    if let Some((name, value)) = line.split_once(':') {
                        reply
                            .trailers
                            .push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                    }
                }
            }
        }
        reply
    }

    /// A status field (`grpc-status`, `grpc-message`, ...) from the trailers or the headers.
    pub fn metadata(&self, name: &str) -> Option<String> {
        self.trailers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .or_else(|| {
                self.headers
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned)
            })
    }

    /// `grpc-status` as a number, if the answer has one.
    pub fn grpc_status(&self) -> Option<i32> {
        self.metadata("grpc-status")?.parse().ok()
    }

    /// The gRPC code; UNKNOWN when the answer carries none.
    pub fn code(&self) -> Code {
        self.grpc_status().map_or(Code::Unknown, Code::from_i32)
    }

    /// `grpc-message`, percent-decoded.
    pub fn grpc_message(&self) -> String {
        percent_decode(&self.metadata("grpc-message").unwrap_or_default())
    }

    /// The last data frame decoded as `M`, if there is one and it decodes.
    pub fn decode<M: Message + Default>(&self) -> Option<M> {
        M::decode(&self.messages.last()?[..]).ok()
    }

    /// The only data frame decoded as `M`: `None` when there is not exactly one, or it does not
    /// decode.
    pub fn only_message<M: Message + Default>(&self) -> Option<M> {
        match &self.messages[..] {
            [only] => M::decode(&only[..]).ok(),
            _ => None,
        }
    }

    /// The status as a tonic client would see it, details (`grpc-status-details-bin`) included.
    pub fn status(&self) -> Status {
        let details = self
            .metadata("grpc-status-details-bin")
            .and_then(|value| lenient_base64().decode(value).ok())
            .unwrap_or_default();
        Status::with_details(self.code(), self.grpc_message(), details.into())
    }
}

/// grpc-web-text sends each frame base64-encoded on its own, padding included, so the body is
/// decoded one 4-character group at a time (a group that does not decode is dropped).
fn decode_base64_chunks(text: &[u8]) -> Vec<u8> {
    text.chunks(4)
        .flat_map(|group| lenient_base64().decode(group).unwrap_or_default())
        .collect()
}

fn lenient_base64() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// `grpc-message` is percent-encoded; an escape that is not one is kept as it is.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_through_a_reply() {
        let mut body = frame(DATA, b"hello");
        body.extend(frame(
            TRAILERS,
            b"grpc-status:5\r\ngrpc-message:no%20such%20tenant\r\n",
        ));
        let reply = Reply::parse(StatusCode::OK, HeaderMap::new(), &body);
        assert_eq!(reply.messages, vec![b"hello".to_vec()]);
        assert_eq!(reply.code(), Code::NotFound);
        assert_eq!(reply.grpc_message(), "no such tenant");
        assert!(!reply.truncated);
    }

    #[test]
    fn a_cut_frame_ends_the_reading() {
        let body = frame_claiming(DATA, 10, b"abc");
        let reply = Reply::parse(StatusCode::OK, HeaderMap::new(), &body);
        assert!(reply.truncated);
        assert!(reply.messages.is_empty());
        assert_eq!(reply.grpc_status(), None);
    }

    #[test]
    fn text_bodies_decode_frame_by_frame() {
        let frames = [frame(DATA, b"a"), frame(TRAILERS, b"grpc-status:0")];
        let text: Vec<u8> = frames
            .iter()
            .flat_map(|f| Wire::Text.encode(f.clone()))
            .collect();
        let reply = Reply::parse(StatusCode::OK, HeaderMap::new(), &Wire::Text.decode(&text));
        assert_eq!(reply.messages, vec![b"a".to_vec()]);
        assert_eq!(reply.code(), Code::Ok);
    }
}
