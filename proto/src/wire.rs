//! What budget-service and the gateway agree on besides the messages: the request-id header and
//! which of its values are passed on, the names the metrics give gRPC status codes and methods,
//! and how a call is counted once its status is known. Both sides count and label their calls
//! with these, so a code or a request id reads the same in either.
//!
//! A method label is always one of a fixed list (anything else is `unknown`): the path of a call
//! is chosen by the caller, signed in or not, and every distinct label is a new time series
//! kept for the life of the process.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{HeaderMap, Response};
use http_body::{Body, Frame, SizeHint};

include!(concat!(env!("OUT_DIR"), "/budget_methods.rs"));

/// The method label of every call whose path is not one of the known methods.
pub const UNKNOWN_METHOD: &str = "unknown";

/// The label of a call to `path` (`/package.Service/Method`): the path without its slash when
/// it is one of `known` (written the same way), else [`UNKNOWN_METHOD`].
pub fn method_label(path: &str, known: &[&'static str]) -> &'static str {
    let path = path.strip_prefix('/').unwrap_or(path);
    known
        .iter()
        .find(|candidate| **candidate == path)
        .copied()
        .unwrap_or(UNKNOWN_METHOD)
}

/// The largest request message budget-service decodes (its `max_decoding_message_size`); the
/// gateway holds Connect requests to the same limit so callers read why it refused one.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The header carrying a call's id from the browser through the gateway to budget-service.
pub const REQUEST_ID: &str = "x-request-id";

/// 1 to 128 characters of letters, digits and `-_.:`; anything else is replaced.
pub fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The gRPC status code's name from `grpc-status`, if the headers carry one (a value that is
/// not a code reads as UNKNOWN).
pub fn grpc_code(headers: &HeaderMap) -> Option<&'static str> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    Some(code_name(value.trim().parse().unwrap_or(2)))
}

/// The canonical name of a gRPC status code, e.g. `NOT_FOUND` for 5.
pub fn code_name(code: u8) -> &'static str {
    match code {
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
    }
}

/// Where a side counts its finished calls (its Prometheus metrics).
pub trait CallMetrics: Send + Sync + 'static {
    fn grpc_call(&self, method: &str, code: &str, elapsed: Duration);
}

/// One call still to be counted, exactly once: with its gRPC code when the answer's status goes
/// by, as CANCELLED when the caller leaves first (the record is dropped unfinished).
pub struct CallRecord<M: CallMetrics> {
    metrics: Arc<M>,
    method: &'static str,
    started: Instant,
    done: bool,
}

impl<M: CallMetrics> CallRecord<M> {
    /// Starts the clock for a call of `method`, a label from a fixed list ([`method_label`]).
    pub fn start(metrics: Arc<M>, method: &'static str) -> Self {
        Self {
            metrics,
            method,
            started: Instant::now(),
            done: false,
        }
    }

    fn finish(&mut self, code: &str) {
        if self.done {
            return;
        }
        self.done = true;
        // Known methods a server does not implement share the one label too.
        let method = if code == "UNIMPLEMENTED" {
            UNKNOWN_METHOD
        } else {
            self.method
        };
        self.metrics.grpc_call(method, code, self.started.elapsed());
    }

    /// Counts the call now when the answer is trailers-only (its status in the headers), else
    /// when its body's trailers, error or end go by.
    pub fn observe<B>(mut self, response: Response<B>) -> Response<ObservedBody<B, M>> {
        if let Some(code) = grpc_code(response.headers()) {
            self.finish(code);
        }
        let record = (!self.done).then_some(self);
        response.map(|inner| ObservedBody { inner, record })
    }
}

impl<M: CallMetrics> Drop for CallRecord<M> {
    fn drop(&mut self) {
        self.finish("CANCELLED");
    }
}

/// A response body that counts its call when the trailers (or its end, or an error) go by.
pub struct ObservedBody<B, M: CallMetrics> {
    inner: B,
    record: Option<CallRecord<M>>,
}

impl<B: Body + Unpin, M: CallMetrics> Body for ObservedBody<B, M> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use http::HeaderValue;
    use http_body_util::{BodyExt, Empty, StreamBody};

    #[derive(Default)]
    struct Counted(Mutex<Vec<(String, String)>>);

    impl CallMetrics for Counted {
        fn grpc_call(&self, method: &str, code: &str, _elapsed: Duration) {
            self.0.lock().unwrap().push((method.into(), code.into()));
        }
    }

    impl Counted {
        fn calls(&self) -> Vec<(String, String)> {
            self.0.lock().unwrap().clone()
        }
    }

    fn pair(method: &str, code: &str) -> (String, String) {
        (method.into(), code.into())
    }

    #[tokio::test]
    async fn each_call_is_counted_once_with_its_code() {
        let metrics = Arc::new(Counted::default());
        // Trailers-only: counted at once, from the headers.
        let mut headers_only = Response::new(Empty::<bytes::Bytes>::new());
        headers_only
            .headers_mut()
            .insert("grpc-status", HeaderValue::from_static("5"));
        let observed = CallRecord::start(metrics.clone(), "A").observe(headers_only);
        assert_eq!(metrics.calls(), [pair("A", "NOT_FOUND")]);
        drop(observed);
        assert_eq!(metrics.calls().len(), 1, "never counted twice");

        // Status in the trailers: counted when they go by.
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        let frames = vec![
            Ok::<_, std::convert::Infallible>(Frame::data(bytes::Bytes::from_static(b"x"))),
            Ok(Frame::trailers(trailers)),
        ];
        let body = StreamBody::new(futures::stream::iter(frames));
        let observed = CallRecord::start(metrics.clone(), "B").observe(Response::new(body));
        assert_eq!(metrics.calls().len(), 1, "not before the trailers");
        observed.into_body().collect().await.unwrap();
        assert_eq!(metrics.calls()[1], pair("B", "OK"));

        // The caller left before any status: CANCELLED. Unknown paths share one label.
        let observed = CallRecord::start(metrics.clone(), "C")
            .observe(Response::new(Empty::<bytes::Bytes>::new()));
        drop(observed);
        let mut unimplemented = Response::new(Empty::<bytes::Bytes>::new());
        unimplemented
            .headers_mut()
            .insert("grpc-status", HeaderValue::from_static("12"));
        let _ = CallRecord::start(metrics.clone(), "nope/Nope").observe(unimplemented);
        assert_eq!(
            metrics.calls()[2..],
            [pair("C", "CANCELLED"), pair("unknown", "UNIMPLEMENTED")]
        );
    }

    #[test]
    fn only_known_methods_become_labels() {
        let known = BUDGET_SERVICE_PATHS;
        assert!(known.contains(&"budget.v1.BudgetService/GetBudgetStatus"));
        assert!(BUDGET_SERVICE_METHODS.contains(&"WhoAmI"));
        assert_eq!(known.len(), BUDGET_SERVICE_METHODS.len());
        assert_eq!(
            method_label("/budget.v1.BudgetService/GetBudgetStatus", known),
            "budget.v1.BudgetService/GetBudgetStatus"
        );
        for path in [
            "/budget.v1.BudgetService/Random123",
            "/budget.v1.BudgetService/GetBudgetStatus/x",
            "/budget.v1.BudgetService/getbudgetstatus",
            "/x/budget.v1.BudgetService/GetBudgetStatus",
            "",
            "/",
        ] {
            assert_eq!(method_label(path, known), UNKNOWN_METHOD, "{path}");
        }
    }

    #[test]
    fn request_ids_are_checked() {
        assert!(is_sane_request_id("abc-123_x.y:z"));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id("has space"));
        assert!(!is_sane_request_id(&"a".repeat(129)));
    }

    #[test]
    fn codes_are_named() {
        let mut headers = HeaderMap::new();
        assert_eq!(grpc_code(&headers), None);
        headers.insert("grpc-status", HeaderValue::from_static("5"));
        assert_eq!(grpc_code(&headers), Some("NOT_FOUND"));
        headers.insert("grpc-status", HeaderValue::from_static("16"));
        assert_eq!(grpc_code(&headers), Some("UNAUTHENTICATED"));
        headers.insert("grpc-status", HeaderValue::from_static("x"));
        assert_eq!(grpc_code(&headers), Some("UNKNOWN"));
        assert_eq!(code_name(2), "UNKNOWN");
        assert_eq!(code_name(200), "UNKNOWN");
    }
}
