//! The soak behind `soak` (and its smoke test): the whole product in this process
//! (litellm-sim, budget-service with its background evaluator, the gateway) under a paced
//! open-loop mix of RPCs, half over gRPC straight to budget-service and half as gRPC-web through
//! the gateway with a signed-in session, while spend moves in the sim and a share of LiteLLM
//! calls fail on purpose (500, connection reset, slower than the client's timeout).
//!
//! Every RPC result is classified: OK; expected (UNAVAILABLE with budget-service's "LiteLLM
//! unavailable" messages while an injected fault was in the call's window, ABORTED for an
//! UpdateBudgetConfig that lost an etag race); unexpected (anything else). The process's
//! VmRSS and PostgreSQL's connection count for the soak's database are sampled throughout.
//! RSS is this whole process (sim, service, gateway and load generator; the generator's buffers
//! are allocated up front), so growth after warm-up is the product's.

mod calls;
mod classify;
mod load;
mod report;

use std::collections::BTreeMap;
use std::time::Duration;

use budget_service::Settings;
use litellm_sim::SimServer;

use crate::{ADMIN_TOKEN, SIM_MASTER_KEY, TestDatabase};
use load::soak;

pub use calls::{AnyRequest, AnyResponse, FromAny};

/// What to run.
#[derive(Clone, Debug)]
pub struct SoakOptions {
    pub duration: Duration,
    /// Total RPCs started per second (both paths together).
    pub rps: f64,
    pub tenants: usize,
    /// Share of LiteLLM calls that fail on purpose, split evenly between a 500, a connection
    /// reset and an answer slower than budget-service's LiteLLM timeout.
    pub fault_rate: f64,
    pub eval_interval_secs: u64,
    pub cache_ttl_secs: u64,
    pub litellm_timeout_secs: u64,
    /// RSS growth is measured from the first sample after this much load.
    pub warmup: Duration,
    pub sample_every: Duration,
    /// Calls in flight beyond which a scheduled call is not started (counted as unexpected).
    pub max_in_flight: usize,
}

impl Default for SoakOptions {
    fn default() -> SoakOptions {
        SoakOptions {
            duration: Duration::from_secs(300),
            rps: 200.0,
            tenants: 40,
            fault_rate: 0.05,
            eval_interval_secs: 5,
            cache_ttl_secs: 2,
            litellm_timeout_secs: 1,
            warmup: Duration::from_secs(60),
            sample_every: Duration::from_secs(5),
            max_in_flight: 2_000,
        }
    }
}

/// How a call reached budget-service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Via {
    Grpc,
    Gateway,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Grpc => "gRPC direct",
            Via::Gateway => "gRPC-web via gateway",
        }
    }
}

/// One RPC's class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Ok,
    /// UNAVAILABLE from a LiteLLM failure while an injected fault was in the call's window.
    ExpectedUnavailable,
    /// ABORTED: an update lost an etag race.
    ExpectedAborted,
    Unexpected,
}

/// A sample taken every `sample_every`.
#[derive(Clone, Debug)]
pub struct Sample {
    pub at: Duration,
    pub rss_kib: u64,
    pub pg_connections: i64,
}

/// Everything the soak measured.
#[derive(Clone, Debug)]
pub struct SoakReport {
    pub options: SoakOptions,
    /// How long the load ran (scheduling to the last started call).
    pub load_duration: Duration,
    /// RPCs finished, by path.
    pub calls_by_via: BTreeMap<Via, u64>,
    /// Results by (method, class).
    pub results: BTreeMap<(String, Class), u64>,
    /// Unexpected results, by "method via: code message" (first 20 kinds).
    pub unexpected: BTreeMap<String, u64>,
    /// p50, p99 and max latency by path.
    pub latency: BTreeMap<Via, (Duration, Duration, Duration)>,
    /// Calls not started because `max_in_flight` were in flight.
    pub not_started: u64,
    pub litellm_calls: BTreeMap<String, u64>,
    pub injected: BTreeMap<String, u64>,
    pub samples: Vec<Sample>,
    /// Index in `samples` of the first one after warm-up.
    pub warm_index: usize,
    /// Evaluation passes by outcome (completed, failed, interrupted), from the service's metrics.
    pub passes: BTreeMap<String, u64>,
    pub db_max_connections: u32,
    /// UNAVAILABLE answers counted once per LiteLLM use that failed: concurrent status reads of
    /// one tenant share one LiteLLM call (one cache fill), so one fault fails all of them.
    pub failed_litellm_uses: u64,
    /// /proc/loadavg at the end.
    pub load_average: String,
}

/// Runs the soak against PostgreSQL at `TEST_DATABASE_ADMIN_URL` (or the local default) in a
/// database of its own, dropped afterwards.
pub async fn run(options: &SoakOptions) -> anyhow::Result<SoakReport> {
    let db = TestDatabase::create().await;
    let result = run_in(&db, options).await;
    db.drop_database().await;
    result
}

fn tenant_id(i: usize) -> String {
    format!("soak-{i:03}")
}

async fn run_in(db: &TestDatabase, options: &SoakOptions) -> anyhow::Result<SoakReport> {
    let sim = SimServer::start("127.0.0.1:0", SIM_MASTER_KEY).await?;
    let control = sim.control();
    let mut settings = Settings::new(&db.url, &sim.base_url(), SIM_MASTER_KEY);
    settings.grpc_addr = "127.0.0.1:0".parse()?;
    settings.http_addr = "127.0.0.1:0".parse()?;
    settings.bootstrap_token = Some(ADMIN_TOKEN.into());
    settings.eval_interval_secs = options.eval_interval_secs;
    settings.cache_ttl_secs = options.cache_ttl_secs;
    settings.litellm_timeout_secs = options.litellm_timeout_secs;
    // Updates are part of the mix; the write limit is not what is soaked.
    settings.write_rate_per_sec = 10_000.0;
    settings.write_burst = 10_000.0;
    settings.shutdown_grace_secs = 2;
    let db_max_connections = settings.db_max_connections;
    let app = budget_service::Application::build(settings).await?;
    let addr = app.local_addr();
    let budgets = app.budgets();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |rx: &tokio::sync::watch::Receiver<bool>| {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let service = tokio::spawn(app.run_until_stopped(stopped(&stop_rx)));
    let gateway = budget_gateway::Gateway::build(budget_gateway::Config {
        addr: "127.0.0.1:0".parse()?,
        budget_service_url: format!("http://{addr}").parse()?,
        upstream_timeout: Duration::from_secs(10),
        session_key: None,
        session_ttl: Duration::from_secs(3600),
        service_ca_file: None,
        metrics_addr: "127.0.0.1:0".parse()?,
        cookie_secure: None,
        signin_failure_burst: 10,
        signin_failures_per_min: 10,
        traces: Default::default(),
    })
    .await?;
    let gateway_addr = gateway.local_addr();
    let gateway_task = tokio::spawn(gateway.run_until_stopped(stopped(&stop_rx)));

    let result = soak(
        options,
        &control,
        addr,
        gateway_addr,
        &db.name,
        db_max_connections,
    )
    .await;
    let passes = pass_counts(&budgets.metrics().render());

    control.clear_faults();
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(15), service).await;
    let _ = tokio::time::timeout(Duration::from_secs(15), gateway_task).await;
    sim.shutdown().await;
    let mut report = result?;
    report.passes = passes;
    Ok(report)
}

/// `budget_evaluation_passes_total{outcome="..."} n` lines of the service's metrics.
fn pass_counts(metrics: &str) -> BTreeMap<String, u64> {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("budget_evaluation_passes_total{outcome=\""))
        .filter_map(|rest| {
            let (outcome, value) = rest.split_once("\"}")?;
            Some((outcome.to_owned(), value.trim().parse::<f64>().ok()? as u64))
        })
        .collect()
}
