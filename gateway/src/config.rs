//! The gateway's settings, read once at startup from flags or environment variables.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// Where the gateway listens, where budget-service is, and how long a forwarded call may take.
#[derive(Debug, Clone, Parser)]
#[command(name = "budget-gateway", version, about)]
pub struct Config {
    /// The address to serve the dashboard and gRPC-web on; port 0 picks a free port.
    #[arg(long, env = "GATEWAY_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// The plain-HTTP (h2c) gRPC address of budget-service.
    #[arg(
        long,
        env = "BUDGET_SERVICE_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub budget_service_url: http::Uri,

    /// The deadline for a forwarded call when the browser sends no `grpc-timeout`, and the longest
    /// the gateway ever waits for budget-service.
    #[arg(
        long = "upstream-timeout-secs",
        env = "GATEWAY_UPSTREAM_TIMEOUT_SECS",
        default_value = "10",
        value_parser = parse_positive_secs,
    )]
    pub upstream_timeout: Duration,
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
        ])
        .unwrap();
        assert_eq!(config.addr.port(), 9000);
        assert_eq!(config.budget_service_url.host(), Some("budget-service"));
        assert_eq!(config.upstream_timeout, Duration::from_secs(3));
    }

    #[test]
    fn zero_timeout_is_refused() {
        assert!(
            Config::try_parse_from(["budget-gateway", "--upstream-timeout-secs", "0"]).is_err()
        );
    }
}
