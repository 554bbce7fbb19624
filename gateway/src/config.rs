//! The gateway's settings, read once at startup from flags or environment variables.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use clap::builder::TypedValueParser;
use clap::error::ErrorKind;

use crate::session::SessionKey;

/// Where the gateway listens, where budget-service is, how long a forwarded call may take, and how
/// sign-in sessions are sealed and how long they last.
#[derive(Debug, Clone, Parser)]
#[command(name = "budget-gateway", version, about)]
pub struct Config {
    /// The address to serve the dashboard and gRPC-web on; port 0 picks a free port.
    #[arg(long, env = "GATEWAY_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// The address `/metrics` (Prometheus) is served on: a listener of its own, never the public
    /// port, so only what can reach this address can read the metrics; port 0 picks a free port.
    #[arg(long, env = "GATEWAY_METRICS_ADDR", default_value = "127.0.0.1:9090")]
    pub metrics_addr: SocketAddr,

    /// Whether the session cookie is Secure (sent over HTTPS only, and named
    /// `__Host-budget_session`) and every response carries Strict-Transport-Security. Unset: on,
    /// unless GATEWAY_ADDR is a loopback address (a gateway tried out over plain HTTP).
    #[arg(long, env = "GATEWAY_COOKIE_SECURE", action = clap::ArgAction::Set)]
    pub cookie_secure: Option<bool>,

    /// Failed sign-ins one client address may make in a burst; after that it gets HTTP 429 with
    /// Retry-After until GATEWAY_SIGNIN_FAILURES_PER_MIN refills it. Successful sign-ins never count.
    #[arg(
        long,
        env = "GATEWAY_SIGNIN_FAILURE_BURST",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..=100_000),
    )]
    pub signin_failure_burst: u32,

    /// Failed sign-ins per minute a client address regains after its burst.
    #[arg(
        long,
        env = "GATEWAY_SIGNIN_FAILURES_PER_MIN",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..=100_000),
    )]
    pub signin_failures_per_min: u32,

    /// The gRPC address of budget-service: `http://host:port` (plain-HTTP h2c) or
    /// `https://host:port` (TLS, checked against GATEWAY_SERVICE_CA_FILE).
    #[arg(
        long,
        env = "BUDGET_SERVICE_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub budget_service_url: http::Uri,

    /// PEM CA certificate(s) that budget-service's certificate must chain to; required when
    /// BUDGET_SERVICE_URL is https, unused when it is http.
    #[arg(long = "service-ca-file", env = "GATEWAY_SERVICE_CA_FILE")]
    pub service_ca_file: Option<std::path::PathBuf>,

    /// The deadline for a forwarded call when the browser sends no `grpc-timeout`, and the longest
    /// the gateway ever waits for budget-service.
    #[arg(
        long = "upstream-timeout-secs",
        env = "GATEWAY_UPSTREAM_TIMEOUT_SECS",
        default_value = "10",
        value_parser = parse_positive_secs,
    )]
    pub upstream_timeout: Duration,

    /// The key that seals session cookies: 32 bytes in base64 (`openssl rand -base64 32`). Every
    /// replica behind one address needs the same key. Unset, each start picks a random key, so
    /// sessions end when the gateway restarts and other replicas cannot read them.
    #[arg(
        long,
        env = "GATEWAY_SESSION_KEY",
        hide_env_values = true,
        value_parser = SessionKeyParser,
    )]
    pub session_key: Option<SessionKey>,

    /// How long a sign-in lasts; after it the browser must sign in again.
    #[arg(
        long = "session-ttl-secs",
        env = "GATEWAY_SESSION_TTL_SECS",
        default_value = "43200",
        value_parser = parse_positive_secs,
    )]
    pub session_ttl: Duration,

    /// OpenTelemetry traces: OTEL_EXPORTER_OTLP_ENDPOINT and the other standard variables.
    #[command(flatten)]
    pub traces: budget_telemetry::TraceArgs,
}

/// Parses `GATEWAY_SESSION_KEY` with an error of its own: clap's usual message repeats the
/// refused value, which would print (most of) a secret.
#[derive(Debug, Clone, Copy)]
struct SessionKeyParser;

impl TypedValueParser for SessionKeyParser {
    type Value = SessionKey;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<SessionKey, clap::Error> {
        let parsed = value
            .to_str()
            .ok_or_else(|| "is not text".to_owned())
            .and_then(|text| SessionKey::from_base64(text).map_err(|err| err.to_string()));
        parsed.map_err(|reason| {
            clap::Error::raw(
                ErrorKind::ValueValidation,
                format!("GATEWAY_SESSION_KEY (--session-key) {reason}\n"),
            )
            .with_cmd(cmd)
        })
    }
}

fn parse_positive_secs(value: &str) -> Result<Duration, String> {
    match value.parse::<u64>() {
        Ok(0) => Err("must be at least 1 second".to_owned()),
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(err) => Err(format!("not a whole number of seconds: {err}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let config = Config::try_parse_from(["budget-gateway"]).unwrap();
        assert_eq!(config.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.budget_service_url, "http://127.0.0.1:50051");
        assert_eq!(config.upstream_timeout, Duration::from_secs(10));
        assert_eq!(config.session_key, None);
        assert_eq!(config.session_ttl, Duration::from_secs(43_200));
        assert_eq!(config.service_ca_file, None);
        assert_eq!(config.metrics_addr, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(config.cookie_secure, None);
        assert_eq!(config.signin_failure_burst, 10);
        assert_eq!(config.signin_failures_per_min, 10);
        assert_eq!(config.traces, budget_telemetry::TraceArgs::default());
    }

    #[test]
    fn flags_override_defaults() {
        let config = Config::try_parse_from([
            "budget-gateway",
            "--addr",
            "0.0.0.0:9000",
            "--budget-service-url",
            "http://budget-service:50051",
            "--upstream-timeout-secs",
            "3",
            "--session-key",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "--session-ttl-secs",
            "600",
        ])
        .unwrap();
        assert_eq!(config.addr.port(), 9000);
        assert_eq!(config.budget_service_url.host(), Some("budget-service"));
        assert_eq!(config.upstream_timeout, Duration::from_secs(3));
        let key: [u8; 32] = std::array::from_fn(|i| u8::try_from(i).unwrap());
        assert_eq!(config.session_key, Some(SessionKey::from_bytes(key)));
        assert_eq!(config.session_ttl, Duration::from_secs(600));
    }

    #[test]
    fn a_bad_session_key_is_refused_without_repeating_it() {
        for bad in ["c2hvcnQ=", "not base64 at all!"] {
            let err = Config::try_parse_from(["budget-gateway", "--session-key", bad]).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("GATEWAY_SESSION_KEY"), "{message}");
            assert!(!message.contains(bad), "{message}");
        }
        let config = Config::try_parse_from([
            "budget-gateway",
            "--session-key",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ])
        .unwrap();
        assert!(!format!("{config:?}").contains("AAECAwQF"));
    }

    #[test]
    fn zero_timeout_is_refused() {
        assert!(
            Config::try_parse_from(["budget-gateway", "--upstream-timeout-secs", "0"]).is_err()
        );
        assert!(Config::try_parse_from(["budget-gateway", "--session-ttl-secs", "0"]).is_err());
    }
}
