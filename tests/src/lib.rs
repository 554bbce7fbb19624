//! Test harness shared by the cross-crate tests: a fresh PostgreSQL database per test, an
//! in-process litellm-sim, and budget-service on a random port reached through a real
//! tonic channel. Logs stay quiet unless `TEST_LOG=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod real_proxy;
pub mod relay;
pub mod scale;
pub mod soak;
pub mod tcp_proxy;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use budget_demo::{AuthedClient, Bearer};
use budget_proto::v1 as pb;
use budget_proto::v1::budget_service_client::BudgetServiceClient;
use budget_service::Settings;
use budget_service::domain::auth::Role;
use budget_service::service::Budgets;
use litellm_sim::{SimControl, SimServer};
use sqlx::Connection;
use tcp_proxy::TcpProxy;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// The secret in the webhook path the test services accept.
pub const WEBHOOK_SECRET: &str = "test-webhook-secret";

/// The platform-admin token the test services accept (BUDGET_BOOTSTRAP_TOKEN).
pub const ADMIN_TOKEN: &str = "bgt_test_platform_admin_bootstrap";

/// The master key the in-process litellm-sim accepts.
pub const SIM_MASTER_KEY: &str = "sk-test-master";

/// The maintenance database used to create and drop per-test databases.
/// The gateway's settings for a test: a free local port, the given budget-service URL, plain
/// HTTP, a random session key, no traces. Tests change what they need with struct update syntax.
pub fn gateway_config(budget_service_url: &str) -> budget_gateway::Config {
    budget_gateway::Config {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        budget_service_url: budget_service_url
            .parse()
            .expect("tests pass a valid budget-service URL"),
        upstream_timeout: Duration::from_secs(10),
        session_key: None,
        session_ttl: Duration::from_secs(3600),
        service_ca_file: None,
        metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        cookie_secure: None,
        signin_failure_burst: 10,
        signin_failures_per_min: 10,
        traces: Default::default(),
    }
}

pub fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Turns on logs when `TEST_LOG=1`.
pub fn init_test_logs() {
    if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,sqlx=warn")
            .with_test_writer()
            .try_init();
    }
}

/// A tenant's alerts on the first ListAlerts page of 100, newest first.
pub async fn first_alerts(client: &AuthedClient, id: &str) -> Vec<pb::Alert> {
    client
        .clone()
        .list_alerts(pb::ListAlertsRequest {
            tenant_id: id.into(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .expect("ListAlerts")
        .into_inner()
        .alerts
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// Creates `budget_test_<random>` on the local server.
    pub async fn create() -> TestDatabase {
        let admin = admin_database_url();
        let name = format!("budget_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (see README)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin
            .rsplit_once('/')
            .map(|(base, _)| base.to_owned())
            .unwrap();
        TestDatabase {
            url: format!("{base}/{name}"),
            name,
        }
    }

    /// Drops the database (tests call this at the end; a failed test leaves it for inspection).
    pub async fn drop_database(&self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_database_url()).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await;
        }
    }
}

/// The allow-list entry that lets tests' loopback receivers (on 127.0.0.1, any port) through
/// the notification egress rules (BUDGET_NOTIFY_ALLOW_HOSTS).
pub const LOOPBACK_RECEIVERS: &str = "127.0.0.1";

/// Knobs for a stack.
#[derive(Clone, Debug)]
pub struct StackOptions {
    pub write_rate_per_sec: f64,
    pub write_burst: f64,
    pub cache_ttl_secs: u64,
    pub litellm_timeout_secs: u64,
    /// 0 (the default in tests): no background evaluator; call [`Stack::evaluate`].
    pub eval_interval_secs: u64,
    /// LITELLM_ENTERPRISE: rotate keys with /key/regenerate.
    pub litellm_enterprise: bool,
    /// The service reaches PostgreSQL through a [`TcpProxy`] (`Stack::db_proxy`) that tests
    /// can cut and restore.
    pub database_via_proxy: bool,
    /// How long a request waits for a database connection (BUDGET_DB_ACQUIRE_TIMEOUT_SECS).
    pub db_acquire_timeout_secs: u64,
    /// Run litellm-sim and budget-service as if it were this time (both read the sim's
    /// clock, which keeps running). Unset: the wall clock.
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Panic points armed before the service starts (`budget_service::panic_points`): the
    /// point and how many times it panics.
    pub panic_points: Vec<(&'static str, u32)>,
    /// BUDGET_DB_MAX_CONNECTIONS.
    pub db_max_connections: u32,
    /// BUDGET_AUTH_FAILURE_BURST and BUDGET_AUTH_FAILURES_PER_MIN.
    pub auth_failure_burst: u32,
    pub auth_failures_per_min: u32,
    /// budget-service talks to this proxy instead of the in-process litellm-sim (which
    /// still starts, untouched): the real-proxy suite.
    pub litellm: Option<real_proxy::RealProxy>,
    /// BUDGET_HTTP_ADDR and the webhook secret in its path (default: a free port and
    /// [`WEBHOOK_SECRET`]), for a proxy started with a fixed webhook URL.
    pub webhook_receiver: Option<real_proxy::WebhookTarget>,
}

impl Default for StackOptions {
    fn default() -> StackOptions {
        StackOptions {
            // Generous, so tests that make many changes are not rate limited.
            write_rate_per_sec: 1000.0,
            write_burst: 1000.0,
            cache_ttl_secs: 60,
            litellm_timeout_secs: 5,
            eval_interval_secs: 0,
            litellm_enterprise: false,
            database_via_proxy: false,
            db_acquire_timeout_secs: 5,
            start_at: None,
            panic_points: Vec::new(),
            db_max_connections: 20,
            // Generous, so tests that try many bad tokens are not throttled.
            auth_failure_burst: 100_000,
            auth_failures_per_min: 100_000,
            litellm: None,
            webhook_receiver: None,
        }
    }
}

/// budget-service with its own database and litellm-sim.
pub struct Stack {
    pub db: TestDatabase,
    pub sim: SimServer,
    pub addr: SocketAddr,
    /// budget-service's HTTP side (webhooks).
    pub http_addr: SocketAddr,
    pub budgets: Arc<Budgets>,
    /// The notification deliveries (the deliverer's side), e.g. for their backlog.
    pub deliveries: Arc<budget_service::service::Deliveries>,
    /// budget-service's database, for what tests read or write beside the API.
    pub store: budget_service::store::Store,
    client: AuthedClient,
    channel: Channel,
    pub authenticator: Arc<budget_service::service::auth::Authenticator>,
    /// The link to PostgreSQL, with `database_via_proxy`.
    pub db_proxy: Option<TcpProxy>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Stack {
    pub async fn start() -> Stack {
        Stack::start_with(StackOptions::default()).await
    }

    pub async fn start_with(options: StackOptions) -> Stack {
        init_test_logs();
        let db = TestDatabase::create().await;
        let sim = SimServer::start("127.0.0.1:0", SIM_MASTER_KEY)
            .await
            .expect("litellm-sim starts");
        let (database_url, db_proxy) = if options.database_via_proxy {
            let (url, proxy) = proxied_url(&db.url).await;
            (url, Some(proxy))
        } else {
            (db.url.clone(), None)
        };
        let (litellm_url, master_key) = match &options.litellm {
            Some(proxy) => (proxy.base_url.clone(), proxy.master_key.clone()),
            None => (sim.base_url(), SIM_MASTER_KEY.to_owned()),
        };
        let mut settings = Settings::new(&database_url, &litellm_url, &master_key);
        settings.grpc_addr = "127.0.0.1:0".parse().unwrap();
        settings.http_addr = "127.0.0.1:0".parse().unwrap();
        settings.webhook_secret = Some(WEBHOOK_SECRET.into());
        if let Some(receiver) = &options.webhook_receiver {
            settings.http_addr = receiver.addr;
            settings.webhook_secret = Some(receiver.secret.clone());
        }
        settings.bootstrap_token = Some(ADMIN_TOKEN.into());
        settings.write_rate_per_sec = options.write_rate_per_sec;
        settings.write_burst = options.write_burst;
        settings.cache_ttl_secs = options.cache_ttl_secs;
        settings.litellm_timeout_secs = options.litellm_timeout_secs;
        settings.shutdown_grace_secs = 2;
        settings.eval_interval_secs = options.eval_interval_secs;
        settings.litellm_enterprise = options.litellm_enterprise;
        settings.db_acquire_timeout_secs = options.db_acquire_timeout_secs;
        // Tests' notification receivers listen on plain http on loopback, which the service
        // refuses unless the operator allows it.
        settings.notify_allow_http = true;
        settings.notify_allow_hosts = LOOPBACK_RECEIVERS.parse().unwrap();
        settings.db_max_connections = options.db_max_connections;
        settings.auth_failure_burst = options.auth_failure_burst;
        settings.auth_failures_per_min = options.auth_failures_per_min;
        let clock: Arc<dyn budget_service::service::Clock> = match options.start_at {
            Some(at) => {
                sim.control().set_clock(at);
                Arc::new(budget_demo::SimTime(sim.control()))
            }
            None => Arc::new(budget_service::service::SystemClock),
        };
        let app = budget_service::Application::build_with_clock(settings, clock)
            .await
            .expect("budget-service builds");
        let addr = app.local_addr();
        let http_addr = app.http_addr();
        let budgets = app.budgets();
        let deliveries = app.deliveries();
        let store = app.store();
        for (point, times) in &options.panic_points {
            budgets.panic_points().arm(point, *times);
        }
        let authenticator = app.authenticator();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stop_rx.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Stack {
            db,
            sim,
            addr,
            http_addr,
            budgets,
            deliveries,
            store,
            client: BudgetServiceClient::with_interceptor(
                channel.clone(),
                Bearer::new(ADMIN_TOKEN).unwrap(),
            ),
            channel,
            authenticator,
            db_proxy,
            stop: Some(stop_tx),
            task: Some(task),
        }
    }

    /// A platform-admin client over the shared channel.
    pub fn client(&self) -> AuthedClient {
        self.client.clone()
    }

    /// A client sending `token` (or no token at all).
    pub fn client_with(&self, token: Option<&str>) -> AuthedClient {
        let bearer = Bearer::new(token.unwrap_or("none")).unwrap();
        let client = BudgetServiceClient::with_interceptor(self.channel.clone(), bearer);
        if token.is_some() {
            client
        } else {
            BudgetServiceClient::with_interceptor(self.channel.clone(), Bearer::absent())
        }
    }

    /// Creates a token with the given role and tenant scope and returns its value.
    pub async fn token(&self, name: &str, role: Role, tenant: Option<&str>) -> String {
        self.authenticator
            .create_token("test", name, role, tenant)
            .await
            .unwrap()
    }

    pub fn sim(&self) -> SimControl {
        self.sim.control()
    }

    /// Creates a tenant with the given budget in dollars and default thresholds.
    pub async fn create_tenant(&self, id: &str, budget_usd: i64) -> pb::CreateTenantResponse {
        self.create_tenant_with(id, config(budget_usd, 80, 110, "30d"))
            .await
    }

    pub async fn create_tenant_with(
        &self,
        id: &str,
        config: pb::BudgetConfig,
    ) -> pb::CreateTenantResponse {
        self.client()
            .create_tenant(pb::CreateTenantRequest {
                tenant_id: id.into(),
                display_name: format!("{id} Inc."),
                config: Some(config),
            })
            .await
            .expect("tenant created")
            .into_inner()
    }

    /// The types of a tenant's alerts on the first ListAlerts page (100), newest first.
    pub async fn alert_types(&self, id: &str) -> Vec<pb::AlertType> {
        first_alerts(&self.client(), id)
            .await
            .iter()
            .map(|a| a.r#type())
            .collect()
    }

    /// GetBudgetStatus for one tenant as the platform admin.
    pub async fn status(&self, id: &str) -> Result<pb::BudgetStatus, tonic::Status> {
        self.client()
            .get_budget_status(pb::GetBudgetStatusRequest {
                tenant_id: id.into(),
            })
            .await
            .map(|r| r.into_inner().status.unwrap_or_default())
    }

    /// GetBudgetConfig for one tenant as the platform admin.
    pub async fn config(&self, id: &str) -> Result<pb::BudgetConfig, tonic::Status> {
        self.client()
            .get_budget_config(pb::GetBudgetConfigRequest {
                tenant_id: id.into(),
            })
            .await
            .map(|r| r.into_inner().config.unwrap_or_default())
    }

    /// UpdateBudgetConfig for one tenant as the platform admin; `etag` "" skips the check.
    pub async fn update_config(
        &self,
        id: &str,
        config: pb::BudgetConfig,
        etag: &str,
    ) -> Result<pb::BudgetConfig, tonic::Status> {
        self.client()
            .update_budget_config(pb::UpdateBudgetConfigRequest {
                tenant_id: id.into(),
                config: Some(config),
                etag: etag.into(),
                update_mask: None,
            })
            .await
            .map(|r| r.into_inner().config.unwrap_or_default())
    }

    /// What gRPC health answers for `service` ("" for the whole server).
    pub async fn health(
        &self,
        service: &str,
    ) -> tonic_health::pb::health_check_response::ServingStatus {
        tonic_health::pb::health_client::HealthClient::new(self.channel.clone())
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health answers")
            .into_inner()
            .status()
    }

    /// This service's metrics in Prometheus' text format.
    pub fn metrics(&self) -> String {
        self.budgets.metrics().render()
    }

    /// The value of one metric series, e.g. `budget_grpc_panics_total{method="..."}`
    /// (0 when it is not there yet).
    pub fn metric(&self, series: &str) -> f64 {
        self.metrics()
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Runs one evaluation pass now.
    pub async fn evaluate(&self) -> budget_service::service::PassReport {
        let (_keep, stop) = tokio::sync::watch::channel(false);
        self.budgets
            .evaluation_pass(&stop)
            .await
            .expect("evaluation pass")
    }

    /// Sends the shutdown signal without waiting for the drain.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops the service and drops the database.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.db.drop_database().await;
    }
}

/// `url` with its host and port replaced by a new [`TcpProxy`] to them.
async fn proxied_url(url: &str) -> (String, TcpProxy) {
    let (scheme, rest) = url.split_once("://").expect("a database URL");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, host_port)) => (format!("{user}@"), host_port),
        None => (String::new(), authority),
    };
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    let upstream = tokio::net::lookup_host(host_port.as_str())
        .await
        .expect("database host resolves")
        .next()
        .expect("database host has an address");
    let proxy = TcpProxy::start(upstream).await.expect("proxy starts");
    (format!("{scheme}://{user}{}/{path}", proxy.addr()), proxy)
}

/// A settable configuration in dollars and percents.
pub fn config(budget_usd: i64, alert: i32, grace: i32, duration: &str) -> pb::BudgetConfig {
    pb::BudgetConfig {
        max_budget_micros: budget_usd * 1_000_000,
        alert_threshold_percent: alert,
        grace_threshold_percent: grace,
        budget_duration: duration.into(),
        ..Default::default()
    }
}

/// Field violations (field, description) in a Status's BadRequest details.
pub fn field_violations(status: &tonic::Status) -> Vec<(String, String)> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

/// sha256 hex of a raw key, as LiteLLM addresses keys.
pub fn key_hash(raw_key: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(raw_key.as_bytes()))
}
