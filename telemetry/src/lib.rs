//! OpenTelemetry traces for budget-service and the gateway: the standard `OTEL_*` settings
//! ([`TraceArgs`], which each binary's config flattens), the exporter ([`Telemetry`]: OTLP over
//! gRPC, and nothing at all when no endpoint is set), spans ([`Tracer`], [`RpcSpan`]) and W3C
//! trace context in HTTP headers ([`extract`], [`inject`]).
//!
//! Nothing here is global: each application builds its own [`Telemetry`] and hands its
//! [`Tracer`] to what makes spans, so two applications in one process (the tests) export under
//! their own service names. A span travels with its work as an [`Context`]: a future runs
//! inside one with [`FutureExt::with_context`], and what it calls finds it with
//! [`Context::current`].

mod exporter;
mod propagation;
mod settings;
mod tracer;

pub use exporter::{Telemetry, TelemetryError};
pub use propagation::{TRACEPARENT, TRACESTATE, extract, inject, trace_id};
pub use settings::{ParentlessRule, Sampling, TraceArgs, TraceSettings};
pub use tracer::{RpcSpan, Tracer, record_error};

pub use opentelemetry::context::FutureExt;
pub use opentelemetry::trace::{SpanKind, TraceContextExt};
pub use opentelemetry::{Context, KeyValue};
