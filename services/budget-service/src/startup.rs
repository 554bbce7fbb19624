//! Builds the application (pool, LiteLLM client, notification sender, caches, metrics, gRPC
//! server) and runs it until a shutdown signal, then drains for a bounded time. The helpers
//! (`init_tracing`, `database`, `budgets`) are the same wiring the one-off commands use.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt as _;
use budget_proto::v1::FILE_DESCRIPTOR_SET;
use budget_proto::v1::budget_service_server::BudgetServiceServer;
// The largest request message accepted, shared with the gateway.
use budget_proto::wire::MAX_REQUEST_BYTES;
use budget_telemetry::Telemetry;
use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::{DatabaseSettings, LogFormat, LogSettings, Settings, TlsPem};
use crate::grpc::BudgetApi;
use crate::grpc::metrics::GrpcMetrics;
use crate::litellm::LiteLlmClient;
use crate::metrics::Metrics;
use crate::notify::{Notifier, TargetGuard};
use crate::service::auth::Authenticator;
use crate::service::{Budgets, Deliveries, DeliveryPolicy};
use crate::store::Store;
use crate::supervisor::{self, Supervision};

/// Concurrent calls per HTTP/2 connection; a client queues further calls until one ends.
const MAX_STREAMS: u32 = 1_000;
/// The HTTP/2 connection window. h2 allows unread small DATA frames worth half of it (each
/// counted as up to 256 bytes), so 1 MiB covers MAX_STREAMS waiting requests twice over.
const CONNECTION_WINDOW_BYTES: u32 = 1024 * 1024;

/// A built, bound, not yet serving budget-service.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    http_listener: TcpListener,
    http_addr: SocketAddr,
    budgets: Arc<Budgets>,
    /// The one pool, for what works beside the use cases: the cache listener and the
    /// evaluator's leadership.
    store: Store,
    auth: Arc<Authenticator>,
    deliveries: Arc<Deliveries>,
    /// The application's one registry; the use cases, the LiteLLM client and the supervisor
    /// record in it, `/metrics` renders it.
    metrics: Arc<Metrics>,
    /// The gRPC series in `metrics`, recorded by the gRPC layers.
    grpc_metrics: Arc<GrpcMetrics>,
    settings: Settings,
    /// `None`: plain HTTP/2 (h2c).
    tls: Option<tonic::transport::ServerTlsConfig>,
    /// OpenTelemetry traces (none without OTEL_EXPORTER_OTLP_ENDPOINT), flushed at the end.
    telemetry: Telemetry,
}

impl Application {
    /// Connects to PostgreSQL (migrating when asked), builds the LiteLLM client and binds
    /// the gRPC port (use port 0 in tests).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Application::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As `build`, with "now" read from `clock` (tests and the demo run at a chosen date).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Application> {
        settings.validate().map_err(anyhow::Error::msg)?;
        let tls = settings
            .server_tls()
            .map_err(anyhow::Error::msg)?
            .map(server_tls_config);
        if let Some(tls) = &tls {
            // Parses the certificate and key now, so a bad pair fails at startup.
            tonic::transport::Server::builder()
                .tls_config(tls.clone())
                .context(
                    "BUDGET_TLS_CERT_FILE / BUDGET_TLS_KEY_FILE: invalid certificate or key",
                )?;
        }
        let traces = settings.traces().map_err(anyhow::Error::msg)?;
        let telemetry = Telemetry::start(&traces)?;
        let tracer = telemetry.tracer();
        let store = database(&settings.database()).await?;
        let metrics = Arc::new(Metrics::new());
        metrics.evaluation_interval(settings.eval_interval_secs);
        let grpc_metrics = Arc::new(GrpcMetrics::register(&metrics));
        let egress = TargetGuard::new(settings.egress_policy());
        let notifier = Notifier::new(settings.delivery_timeout(), egress.clone())
            .context("building the notification sender")?
            .with_tracer(tracer.clone());
        let deliveries = Arc::new(Deliveries::new(
            store.clone(),
            notifier,
            clock.clone(),
            DeliveryPolicy {
                retry_base: settings.delivery_retry_base(),
                timeout: settings.delivery_timeout(),
                dashboard_url: settings.dashboard_url.clone(),
                limits: settings.delivery_limits(),
            },
        ));
        let budgets = Arc::new(
            budgets(&settings, store.clone(), clock, metrics.clone())?
                .with_target_guard(egress)
                .with_tracer(tracer),
        );
        let listener = TcpListener::bind(settings.grpc_addr)
            .await
            .with_context(|| format!("binding the gRPC address {}", settings.grpc_addr))?;
        let local_addr = listener.local_addr()?;
        let http_listener = TcpListener::bind(settings.http_addr)
            .await
            .with_context(|| format!("binding the HTTP address {}", settings.http_addr))?;
        let http_addr = http_listener.local_addr()?;
        if settings.webhook_secret.as_deref().is_none_or(str::is_empty) {
            tracing::warn!("BUDGET_WEBHOOK_SECRET is not set: LiteLLM webhooks will be refused");
        }
        if settings
            .bootstrap_token
            .as_deref()
            .is_some_and(|t| !t.is_empty())
        {
            tracing::warn!(
                "BUDGET_BOOTSTRAP_TOKEN is set: anyone holding it is a platform admin; create \
                 named tokens (`budget-service token create`) and unset it"
            );
        }
        let auth = Arc::new(Authenticator::new(store.clone(), &settings.auth()));
        Ok(Application {
            auth,
            listener,
            local_addr,
            http_listener,
            http_addr,
            budgets,
            store,
            deliveries,
            metrics,
            grpc_metrics,
            settings,
            tls,
            telemetry,
        })
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where the HTTP side (webhooks) listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The token checker, for tools and tests that create tokens in-process.
    pub fn authenticator(&self) -> Arc<Authenticator> {
        self.auth.clone()
    }

    /// The use cases, for tools and tests that need them in-process.
    pub fn budgets(&self) -> Arc<Budgets> {
        self.budgets.clone()
    }

    /// The application's metrics, as `/metrics` renders them.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The database, for tests and the demo's seeding, which write what no use case writes.
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// The notification sender's passes, for tools and tests that need them in-process.
    pub fn deliveries(&self) -> Arc<Deliveries> {
        self.deliveries.clone()
    }

    /// Serves until `shutdown` completes; then reports NOT_SERVING, keeps accepting for the
    /// drain delay (BUDGET_SHUTDOWN_DRAIN_SECS), stops accepting and lets in-flight calls
    /// finish for at most the grace period (BUDGET_SHUTDOWN_GRACE_SECS).
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<BudgetServiceServer<BudgetApi>>().await;
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        let api = BudgetServiceServer::new(BudgetApi::new(self.budgets.clone(), self.auth.clone()))
            .max_decoding_message_size(MAX_REQUEST_BYTES);

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = self.tls.clone() {
            builder = builder.tls_config(tls).context(
                "BUDGET_TLS_CERT_FILE / BUDGET_TLS_KEY_FILE: invalid certificate or key",
            )?;
        }
        // Every call has a deadline on the server side too, whatever the client sent.
        // Layers, outermost first: tonic's error recovery and timeout, then `RpcLayer` (the
        // RPC span, x-request-id, counts and latency by method and code), then
        // `CatchPanicLayer` (a panicking handler answers INTERNAL), then the services.
        // HTTP/2 limits per connection. h2 drops a connection (GOAWAY ENHANCE_YOUR_CALM
        // "too_many_data_frames") once its small request frames waiting to be read exceed half
        // the connection window: with h2's 64 KiB default that is ~137 unary calls, so a storm
        // of thousands of concurrent calls on one channel lost every call on it. Streams are
        // capped at MAX_STREAMS (callers queue the rest) and the window leaves room for them.
        // TCP_NODELAY on every accepted connection (tonic's own setting does not apply to a
        // listener we bound): with Nagle's algorithm a reply written in two pieces (e.g. a
        // ListAlerts page, then its trailers) waited for the client's delayed ACK, ~40 ms.
        let incoming =
            tonic::transport::server::TcpIncoming::from(self.listener).with_nodelay(Some(true));
        // Connections are asked to close (GOAWAY) once they reach their age, so a client with
        // one long-lived HTTP/2 connection (the gateway's channel) reconnects and a Kubernetes
        // Service or TCP balancer spreads it over the replicas there are now.
        if let Some(age) = self.settings.grpc_max_connection_age() {
            builder = builder
                .max_connection_age(age)
                .max_connection_age_grace(self.settings.grpc_max_connection_age_grace());
        }
        let server = builder
            .max_concurrent_streams(MAX_STREAMS)
            .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
            .timeout(std::time::Duration::from_secs(30))
            .layer(crate::grpc::layer::RpcLayer::new(
                self.grpc_metrics.clone(),
                self.telemetry.tracer(),
            ))
            .layer(crate::grpc::panic::CatchPanicLayer::new(
                self.grpc_metrics.clone(),
            ))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(api)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stop_rx.await;
            });
        let mut server = tokio::spawn(server);
        tracing::info!(addr = %self.local_addr, tls = self.tls.is_some(), "budget-service serving gRPC");
        let (background_stop, background_stopped) = tokio::sync::watch::channel(false);
        // The listeners close after the drain delay, later than the background tasks stop.
        let (listeners_stop, mut http_stopped) = tokio::sync::watch::channel(false);
        let http_router =
            crate::http::router(self.budgets.clone(), self.settings.webhook_secret.clone());
        let http = tokio::spawn(
            axum::serve(
                self.http_listener.tap_io(|stream| {
                    // As for gRPC: no ~40 ms Nagle stall on small webhook and metrics answers.
                    let _ = stream.set_nodelay(true);
                }),
                http_router,
            )
            .with_graceful_shutdown(async move {
                let _ = http_stopped.wait_for(|stopped| *stopped).await;
            })
            .into_future(),
        );
        tracing::info!(addr = %self.http_addr, "budget-service serving HTTP (webhooks)");
        // Every background task is supervised: restarted with backoff if it panics or ends.
        let supervision = Supervision {
            metrics: self.metrics.clone(),
            panic_points: self.budgets.panic_points().clone(),
            stop: background_stopped.clone(),
        };
        let liveness = Arc::new(crate::evaluator::Liveness::default());
        let evaluator = (self.settings.eval_interval_secs > 0).then(|| {
            let interval = std::time::Duration::from_secs(self.settings.eval_interval_secs);
            let (budgets, store, alive, stop) = (
                self.budgets.clone(),
                self.store.clone(),
                liveness.clone(),
                background_stopped.clone(),
            );
            let task = supervisor::spawn("evaluator", supervision.clone(), move || {
                let leadership = crate::cluster::Leadership::new(budgets.clone(), store.clone());
                crate::evaluator::run(
                    budgets.clone(),
                    leadership,
                    interval,
                    alive.clone(),
                    stop.clone(),
                )
            });
            let watch = tokio::spawn(watch_evaluator(
                liveness.clone(),
                interval,
                health.clone(),
                background_stopped.clone(),
            ));
            (task, watch)
        });
        // Keeps this replica's status cache in step with changes made on the others.
        let mut cache_listener = {
            let (budgets, store, stop) = (
                self.budgets.clone(),
                self.store.clone(),
                background_stopped.clone(),
            );
            supervisor::spawn("cache_listener", supervision.clone(), move || {
                crate::cluster::run_cache_listener(budgets.clone(), store.clone(), stop.clone())
            })
        };
        let mut purger = {
            let (budgets, retention, stop) = (
                self.budgets.clone(),
                self.settings.retention(),
                background_stopped.clone(),
            );
            supervisor::spawn("purger", supervision.clone(), move || {
                crate::purger::run(budgets.clone(), retention, stop.clone())
            })
        };
        let deliverer = self.settings.delivery_poll().map(|poll| {
            let (deliveries, stop) = (self.deliveries.clone(), background_stopped.clone());
            let metrics = supervision.metrics.clone();
            supervisor::spawn("deliverer", supervision.clone(), move || {
                crate::deliverer::run(deliveries.clone(), metrics.clone(), poll, stop.clone())
            })
        });

        tokio::select! {
            result = &mut server => {
                self.telemetry.shutdown().await;
                return result.context("gRPC server task")?.context("gRPC server");
            }
            () = shutdown => {}
        }
        tracing::info!("shutting down: health NOT_SERVING, then draining in-flight calls");
        let _ = background_stop.send(true);
        let evaluator = match evaluator {
            Some((task, watch)) => {
                // Stopped before health is set, so it cannot turn SERVING again.
                let _ = watch.await;
                Some(task)
            }
            None => None,
        };
        health
            .set_not_serving::<BudgetServiceServer<BudgetApi>>()
            .await;
        health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        // Still listening while load balancers and endpoints take this replica out: a
        // connection made meanwhile is answered, not refused.
        let drain = self.settings.shutdown_drain();
        if !drain.is_zero() {
            tracing::info!(
                secs = drain.as_secs(),
                "health NOT_SERVING; still accepting during the drain delay"
            );
            tokio::select! {
                () = tokio::time::sleep(drain) => {}
                result = &mut server => {
                    self.telemetry.shutdown().await;
                    return result.context("gRPC server task")?.context("gRPC server");
                }
            }
        }
        let _ = stop_tx.send(());
        let _ = listeners_stop.send(true);
        match tokio::time::timeout(self.settings.shutdown_grace(), &mut server).await {
            Ok(result) => result.context("gRPC server task")?.context("gRPC server")?,
            Err(_) => {
                tracing::warn!("drain period over; abandoning calls still in flight");
                server.abort();
            }
        }
        let _ = tokio::time::timeout(self.settings.shutdown_grace(), http).await;
        if let Some(evaluator) = evaluator {
            // The evaluator stops between tenants; a pass in the middle of a LiteLLM call
            // ends within that call's timeout.
            let _ = tokio::time::timeout(self.settings.shutdown_grace(), evaluator).await;
        }
        if let Some(mut deliverer) = deliverer {
            // It stops between batches. A batch still sending after the grace period is
            // abandoned: its deliveries are sent again once their leases run out.
            let grace = self.settings.shutdown_grace();
            if tokio::time::timeout(grace, &mut deliverer).await.is_err() {
                deliverer.abort();
            }
        }
        if tokio::time::timeout(self.settings.shutdown_grace(), &mut cache_listener)
            .await
            .is_err()
        {
            cache_listener.abort();
        }
        // The purge stops between batches, each one short statement.
        if tokio::time::timeout(self.settings.shutdown_grace(), &mut purger)
            .await
            .is_err()
        {
            purger.abort();
        }
        // Last, so the spans of the calls and passes that just ended go out too.
        self.telemetry.shutdown().await;
        tracing::info!("budget-service stopped");
        Ok(())
    }
}

/// Installs the process's log subscriber (stderr, `log`'s filter and format); once per
/// process, later calls change nothing.
pub fn init_tracing(log: &LogSettings) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log.env_filter())
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Connects to PostgreSQL and, when `database.migrate`, applies the pending migrations. Then
/// refuses a schema this binary cannot use (migrations pending, edited or failed) with a
/// message naming the versions and `budget-service migrate`; a database newer than the
/// binary only logs a warning (migrations only add, and rolling upgrades and rollbacks run
/// an older binary on a newer schema).
pub async fn database(database: &DatabaseSettings) -> anyhow::Result<Store> {
    let store = Store::connect(
        &database.url,
        database.max_connections,
        database.acquire_timeout,
    )
    .await
    .context("connecting to PostgreSQL (DATABASE_URL)")?;
    if database.migrate {
        store.migrate().await.context("applying migrations")?;
    }
    let schema = store
        .schema_status()
        .await
        .context("reading the applied migrations")?;
    if let Some(refusal) = schema.refusal() {
        anyhow::bail!(refusal);
    }
    if let Some(warning) = schema.newer_warning() {
        tracing::warn!("{warning}");
    }
    Ok(store)
}

/// The use cases over `store` and a LiteLLM client built from `settings`; both read "now"
/// from `clock` and record in `metrics`.
pub fn budgets(
    settings: &Settings,
    store: Store,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Budgets> {
    let litellm = LiteLlmClient::new(
        &settings.litellm_base_url,
        &settings.litellm_master_key,
        settings.litellm_timeout(),
    )
    .context("building the LiteLLM client")?
    .with_enterprise(settings.litellm_enterprise)
    .with_metrics(metrics.clone())
    .with_clock(clock.clone());
    Ok(
        Budgets::new(store, litellm, clock, settings.cache_ttl(), metrics)
            .with_list_concurrency(settings.eval_list_concurrency),
    )
}

/// The gRPC server's TLS settings from the certificate and key config read.
fn server_tls_config(pem: TlsPem) -> tonic::transport::ServerTlsConfig {
    let identity = tonic::transport::Identity::from_pem(pem.cert, pem.key);
    tonic::transport::ServerTlsConfig::new().identity(identity)
}

/// Keeps gRPC health in step with the evaluator: NOT_SERVING while this replica leads and
/// has completed no pass for `evaluator::STALE_INTERVALS` intervals, SERVING again after the
/// next completed pass (or once another replica leads).
async fn watch_evaluator(
    liveness: Arc<crate::evaluator::Liveness>,
    interval: std::time::Duration,
    health: tonic_health::server::HealthReporter,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval.min(std::time::Duration::from_secs(1)));
    let mut was_stale = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let stale = liveness.stale(interval);
        if stale == was_stale {
            continue;
        }
        was_stale = stale;
        let status = if stale {
            tracing::error!(
                intervals = crate::evaluator::STALE_INTERVALS,
                "the evaluator leads but has completed no pass for too long: health NOT_SERVING"
            );
            tonic_health::ServingStatus::NotServing
        } else {
            tracing::info!("the evaluator completed a pass again: health SERVING");
            tonic_health::ServingStatus::Serving
        };
        health
            .set_service_status(
                <BudgetServiceServer<BudgetApi> as tonic::server::NamedService>::NAME,
                status,
            )
            .await;
        health.set_service_status("", status).await;
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
