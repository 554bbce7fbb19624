//! The application's tracer provider: spans are batched and sent over OTLP/gRPC to the
//! configured collector, or, without an endpoint, nothing is built and no span is made.

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::settings::TraceSettings;
use crate::tracer::Tracer;

/// The exporter could not be built from the settings.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP trace exporter: {0}")]
pub struct TelemetryError(String);

/// One application's traces: its provider (with the batching exporter) and its [`Tracer`].
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    tracer: Tracer,
}

impl Telemetry {
    /// No traces: the tracer makes no spans.
    pub fn disabled() -> Telemetry {
        Telemetry::default()
    }

    /// The provider for `settings`, or [`Telemetry::disabled`] without an endpoint. Call it
    /// inside a Tokio runtime: the exporter's channel lives there. The channel connects on
    /// first use, so a collector that is down costs spans, never the start.
    ///
    /// The SDK reads a few standard variables of its own: OTEL_RESOURCE_ATTRIBUTES, the
    /// batching's OTEL_BSP_*, and the exporter's OTEL_EXPORTER_OTLP_(TRACES_)HEADERS,
    /// _TIMEOUT, _COMPRESSION and _INSECURE.
    pub fn start(settings: &TraceSettings) -> Result<Telemetry, TelemetryError> {
        let Some(endpoint) = &settings.endpoint else {
            return Ok(Telemetry::disabled());
        };
        let exporter = SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|error| TelemetryError(error.to_string()))?;
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .with_attribute(KeyValue::new(
                "service.version",
                settings.service_version.clone(),
            ))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(settings.sampling.sampler())
            .with_resource(resource)
            .build();
        let tracer = Tracer::new(provider.tracer(env!("CARGO_PKG_NAME")));
        tracing::info!(
            %endpoint,
            service_name = %settings.service_name,
            "exporting traces over OTLP/gRPC"
        );
        Ok(Telemetry {
            provider: Some(provider),
            tracer,
        })
    }

    /// What makes this application's spans (a no-op when traces are off).
    pub fn tracer(&self) -> Tracer {
        self.tracer.clone()
    }

    /// Exports the spans still waiting and stops the exporter; spans made later are dropped.
    /// The SDK blocks while it flushes, so that runs beside the runtime, whose tasks carry the
    /// export.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "flushing traces at shutdown failed"),
            Err(error) => tracing::warn!(%error, "flushing traces at shutdown failed"),
        }
    }
}
