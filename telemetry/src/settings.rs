//! The standard OpenTelemetry variables both binaries honour, as clap arguments their configs
//! flatten (so they are read with the rest of the config, once, at startup), and their checks.

use opentelemetry_sdk::trace::Sampler;

/// Where and how traces are exported: OpenTelemetry's standard variables. Without an endpoint
/// nothing is exported and no span is made.
#[derive(clap::Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceArgs {
    /// The OTLP/gRPC collector traces go to, e.g. http://otel-collector:4317. Unset (with
    /// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT unset too): no traces.
    #[arg(
        long = "otel-exporter-otlp-endpoint",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT"
    )]
    pub endpoint: Option<String>,
    /// The collector for traces only; wins over OTEL_EXPORTER_OTLP_ENDPOINT.
    #[arg(
        long = "otel-exporter-otlp-traces-endpoint",
        env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )]
    pub traces_endpoint: Option<String>,
    /// The OTLP transport: only `grpc` is supported.
    #[arg(
        long = "otel-exporter-otlp-protocol",
        env = "OTEL_EXPORTER_OTLP_PROTOCOL"
    )]
    pub protocol: Option<String>,
    /// The OTLP transport for traces; wins over OTEL_EXPORTER_OTLP_PROTOCOL.
    #[arg(
        long = "otel-exporter-otlp-traces-protocol",
        env = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
    )]
    pub traces_protocol: Option<String>,
    /// The `service.name` of every span (default: the binary's name).
    #[arg(long = "otel-service-name", env = "OTEL_SERVICE_NAME")]
    pub service_name: Option<String>,
    /// Which traces are kept: always_on, always_off, traceidratio, parentbased_always_on (the
    /// default), parentbased_always_off or parentbased_traceidratio.
    #[arg(long = "otel-traces-sampler", env = "OTEL_TRACES_SAMPLER")]
    pub sampler: Option<String>,
    /// The share of traces the traceidratio samplers keep, from 0 to 1 (default 1).
    #[arg(long = "otel-traces-sampler-arg", env = "OTEL_TRACES_SAMPLER_ARG")]
    pub sampler_arg: Option<String>,
    /// `true` turns traces off, whatever else is set.
    #[arg(long = "otel-sdk-disabled", env = "OTEL_SDK_DISABLED")]
    pub sdk_disabled: Option<String>,
}

/// Which traces are kept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    AlwaysOn,
    AlwaysOff,
    /// This share (0 to 1) of traces, by trace id.
    Ratio(f64),
    /// The caller's decision when a `traceparent` came with the call, else the rule inside.
    ParentBased(ParentlessRule),
}

/// What a parent-based sampler does with traces that start here.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParentlessRule {
    AlwaysOn,
    AlwaysOff,
    Ratio(f64),
}

impl Sampling {
    pub(crate) fn sampler(self) -> Sampler {
        let parentless = |rule| match rule {
            ParentlessRule::AlwaysOn => Sampler::AlwaysOn,
            ParentlessRule::AlwaysOff => Sampler::AlwaysOff,
            ParentlessRule::Ratio(ratio) => Sampler::TraceIdRatioBased(ratio),
        };
        match self {
            Sampling::AlwaysOn => Sampler::AlwaysOn,
            Sampling::AlwaysOff => Sampler::AlwaysOff,
            Sampling::Ratio(ratio) => Sampler::TraceIdRatioBased(ratio),
            Sampling::ParentBased(rule) => Sampler::ParentBased(Box::new(parentless(rule))),
        }
    }
}

/// Checked trace settings: `endpoint` is `None` when traces are off.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSettings {
    pub endpoint: Option<String>,
    pub service_name: String,
    pub service_version: String,
    pub sampling: Sampling,
}

impl TraceSettings {
    /// No traces.
    pub fn off(service_name: &str, service_version: &str) -> TraceSettings {
        TraceSettings {
            endpoint: None,
            service_name: service_name.to_owned(),
            service_version: service_version.to_owned(),
            sampling: Sampling::ParentBased(ParentlessRule::AlwaysOn),
        }
    }
}

impl TraceArgs {
    /// Checks the values, with an error naming the variable at fault. `service_name` and
    /// `service_version` name the binary (OTEL_SERVICE_NAME replaces the name).
    pub fn settings(
        &self,
        service_name: &str,
        service_version: &str,
    ) -> Result<TraceSettings, String> {
        let set = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let mut settings = TraceSettings::off(service_name, service_version);
        if let Some(name) = set(&self.service_name) {
            settings.service_name = name;
        }
        settings.sampling = sampling(set(&self.sampler).as_deref(), set(&self.sampler_arg))?;
        let (protocol_var, protocol) = match (set(&self.traces_protocol), set(&self.protocol)) {
            (Some(traces), _) => ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", Some(traces)),
            (None, generic) => ("OTEL_EXPORTER_OTLP_PROTOCOL", generic),
        };
        if let Some(protocol) = protocol.filter(|p| p != "grpc") {
            return Err(format!(
                "{protocol_var} is {protocol:?}, but only grpc is supported: point the endpoint \
                 at the collector's OTLP/gRPC port (usually 4317)"
            ));
        }
        let (endpoint_var, endpoint) = match (set(&self.traces_endpoint), set(&self.endpoint)) {
            (Some(traces), _) => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Some(traces)),
            (None, generic) => ("OTEL_EXPORTER_OTLP_ENDPOINT", generic),
        };
        if let Some(endpoint) = &endpoint {
            check_endpoint(endpoint).map_err(|why| format!("{endpoint_var} {why}"))?;
        }
        let disabled = set(&self.sdk_disabled).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        settings.endpoint = endpoint.filter(|_| !disabled);
        Ok(settings)
    }
}

/// An OTLP/gRPC endpoint: http or https, with a host.
fn check_endpoint(endpoint: &str) -> Result<(), &'static str> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|_| "must be an http:// or https:// URL")?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(()),
        _ => Err("must be an http:// or https:// URL"),
    }
}

/// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
fn sampling(name: Option<&str>, arg: Option<String>) -> Result<Sampling, String> {
    let ratio = || match arg.as_deref() {
        None => Ok(1.0),
        Some(text) => text
            .parse::<f64>()
            .ok()
            .filter(|ratio| (0.0..=1.0).contains(ratio))
            .ok_or_else(|| {
                format!("OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1, got {text:?}")
            }),
    };
    Ok(match name.unwrap_or("parentbased_always_on") {
        "always_on" => Sampling::AlwaysOn,
        "always_off" => Sampling::AlwaysOff,
        "traceidratio" => Sampling::Ratio(ratio()?),
        "parentbased_always_on" => Sampling::ParentBased(ParentlessRule::AlwaysOn),
        "parentbased_always_off" => Sampling::ParentBased(ParentlessRule::AlwaysOff),
        "parentbased_traceidratio" => Sampling::ParentBased(ParentlessRule::Ratio(ratio()?)),
        other => {
            return Err(format!(
                "OTEL_TRACES_SAMPLER must be one of always_on, always_off, traceidratio, \
                 parentbased_always_on, parentbased_always_off, parentbased_traceidratio; got \
                 {other:?}"
            ));
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings(args: TraceArgs) -> Result<TraceSettings, String> {
        args.settings("budget-service", "1.2.3")
    }

    #[test]
    fn nothing_set_means_no_traces() {
        let off = settings(TraceArgs::default()).unwrap();
        assert_eq!(off, TraceSettings::off("budget-service", "1.2.3"));
        let blank = TraceArgs {
            endpoint: Some("  ".into()),
            ..TraceArgs::default()
        };
        assert_eq!(settings(blank).unwrap().endpoint, None);
    }

    #[test]
    fn the_traces_endpoint_wins_and_sdk_disabled_turns_traces_off() {
        let args = TraceArgs {
            endpoint: Some("http://collector:4317".into()),
            traces_endpoint: Some("https://traces.example:4317".into()),
            service_name: Some("budget-eu".into()),
            ..TraceArgs::default()
        };
        let on = settings(args.clone()).unwrap();
        assert_eq!(on.endpoint.as_deref(), Some("https://traces.example:4317"));
        assert_eq!(on.service_name, "budget-eu");
        let disabled = TraceArgs {
            sdk_disabled: Some("TRUE".into()),
            ..args
        };
        assert_eq!(settings(disabled).unwrap().endpoint, None);
    }

    #[test]
    fn bad_values_are_refused_naming_the_variable() {
        let error = |args: TraceArgs| settings(args).unwrap_err();
        let bad_endpoint = error(TraceArgs {
            endpoint: Some("collector:4317".into()),
            ..TraceArgs::default()
        });
        assert!(
            bad_endpoint.starts_with("OTEL_EXPORTER_OTLP_ENDPOINT "),
            "{bad_endpoint}"
        );
        let bad_traces_endpoint = error(TraceArgs {
            traces_endpoint: Some("ftp://collector".into()),
            ..TraceArgs::default()
        });
        assert!(bad_traces_endpoint.starts_with("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT "));
        let http = error(TraceArgs {
            protocol: Some("http/protobuf".into()),
            ..TraceArgs::default()
        });
        assert!(http.contains("only grpc"), "{http}");
        let sampler = error(TraceArgs {
            sampler: Some("xray".into()),
            ..TraceArgs::default()
        });
        assert!(sampler.starts_with("OTEL_TRACES_SAMPLER "), "{sampler}");
        for arg in ["1.5", "-0.1", "half"] {
            let ratio = error(TraceArgs {
                sampler: Some("traceidratio".into()),
                sampler_arg: Some(arg.into()),
                ..TraceArgs::default()
            });
            assert!(ratio.starts_with("OTEL_TRACES_SAMPLER_ARG "), "{ratio}");
        }
    }

    #[test]
    fn samplers_are_read_with_their_ratio() {
        let sampling = |name: &str, arg: Option<&str>| {
            settings(TraceArgs {
                sampler: Some(name.into()),
                sampler_arg: arg.map(Into::into),
                ..TraceArgs::default()
            })
            .unwrap()
            .sampling
        };
        assert_eq!(sampling("always_off", None), Sampling::AlwaysOff);
        assert_eq!(sampling("traceidratio", None), Sampling::Ratio(1.0));
        assert_eq!(
            sampling("parentbased_traceidratio", Some("0.25")),
            Sampling::ParentBased(ParentlessRule::Ratio(0.25))
        );
        assert_eq!(
            settings(TraceArgs::default()).unwrap().sampling,
            Sampling::ParentBased(ParentlessRule::AlwaysOn)
        );
    }
}
