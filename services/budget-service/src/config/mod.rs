//! Configuration, read once at startup from flags and the environment into typed structs.
//! Nothing else in the service reads environment variables: the server and the commands'
//! settings ([`Settings`], [`AdminSettings`], [`DatabaseUrl`]) come through clap, logging's ([`LogSettings`])
//! from `telemetry`. The OpenTelemetry variables (`OTEL_*`) are `budget_telemetry::TraceArgs`,
//! flattened into [`Settings`]. The structs are plain data; `startup` builds from them.

mod admin;
mod database;
mod telemetry;
mod tls;

pub use admin::AdminSettings;
pub use database::{DatabaseSettings, DatabaseUrl};
pub use telemetry::{DEFAULT_LOG_FILTER, LogFormat, LogSettings};
pub use tls::TlsPem;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use budget_telemetry::{TraceArgs, TraceSettings};

use crate::domain::egress::{AllowList, EgressPolicy};

/// The shortest BUDGET_BOOTSTRAP_TOKEN accepted: it grants everything, so it must not be
/// guessable.
pub const MIN_BOOTSTRAP_TOKEN_CHARS: usize = 32;

/// Everything `serve` needs. Tests build it directly.
#[derive(clap::Args, Clone, Debug)]
pub struct Settings {
    /// PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/budget (it may carry a
    /// password, so `--help` never shows its value).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Base URL of the LiteLLM proxy, e.g. http://127.0.0.1:4000.
    #[arg(long, env = "LITELLM_BASE_URL")]
    pub litellm_base_url: String,
    /// LiteLLM master key (admin API).
    #[arg(long, env = "LITELLM_MASTER_KEY", hide_env_values = true)]
    pub litellm_master_key: String,
    /// The proxy has LiteLLM's enterprise licence: rotate keys with /key/regenerate instead
    /// of generating a replacement and deleting the old key.
    #[arg(long, env = "LITELLM_ENTERPRISE", default_value_t = false, action = clap::ArgAction::Set)]
    pub litellm_enterprise: bool,
    /// Address the gRPC server listens on.
    #[arg(long, env = "BUDGET_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// Address of the HTTP side (LiteLLM webhook receiver).
    #[arg(long, env = "BUDGET_HTTP_ADDR", default_value = "127.0.0.1:8081")]
    pub http_addr: SocketAddr,
    /// Secret path segment LiteLLM's WEBHOOK_URL must carry: /hooks/litellm/{secret}.
    /// Unset: webhooks are refused.
    #[arg(long, env = "BUDGET_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// How long a tenant's status is cached, in seconds.
    #[arg(long, env = "BUDGET_CACHE_TTL_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub cache_ttl_secs: u64,
    /// Timeout of each LiteLLM call, in seconds.
    #[arg(long, env = "LITELLM_TIMEOUT_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub litellm_timeout_secs: u64,
    /// How long in-flight calls may finish after a shutdown signal, in seconds.
    #[arg(long, env = "BUDGET_SHUTDOWN_GRACE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub shutdown_grace_secs: u64,
    /// After a shutdown signal, how long health reports NOT_SERVING while the listener still
    /// accepts, in seconds: load balancers and Kubernetes endpoints stop sending new
    /// connections before the port closes. Then in-flight calls get BUDGET_SHUTDOWN_GRACE_SECS.
    #[arg(long, env = "BUDGET_SHUTDOWN_DRAIN_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub shutdown_drain_secs: u64,
    /// Age in seconds after which the server asks a gRPC connection to close (HTTP/2 GOAWAY);
    /// the client opens a new one for its next call, so a client behind a Kubernetes Service
    /// or a TCP load balancer spreads over replicas added since. 0: connections live forever.
    #[arg(long, env = "BUDGET_GRPC_MAX_CONNECTION_AGE_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub grpc_max_connection_age_secs: u64,
    /// How long calls still running on a connection past its age may finish before it is
    /// closed, in seconds.
    #[arg(long, env = "BUDGET_GRPC_MAX_CONNECTION_AGE_GRACE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub grpc_max_connection_age_grace_secs: u64,
    /// Largest number of PostgreSQL connections.
    #[arg(long, env = "BUDGET_DB_MAX_CONNECTIONS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
    /// How long a request waits for a PostgreSQL connection, in seconds.
    #[arg(long, env = "BUDGET_DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub db_acquire_timeout_secs: u64,
    /// Seconds between evaluation passes (alerts, fleet status, drift repair); 0 turns the
    /// evaluator off.
    #[arg(long, env = "BUDGET_EVAL_INTERVAL_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub eval_interval_secs: u64,
    /// LiteLLM `/key/list` pages an evaluation pass fetches at a time (each call keeps its
    /// timeout; any failing page fails the pass).
    #[arg(long, env = "BUDGET_EVAL_LIST_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub eval_list_concurrency: u32,
    /// Base URL of the dashboard (budget-gateway) as people reach it; notifications link to
    /// `{url}/tenants/{id}`.
    #[arg(
        long,
        env = "BUDGET_DASHBOARD_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub dashboard_url: String,
    /// Milliseconds between polls for due alert notifications; 0 turns delivery off on this
    /// replica (deliveries wait in the database for another).
    #[arg(long, env = "BUDGET_DELIVERY_POLL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub delivery_poll_ms: u64,
    /// Wait after a notification's first failed attempt, in milliseconds; doubled per
    /// attempt up to an hour, retried for 24 hours.
    #[arg(long, env = "BUDGET_DELIVERY_RETRY_BASE_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub delivery_retry_base_ms: u64,
    /// Timeout of each notification POST, in seconds (connecting has 2 s of it at most).
    #[arg(long, env = "BUDGET_DELIVERY_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub delivery_timeout_secs: u64,
    /// Notifications this replica sends at once, in all.
    #[arg(long, env = "BUDGET_DELIVERY_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub delivery_concurrency: u32,
    /// Notifications this replica sends at once for one tenant.
    #[arg(long, env = "BUDGET_DELIVERY_PER_TENANT", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub delivery_per_tenant: u32,
    /// Notifications this replica sends at once to one receiver (host and port).
    #[arg(long, env = "BUDGET_DELIVERY_PER_RECEIVER", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub delivery_per_receiver: u32,
    /// Accept and send to plain http notification targets (default: https only).
    #[arg(long, env = "BUDGET_NOTIFY_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub notify_allow_http: bool,
    /// Exemptions from the rule that notification targets must not reach private, loopback,
    /// link-local or other internal addresses: comma-separated host, host:port, IP, IP:port
    /// or CIDR (e.g. "receiver.internal:8443,10.20.0.0/16").
    #[arg(long, env = "BUDGET_NOTIFY_ALLOW_HOSTS", default_value = "", value_parser = parse_allow_hosts)]
    pub notify_allow_hosts: AllowList,
    /// How long a checked token is remembered, in seconds (a revocation takes effect within it).
    #[arg(long, env = "BUDGET_TOKEN_CACHE_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub token_cache_secs: u64,
    /// A platform-admin token accepted from the environment, so a fresh install is usable at
    /// once: at least 32 characters; unset it once named tokens exist.
    #[arg(long, env = "BUDGET_BOOTSTRAP_TOKEN", hide_env_values = true)]
    pub bootstrap_token: Option<String>,
    /// Changes per second each token may make (sustained).
    #[arg(long, env = "BUDGET_WRITE_RATE_PER_SEC", default_value_t = 5.0)]
    pub write_rate_per_sec: f64,
    /// Changes each token may make in a burst.
    #[arg(long, env = "BUDGET_WRITE_BURST", default_value_t = 20.0)]
    pub write_burst: f64,
    /// Failed authentications (missing, unknown or revoked tokens) one peer address may make in
    /// a burst; after that it gets RESOURCE_EXHAUSTED with a retry delay until
    /// BUDGET_AUTH_FAILURES_PER_MIN refills it. Successful calls never count.
    #[arg(long, env = "BUDGET_AUTH_FAILURE_BURST", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub auth_failure_burst: u32,
    /// Failed authentications per minute a peer address regains after its burst.
    #[arg(long, env = "BUDGET_AUTH_FAILURES_PER_MIN", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub auth_failures_per_min: u32,
    /// Days alert history, notification deliveries, audit events and daily spend are kept;
    /// older rows are purged daily.
    #[arg(long, env = "BUDGET_RETENTION_DAYS", default_value_t = 400, value_parser = clap::value_parser!(u32).range(30..=36_500))]
    pub retention_days: u32,
    /// PEM certificate chain the gRPC server presents; with BUDGET_TLS_KEY_FILE it serves TLS.
    /// Both or neither; neither serves plain HTTP/2 (h2c).
    #[arg(long, env = "BUDGET_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of BUDGET_TLS_CERT_FILE's certificate.
    #[arg(long, env = "BUDGET_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// OpenTelemetry traces: OTEL_EXPORTER_OTLP_ENDPOINT and the other standard variables.
    #[command(flatten)]
    pub traces: TraceArgs,
    /// Apply migrations at startup.
    #[arg(skip = true)]
    pub migrate: bool,
}

impl Settings {
    /// Settings with the command line's defaults for everything but the three required
    /// values, except BUDGET_SHUTDOWN_DRAIN_SECS: 0 here.
    pub fn new(database_url: &str, litellm_base_url: &str, litellm_master_key: &str) -> Settings {
        Settings {
            database_url: database_url.to_owned(),
            litellm_base_url: litellm_base_url.to_owned(),
            litellm_master_key: litellm_master_key.to_owned(),
            litellm_enterprise: false,
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            webhook_secret: None,
            cache_ttl_secs: 60,
            litellm_timeout_secs: 5,
            shutdown_grace_secs: 10,
            // No load balancer waits on an in-process server: it closes at once.
            shutdown_drain_secs: 0,
            grpc_max_connection_age_secs: 300,
            grpc_max_connection_age_grace_secs: 30,
            db_max_connections: 20,
            db_acquire_timeout_secs: 5,
            eval_interval_secs: 60,
            eval_list_concurrency: 4,
            dashboard_url: "http://127.0.0.1:8080".to_owned(),
            delivery_poll_ms: 1000,
            delivery_retry_base_ms: 1000,
            delivery_timeout_secs: 10,
            delivery_concurrency: 32,
            delivery_per_tenant: 4,
            delivery_per_receiver: 4,
            notify_allow_http: false,
            notify_allow_hosts: AllowList::default(),
            token_cache_secs: 5,
            bootstrap_token: None,
            write_rate_per_sec: 5.0,
            write_burst: 20.0,
            auth_failure_burst: 20,
            auth_failures_per_min: 60,
            retention_days: 400,
            tls_cert_file: None,
            tls_key_file: None,
            traces: TraceArgs::default(),
            migrate: true,
        }
    }

    /// Rejects values that parse but cannot work, with a message naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        let url = self.litellm_base_url.as_str();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err("LITELLM_BASE_URL must start with http:// or https://".into());
        }
        if self.litellm_master_key.trim().is_empty() {
            return Err("LITELLM_MASTER_KEY must not be empty".into());
        }
        if !(self.write_rate_per_sec.is_finite() && self.write_rate_per_sec > 0.0) {
            return Err("BUDGET_WRITE_RATE_PER_SEC must be a positive number".into());
        }
        if !(self.write_burst.is_finite() && self.write_burst >= 1.0) {
            return Err("BUDGET_WRITE_BURST must be at least 1".into());
        }
        if !(self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err("DATABASE_URL must be a postgres:// URL".into());
        }
        if let Some(token) = self.bootstrap_token.as_deref()
            && !token.is_empty()
            && token.chars().count() < MIN_BOOTSTRAP_TOKEN_CHARS
        {
            return Err(format!(
                "BUDGET_BOOTSTRAP_TOKEN must be at least {MIN_BOOTSTRAP_TOKEN_CHARS} characters \
                 (it is a platform-admin password); make one with: echo \"bgt_$(openssl rand -hex 24)\""
            ));
        }
        if self.retention_days < 30 {
            return Err("BUDGET_RETENTION_DAYS must be at least 30".into());
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(
                "BUDGET_TLS_CERT_FILE and BUDGET_TLS_KEY_FILE must be set together (or neither)"
                    .into(),
            );
        }
        if self.delivery_per_tenant > self.delivery_concurrency {
            return Err(
                "BUDGET_DELIVERY_PER_TENANT must be at most BUDGET_DELIVERY_CONCURRENCY".into(),
            );
        }
        if self.delivery_per_receiver > self.delivery_concurrency {
            return Err(
                "BUDGET_DELIVERY_PER_RECEIVER must be at most BUDGET_DELIVERY_CONCURRENCY".into(),
            );
        }
        self.traces()?;
        let dashboard = url::Url::parse(&self.dashboard_url).ok();
        if !dashboard.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) {
            return Err("BUDGET_DASHBOARD_URL must be an http:// or https:// URL".into());
        }
        Ok(())
    }

    pub fn auth(&self) -> crate::service::auth::AuthSettings {
        crate::service::auth::AuthSettings {
            token_cache_ttl: Duration::from_secs(self.token_cache_secs),
            bootstrap_token: self.bootstrap_token.clone(),
            write_rate_per_sec: self.write_rate_per_sec,
            write_burst: self.write_burst,
            failure_burst: self.auth_failure_burst,
            failures_per_min: self.auth_failures_per_min,
            // Checking tokens nobody has seen valid may hold at most a quarter of the pool, so
            // a flood of made-up tokens cannot starve the calls of those who signed in.
            lookup_connections: (self.db_max_connections / 4).max(1),
            lookup_wait: self.db_acquire_timeout(),
        }
    }

    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.cache_ttl_secs)
    }

    pub fn litellm_timeout(&self) -> Duration {
        Duration::from_secs(self.litellm_timeout_secs)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    pub fn shutdown_drain(&self) -> Duration {
        Duration::from_secs(self.shutdown_drain_secs)
    }

    /// `None`: connections are never aged out.
    pub fn grpc_max_connection_age(&self) -> Option<Duration> {
        (self.grpc_max_connection_age_secs > 0)
            .then(|| Duration::from_secs(self.grpc_max_connection_age_secs))
    }

    pub fn grpc_max_connection_age_grace(&self) -> Duration {
        Duration::from_secs(self.grpc_max_connection_age_grace_secs)
    }

    pub fn db_acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.db_acquire_timeout_secs)
    }

    /// `None` when delivery is turned off.
    pub fn delivery_poll(&self) -> Option<Duration> {
        (self.delivery_poll_ms > 0).then(|| Duration::from_millis(self.delivery_poll_ms))
    }

    pub fn delivery_retry_base(&self) -> Duration {
        Duration::from_millis(self.delivery_retry_base_ms)
    }

    /// Where traces go (none without OTEL_EXPORTER_OTLP_ENDPOINT), checked; `service.name`
    /// is `budget-service` unless OTEL_SERVICE_NAME says otherwise.
    pub fn traces(&self) -> Result<TraceSettings, String> {
        self.traces
            .settings("budget-service", env!("CARGO_PKG_VERSION"))
    }

    /// How long old rows are kept before the daily purge deletes them.
    pub fn retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.retention_days))
    }

    /// The gRPC server's certificate and key: `None` without
    /// BUDGET_TLS_CERT_FILE/BUDGET_TLS_KEY_FILE. Reads both files now, with an error naming the
    /// variable whose file is unreadable or not PEM of the right kind.
    pub fn server_tls(&self) -> Result<Option<TlsPem>, String> {
        let (Some(cert_file), Some(key_file)) = (&self.tls_cert_file, &self.tls_key_file) else {
            return Ok(None);
        };
        TlsPem::read(cert_file, key_file).map(Some)
    }

    /// The server's pool: BUDGET_DB_MAX_CONNECTIONS connections, migrated unless `--no-migrate`.
    pub fn database(&self) -> DatabaseSettings {
        DatabaseSettings {
            url: self.database_url.clone(),
            max_connections: self.db_max_connections,
            acquire_timeout: self.db_acquire_timeout(),
            migrate: self.migrate,
        }
    }

    /// A one-off command's pool (`tenant ...`): a few connections, never migrating (the
    /// command refuses a schema that is behind, see `startup::database`).
    pub fn command_database(&self) -> DatabaseSettings {
        DatabaseSettings {
            url: self.database_url.clone(),
            max_connections: 4,
            acquire_timeout: self.db_acquire_timeout(),
            migrate: false,
        }
    }

    pub fn delivery_timeout(&self) -> Duration {
        Duration::from_secs(self.delivery_timeout_secs)
    }

    /// Where notifications may go (BUDGET_NOTIFY_ALLOW_HTTP, BUDGET_NOTIFY_ALLOW_HOSTS).
    pub fn egress_policy(&self) -> EgressPolicy {
        EgressPolicy {
            allow_http: self.notify_allow_http,
            allow: self.notify_allow_hosts.clone(),
        }
    }

    /// How many notifications this replica sends at once.
    pub fn delivery_limits(&self) -> crate::domain::notification::DeliveryLimits {
        let size = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        crate::domain::notification::DeliveryLimits {
            total: size(self.delivery_concurrency),
            per_tenant: size(self.delivery_per_tenant),
            per_receiver: size(self.delivery_per_receiver),
        }
    }
}

/// BUDGET_NOTIFY_ALLOW_HOSTS's parser: the error names the entry at fault.
fn parse_allow_hosts(raw: &str) -> Result<AllowList, String> {
    raw.parse()
        .map_err(|error| format!("BUDGET_NOTIFY_ALLOW_HOSTS: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_bootstrap(token: &str) -> Settings {
        let mut settings = Settings::new("postgres://db/budget", "http://litellm", "sk-master");
        settings.bootstrap_token = Some(token.to_owned());
        settings
    }

    #[test]
    fn the_bootstrap_token_must_be_at_least_32_characters() {
        let short = with_bootstrap(&"x".repeat(31)).validate();
        assert!(short.is_err_and(|e| e.contains("BUDGET_BOOTSTRAP_TOKEN must be at least 32")),);
        assert_eq!(with_bootstrap(&"x".repeat(32)).validate(), Ok(()));
        // Characters, not bytes: 31 two-byte letters are still too short.
        assert!(with_bootstrap(&"é".repeat(31)).validate().is_err());
        // Empty reads as unset.
        assert_eq!(with_bootstrap("").validate(), Ok(()));
    }

    #[derive(clap::Parser)]
    struct Command {
        #[command(flatten)]
        settings: Settings,
    }

    fn list_concurrency(value: Option<&str>) -> Result<u32, clap::Error> {
        use clap::Parser as _;
        let mut args = vec![
            "budget-service",
            "--database-url=postgres://db/budget",
            "--litellm-base-url=http://litellm",
            "--litellm-master-key=sk-master",
        ];
        let flag = value.map(|v| format!("--eval-list-concurrency={v}"));
        args.extend(flag.as_deref());
        Command::try_parse_from(args).map(|c| c.settings.eval_list_concurrency)
    }

    #[test]
    fn the_list_concurrency_defaults_to_4_and_must_be_1_to_32() {
        assert_eq!(list_concurrency(None).ok(), Some(4));
        assert_eq!(list_concurrency(Some("1")).ok(), Some(1));
        assert_eq!(list_concurrency(Some("32")).ok(), Some(32));
        for bad in ["0", "33", "-1", "four"] {
            assert!(list_concurrency(Some(bad)).is_err(), "{bad}");
        }
    }
}
