//! W3C trace context (`traceparent`, `tracestate`) in HTTP headers: read from a caller's
//! request, written on the requests made for it. Values that are not valid trace context are
//! ignored, so a caller's bad header starts a new trace instead of failing the call.

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// The header naming the caller's trace and span.
pub const TRACEPARENT: &str = "traceparent";
/// The vendors' part of the trace context.
pub const TRACESTATE: &str = "tracestate";

/// The caller's trace context from `headers`; an empty context when there is none (or it is
/// not valid), so spans started under it begin a new trace.
pub fn extract(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&Reading(headers))
}

/// Replaces any trace context in `headers` with `cx`'s span, so the receiver's spans are its
/// children. A context without a span writes nothing.
pub fn inject(cx: &Context, headers: &mut HeaderMap) {
    headers.remove(TRACEPARENT);
    headers.remove(TRACESTATE);
    TraceContextPropagator::new().inject_context(cx, &mut Writing(headers));
}

/// The trace id of `cx`'s span in hex, for logs; `None` without a valid span.
pub fn trace_id(cx: &Context) -> Option<String> {
    let span = cx.span();
    let context = span.span_context();
    context.is_valid().then(|| context.trace_id().to_string())
}

struct Reading<'a>(&'a HeaderMap);

impl Extractor for Reading<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct Writing<'a>(&'a mut HeaderMap);

impl Injector for Writing<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The propagator writes an empty `tracestate` when there is none; nobody needs that.
        if value.is_empty() {
            return;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_callers_context_is_read_and_written_back() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(CALLER));
        let cx = extract(&headers);
        assert_eq!(
            trace_id(&cx).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        let mut out = HeaderMap::new();
        out.insert(TRACESTATE, HeaderValue::from_static("stale=1"));
        inject(&cx, &mut out);
        assert_eq!(out[TRACEPARENT], CALLER);
        assert!(
            !out.contains_key(TRACESTATE),
            "the caller sent no tracestate"
        );
    }

    #[test]
    fn invalid_or_missing_context_starts_afresh() {
        for bad in [
            "",
            "00-zz-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(TRACEPARENT, HeaderValue::from_str(bad).unwrap());
            assert_eq!(trace_id(&extract(&headers)), None, "{bad}");
        }
        assert_eq!(trace_id(&extract(&HeaderMap::new())), None);
    }

    #[test]
    fn a_context_without_a_span_writes_nothing() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(CALLER));
        inject(&Context::new(), &mut headers);
        assert!(headers.is_empty());
        let remote = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        inject(
            &Context::new().with_remote_span_context(remote),
            &mut headers,
        );
        assert_eq!(headers[TRACEPARENT], CALLER);
    }
}
