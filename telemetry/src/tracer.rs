//! Making spans: [`Tracer`] (nothing at all when traces are off) and [`RpcSpan`], which ends a
//! call's span with its gRPC code once the call is over.

use std::borrow::Cow;
use std::time::Duration;

use budget_proto::wire::{CallMetrics, code_name};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;

/// Makes one application's spans. Cheap to clone; [`Tracer::disabled`] makes none.
#[derive(Clone, Debug, Default)]
pub struct Tracer(Option<SdkTracer>);

impl Tracer {
    pub(crate) fn new(tracer: SdkTracer) -> Tracer {
        Tracer(Some(tracer))
    }

    /// A tracer that makes no spans (traces off, or a one-off command).
    pub fn disabled() -> Tracer {
        Tracer(None)
    }

    /// Whether spans are made (and so worth extracting a caller's context for).
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Starts a span of `kind` under `parent` and returns the context carrying it; with traces
    /// off, `parent` itself. End it with `cx.span().end()` (or let the last clone of the
    /// context go, which ends it then).
    pub fn start(
        &self,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
        parent: &Context,
    ) -> Context {
        match &self.0 {
            None => parent.clone(),
            Some(tracer) => {
                let span = tracer
                    .span_builder(name)
                    .with_kind(kind)
                    .with_attributes(attributes)
                    .start_with_context(tracer, parent);
                parent.with_span(span)
            }
        }
    }
}

/// Marks the span in `cx` failed, with a short description (never secrets or bodies).
pub fn record_error(cx: &Context, description: impl Into<Cow<'static, str>>) {
    cx.span().set_status(Status::error(description));
}

/// A gRPC call's span, ended with the call's code. It is a [`CallMetrics`], so the
/// [`CallRecord`](budget_proto::wire::CallRecord) that counts a call once also ends its span
/// once: with the code from the headers or trailers, or CANCELLED when the caller leaves.
#[derive(Debug)]
pub struct RpcSpan(Context);

impl RpcSpan {
    /// Ends the span in `cx` (if any) when the call's status is known.
    pub fn new(cx: Context) -> RpcSpan {
        RpcSpan(cx)
    }

    /// The RPC conventions' attributes of a call of `method`, a label such as
    /// `budget.v1.BudgetService/GetBudgetStatus` (or `unknown`).
    pub fn attributes(method: &'static str) -> Vec<KeyValue> {
        let (service, name) = method.split_once('/').unwrap_or(("unknown", method));
        vec![
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", service),
            KeyValue::new("rpc.method", name),
        ]
    }
}

impl CallMetrics for RpcSpan {
    fn grpc_call(&self, _method: &str, code: &str, _elapsed: Duration) {
        let span = self.0.span();
        let number = (0..=16u8)
            .find(|n| code_name(*n) == code)
            .map_or(2, i64::from);
        span.set_attribute(KeyValue::new("rpc.grpc.status_code", number));
        span.set_attribute(KeyValue::new("rpc.response.status_code", code.to_owned()));
        // The server's failures, as the RPC conventions count them; a caller's mistake
        // (INVALID_ARGUMENT, NOT_FOUND, ...) is not one.
        if matches!(
            code,
            "UNKNOWN"
                | "DEADLINE_EXCEEDED"
                | "UNIMPLEMENTED"
                | "INTERNAL"
                | "UNAVAILABLE"
                | "DATA_LOSS"
        ) {
            span.set_status(Status::error(code.to_owned()));
        }
        span.end();
    }
}
