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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use budget_proto::v1 as pb;
use budget_service::Settings;
use budget_service::grpc::status::{BUDGET_DATA_UNAVAILABLE, LITELLM_WRITE_FAILED};
use litellm_sim::{Fault, FaultRule, SimControl, SimServer};
use prost::Message;
use tonic::Code;

use crate::scale::rss_kib;
use crate::{ADMIN_TOKEN, AuthedClient, SIM_MASTER_KEY, TestDatabase, admin_database_url};

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

impl SoakReport {
    pub fn count(&self, class: Class) -> u64 {
        self.results
            .iter()
            .filter(|((_, c), _)| *c == class)
            .map(|(_, n)| n)
            .sum()
    }

    /// UNAVAILABLE answers to one method.
    pub fn unavailable(&self, method: &str) -> u64 {
        self.results
            .get(&(method.to_owned(), Class::ExpectedUnavailable))
            .copied()
            .unwrap_or(0)
    }

    pub fn injected_total(&self) -> u64 {
        self.injected.values().sum()
    }

    pub fn rss_warm_kib(&self) -> u64 {
        self.samples.get(self.warm_index).map_or(0, |s| s.rss_kib)
    }

    pub fn rss_end_kib(&self) -> u64 {
        self.samples.last().map_or(0, |s| s.rss_kib)
    }

    /// RSS growth from the first sample after warm-up to the last, in percent.
    pub fn rss_growth_percent(&self) -> f64 {
        let warm = self.rss_warm_kib() as f64;
        if warm == 0.0 {
            return 0.0;
        }
        (self.rss_end_kib() as f64 - warm) / warm * 100.0
    }

    pub fn pg_connections_min_max(&self) -> (i64, i64) {
        let counts = self.samples.iter().map(|s| s.pg_connections);
        (counts.clone().min().unwrap_or(0), counts.max().unwrap_or(0))
    }

    /// The most connections the service may hold: its pool, the cache listener, the
    /// evaluator's and the purger's lock connections, and one spare.
    pub fn pg_connection_bound(&self) -> i64 {
        i64::from(self.db_max_connections) + 4
    }

    /// (criterion, passed) for the soak's checks.
    pub fn checks(&self) -> Vec<(String, bool)> {
        let unexpected = self.count(Class::Unexpected) + self.not_started;
        let unavailable = self.count(Class::ExpectedUnavailable);
        let (min, max) = self.pg_connections_min_max();
        vec![
            (
                format!("zero unexpected results ({unexpected})"),
                unexpected == 0,
            ),
            (
                format!("faults were injected ({})", self.injected_total()),
                self.injected_total() > 0,
            ),
            (
                format!(
                    "failed LiteLLM uses ({}; {unavailable} UNAVAILABLE answers) <= injected faults ({})",
                    self.failed_litellm_uses,
                    self.injected_total()
                ),
                self.failed_litellm_uses <= self.injected_total(),
            ),
            (
                format!(
                    "UpdateBudgetConfig UNAVAILABLE ({}) <= faults injected into /key/update ({})",
                    self.unavailable("UpdateBudgetConfig"),
                    self.injected.get("/key/update").copied().unwrap_or(0)
                ),
                self.unavailable("UpdateBudgetConfig")
                    <= self.injected.get("/key/update").copied().unwrap_or(0),
            ),
            (
                format!(
                    "RSS growth after warm-up < 10 % ({:.1} %)",
                    self.rss_growth_percent()
                ),
                self.rss_growth_percent() < 10.0,
            ),
            (
                format!(
                    "PostgreSQL connections bounded by the pool ({min}..{max} <= {})",
                    self.pg_connection_bound()
                ),
                max <= self.pg_connection_bound(),
            ),
        ]
    }

    /// The report as `soak` prints it (plain text).
    pub fn render(&self) -> String {
        self.markdown()
    }

    /// The figures as a markdown section body.
    pub fn markdown(&self) -> String {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
        let secs = self.load_duration.as_secs_f64().max(0.001);
        let o = &self.options;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Load: {:.0} s at {} RPC/s scheduled (open loop), {} tenants, LiteLLM faults on {:.0} % of calls \
             (500 / connection reset / slower than the {} s timeout, one third each), status cache TTL {} s, \
             evaluator every {} s. Everything in one process (litellm-sim, budget-service, gateway, load \
             generator); load average at the end: {}.\n",
            secs,
            o.rps,
            o.tenants,
            o.fault_rate * 100.0,
            o.litellm_timeout_secs,
            o.cache_ttl_secs,
            o.eval_interval_secs,
            self.load_average.trim()
        );
        out.push_str("| path | RPCs | RPC/s | p50 | p99 | max |\n|---|---|---|---|---|---|\n");
        for (via, n) in &self.calls_by_via {
            let (p50, p99, max) = self.latency.get(via).copied().unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {n} | {:.1} | {} | {} | {} |",
                via.name(),
                *n as f64 / secs,
                ms(p50),
                ms(p99),
                ms(max)
            );
        }
        out.push_str(
            "\n| method | OK | UNAVAILABLE (injected fault) | ABORTED (etag race) | unexpected |\n|---|---|---|---|---|\n",
        );
        let mut methods: Vec<&String> = self.results.keys().map(|(m, _)| m).collect();
        methods.dedup();
        for method in methods {
            let n = |class| {
                self.results
                    .get(&(method.clone(), class))
                    .copied()
                    .unwrap_or(0)
            };
            let _ = writeln!(
                out,
                "| {method} | {} | {} | {} | {} |",
                n(Class::Ok),
                n(Class::ExpectedUnavailable),
                n(Class::ExpectedAborted),
                n(Class::Unexpected)
            );
        }
        let _ = writeln!(
            out,
            "\nLiteLLM calls: {:?}; injected faults: {:?} ({} in all).",
            self.litellm_calls,
            self.injected,
            self.injected_total()
        );
        if !self.unexpected.is_empty() {
            let _ = writeln!(out, "\nUnexpected: {:?}", self.unexpected);
        }
        if self.not_started > 0 {
            let _ = writeln!(
                out,
                "\nCalls not started (too many in flight): {}",
                self.not_started
            );
        }
        let (min, max) = self.pg_connections_min_max();
        let _ = writeln!(
            out,
            "\nRSS: {} after warm-up ({:.0} s), {} at the end: {:+.1} %. PostgreSQL connections to the \
             soak's database: min {min}, max {max} (pool {}). Evaluation passes: {:?}.\n",
            mib(self.rss_warm_kib()),
            self.samples
                .get(self.warm_index)
                .map_or(0.0, |s| s.at.as_secs_f64()),
            mib(self.rss_end_kib()),
            self.rss_growth_percent(),
            self.db_max_connections,
            self.passes
        );
        out.push_str("| check | result |\n|---|---|\n");
        for (check, ok) in self.checks() {
            let _ = writeln!(out, "| {check} | {} |", if ok { "pass" } else { "FAIL" });
        }
        out.push_str("\nSamples (s: RSS MiB / PG connections): ");
        let samples: Vec<String> = self
            .samples
            .iter()
            .map(|s| {
                format!(
                    "{:.0}: {:.1}/{}",
                    s.at.as_secs_f64(),
                    s.rss_kib as f64 / 1024.0,
                    s.pg_connections
                )
            })
            .collect();
        out.push_str(&samples.join(", "));
        out.push('\n');
        out
    }
}

/// One finished call.
struct Outcome {
    method: &'static str,
    /// The tenant the call was about (empty for the fleet list).
    tenant: String,
    via: Via,
    started: Instant,
    finished: Instant,
    result: Result<(), (Code, String)>,
}

/// Results gathered while the load runs; every buffer is allocated before the load starts.
struct Recorder {
    latencies: BTreeMap<Via, Vec<u32>>,
    /// (method, code) counts of finished calls, classified at the end.
    codes: BTreeMap<(&'static str, Via, i32, String), u64>,
    /// Calls that answered UNAVAILABLE: (method, tenant, started, finished, message).
    unavailable: Vec<(&'static str, String, Instant, Instant, String)>,
}

impl Recorder {
    fn record(&mut self, outcome: Outcome) {
        let micros = outcome.finished.duration_since(outcome.started).as_micros();
        if let Some(latencies) = self.latencies.get_mut(&outcome.via) {
            latencies.push(u32::try_from(micros).unwrap_or(u32::MAX));
        }
        match outcome.result {
            Ok(()) => {
                *self
                    .codes
                    .entry((outcome.method, outcome.via, 0, String::new()))
                    .or_default() += 1;
            }
            Err((Code::Unavailable, message)) => {
                self.unavailable.push((
                    outcome.method,
                    outcome.tenant,
                    outcome.started,
                    outcome.finished,
                    message,
                ));
            }
            Err((code, message)) => {
                *self
                    .codes
                    .entry((outcome.method, outcome.via, i32::from(code), message))
                    .or_default() += 1;
            }
        }
    }
}

/// What the load needs to make calls.
struct Target {
    direct: AuthedClient,
    http: reqwest::Client,
    gateway: String,
    cookie: String,
    tenants: Vec<String>,
    /// Each tenant's raw virtual key, in the order of `tenants`.
    keys: Vec<String>,
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

async fn soak(
    options: &SoakOptions,
    control: &SimControl,
    addr: std::net::SocketAddr,
    gateway_addr: std::net::SocketAddr,
    db_name: &str,
    db_max_connections: u32,
) -> anyhow::Result<SoakReport> {
    let direct = budget_demo::connect(addr, ADMIN_TOKEN).await?;
    let tenants: Vec<String> = (0..options.tenants.max(1)).map(tenant_id).collect();
    let today = control.now().date_naive();
    let mut keys = Vec::with_capacity(tenants.len());
    for (i, id) in tenants.iter().enumerate() {
        let created = direct
            .clone()
            .create_tenant(pb::CreateTenantRequest {
                tenant_id: id.clone(),
                display_name: format!("Soak tenant {i}"),
                config: Some(pb::BudgetConfig {
                    max_budget_micros: 100_000_000,
                    alert_threshold_percent: 80,
                    grace_threshold_percent: 110,
                    budget_duration: "30d".into(),
                    ..Default::default()
                }),
            })
            .await
            .with_context(|| format!("creating {id}"))?
            .into_inner();
        let history: Vec<f64> = (0..7).map(|d| 1.0 + ((i + d) % 5) as f64).collect();
        control.seed_daily_history(&created.virtual_key, today, &history)?;
        control.set_spend(&created.virtual_key, ((i * 37) % 90) as f64)?;
        keys.push(created.virtual_key);
    }
    // Each tenant's history is loaded from LiteLLM once, before any fault.
    for id in &tenants {
        direct
            .clone()
            .get_spend_history(pb::GetSpendHistoryRequest {
                tenant_id: id.clone(),
                days: 30,
            })
            .await
            .with_context(|| format!("history of {id}"))?;
    }

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let gateway = format!("http://{gateway_addr}");
    let signed_in = http
        .post(format!("{gateway}/session"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &gateway)
        .body(format!("token={ADMIN_TOKEN}"))
        .send()
        .await?;
    anyhow::ensure!(
        signed_in.status() == 303,
        "signing in: {}",
        signed_in.status()
    );
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("a session cookie")?
        .to_owned();
    let target = Arc::new(Target {
        direct,
        http,
        gateway,
        cookie,
        tenants,
        keys,
    });

    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&admin_database_url())
        .await?;

    // Faults from here on: one third each, each rule with its own seed.
    let share = options.fault_rate / 3.0;
    let slow = Duration::from_secs(options.litellm_timeout_secs) + Duration::from_millis(500);
    control.reset_calls();
    control.inject(FaultRule::new("/", Fault::Status500).rate(share).seed(1));
    control.inject(
        FaultRule::new("/", Fault::ConnectionReset)
            .rate(share)
            .seed(2),
    );
    control.inject(FaultRule::new("/", Fault::Slow(slow)).rate(share).seed(3));

    let secs = options.duration.as_secs_f64();
    let total = (options.rps * secs).round() as u64;
    let per_via = usize::try_from(total / 2 + 16).unwrap_or(usize::MAX);
    let recorder = Arc::new(Mutex::new(Recorder {
        latencies: [
            (Via::Grpc, Vec::with_capacity(per_via)),
            (Via::Gateway, Vec::with_capacity(per_via)),
        ]
        .into(),
        codes: BTreeMap::new(),
        unavailable: Vec::with_capacity(per_via / 4),
    }));
    // The sim's injected-fault total every 50 ms, to check each UNAVAILABLE against.
    let timeline_capacity = usize::try_from((secs * 20.0) as u64 + 400).unwrap_or(0);
    let timeline = Arc::new(Mutex::new(Vec::<(Instant, u64)>::with_capacity(
        timeline_capacity,
    )));
    let started = Instant::now();
    // Tells the background tasks to end (a watch: a change is never missed between ticks).
    let (finish, done) = tokio::sync::watch::channel(false);
    let sampler = {
        let admin = admin.clone();
        let db_name = db_name.to_owned();
        let mut done = done.clone();
        let every = options.sample_every;
        let capacity = (secs / every.as_secs_f64()) as usize + 4;
        tokio::spawn(async move {
            let mut samples = Vec::with_capacity(capacity);
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = done.changed() => break,
                }
                samples.push(Sample {
                    at: started.elapsed(),
                    rss_kib: rss_kib(),
                    pg_connections: pg_connections(&admin, &db_name).await,
                });
            }
            samples
        })
    };

    let watcher = {
        let control = control.clone();
        let timeline = timeline.clone();
        let mut done = done.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = done.changed() => break,
                }
                let total: u64 = control.all_injected().values().sum();
                if let Ok(mut timeline) = timeline.lock()
                    && timeline.len() < timeline.capacity()
                {
                    timeline.push((Instant::now(), total));
                }
            }
        })
    };
    // Spend grows: every 250 ms one tenant's spend goes up by 1 % of its budget.
    let mover = {
        let control = control.clone();
        let target = target.clone();
        let mut done = done.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let mut n = 0usize;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = done.changed() => break,
                }
                let raw = &target.keys[n % target.keys.len()];
                if let Some(key) = control.key(raw) {
                    let _ = control.set_spend(raw, key.spend + 1.0);
                }
                n += 1;
            }
        })
    };

    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut not_started = 0u64;
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / options.rps);
        tokio::time::sleep_until(due.into()).await;
        if in_flight.load(Ordering::Relaxed) >= options.max_in_flight {
            not_started += 1;
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let target = target.clone();
        let recorder = recorder.clone();
        let in_flight = in_flight.clone();
        // Detached: a kept JoinHandle would keep the finished task's memory until dropped.
        tokio::spawn(async move {
            for outcome in one_operation(&target, i).await {
                if let Ok(mut recorder) = recorder.lock() {
                    recorder.record(outcome);
                }
            }
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
    let load_duration = started.elapsed();
    // The calls still in flight finish within the clients' timeouts.
    let drained = Instant::now();
    while in_flight.load(Ordering::Relaxed) > 0 && drained.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last = Sample {
        at: started.elapsed(),
        rss_kib: rss_kib(),
        pg_connections: pg_connections(&admin, db_name).await,
    };
    let _ = finish.send(true);
    let _ = watcher.await;
    let _ = mover.await;
    let mut samples = sampler.await.unwrap_or_default();
    samples.push(last);
    control.clear_faults();
    admin.close().await;

    let recorder = {
        let mut guard = recorder
            .lock()
            .map_err(|_| anyhow::anyhow!("a call panicked while recording"))?;
        Recorder {
            latencies: std::mem::take(&mut guard.latencies),
            codes: std::mem::take(&mut guard.codes),
            unavailable: std::mem::take(&mut guard.unavailable),
        }
    };
    let timeline = timeline.lock().map(|t| t.clone()).unwrap_or_default();
    let window_slack = Duration::from_secs(options.litellm_timeout_secs) + slow;
    Ok(classify(
        recorder,
        &timeline,
        window_slack,
        SoakReport {
            options: options.clone(),
            load_duration,
            calls_by_via: BTreeMap::new(),
            results: BTreeMap::new(),
            unexpected: BTreeMap::new(),
            latency: BTreeMap::new(),
            not_started,
            litellm_calls: control.all_calls(),
            injected: control.all_injected(),
            warm_index: samples
                .iter()
                .position(|s| s.at >= options.warmup)
                .unwrap_or(0),
            samples,
            passes: BTreeMap::new(),
            db_max_connections,
            failed_litellm_uses: 0,
            load_average: std::fs::read_to_string("/proc/loadavg").unwrap_or_default(),
        },
    ))
}

/// Counts UNAVAILABLE answers once per failed LiteLLM use: reads of one tenant that failed
/// within `FILL_WINDOW` of the group's first failure shared one cache fill (a fill lasts at most
/// the LiteLLM timeout, and its waiters all fail when it does); every failed write is its own
/// call.
fn failed_litellm_uses(unavailable: &[(&'static str, String, Instant, Instant, String)]) -> u64 {
    let mut reads: Vec<(&str, Instant)> = Vec::new();
    let mut uses = 0u64;
    for (method, tenant, _, finished, _) in unavailable {
        if *method == "UpdateBudgetConfig" {
            uses += 1;
        } else {
            reads.push((tenant.as_str(), *finished));
        }
    }
    reads.sort();
    let mut group: Option<(&str, Instant)> = None;
    for (tenant, finished) in reads {
        let shared = group
            .is_some_and(|(t, first)| t == tenant && finished.duration_since(first) <= FILL_WINDOW);
        if !shared {
            uses += 1;
            group = Some((tenant, finished));
        }
    }
    uses
}

/// How close together failed reads of one tenant must end to count as one shared fill.
const FILL_WINDOW: Duration = Duration::from_secs(1);

/// Methods whose UNAVAILABLE can come from LiteLLM.
const LITELLM_METHODS: &[&str] = &["GetBudgetStatus", "UpdateBudgetConfig", "GetSpendHistory"];

fn classify(
    recorder: Recorder,
    timeline: &[(Instant, u64)],
    slack: Duration,
    mut report: SoakReport,
) -> SoakReport {
    // The injected total seen by the watcher at or before `at` (at or after, with `after`).
    let injected_at = |at: Instant, after: bool| -> u64 {
        if after {
            timeline
                .iter()
                .find(|(t, _)| *t >= at)
                .or(timeline.last())
                .map_or(0, |(_, n)| *n)
        } else {
            timeline
                .iter()
                .rev()
                .find(|(t, _)| *t <= at)
                .map_or(0, |(_, n)| *n)
        }
    };
    for (via, mut latencies) in recorder.latencies {
        latencies.sort_unstable();
        let at = |q: f64| {
            let i = ((latencies.len() as f64 - 1.0) * q).round().max(0.0) as usize;
            Duration::from_micros(latencies.get(i).copied().map_or(0, u64::from))
        };
        report.latency.insert(via, (at(0.50), at(0.99), at(1.0)));
        report.calls_by_via.insert(via, latencies.len() as u64);
    }
    for ((method, via, code, message), n) in recorder.codes {
        let code = Code::from(code);
        let class = match code {
            Code::Ok => Class::Ok,
            Code::Aborted if method == "UpdateBudgetConfig" => Class::ExpectedAborted,
            _ => {
                *report
                    .unexpected
                    .entry(format!("{method} {}: {code:?} {message}", via.name()))
                    .or_default() += n;
                Class::Unexpected
            }
        };
        *report
            .results
            .entry((method.to_owned(), class))
            .or_default() += n;
    }
    report.failed_litellm_uses = failed_litellm_uses(&recorder.unavailable);
    for (method, _, started, finished, message) in recorder.unavailable {
        let from_litellm = LITELLM_METHODS.contains(&method)
            && (message == BUDGET_DATA_UNAVAILABLE || message == LITELLM_WRITE_FAILED);
        let earliest = started.checked_sub(slack).unwrap_or(started);
        let fault_in_window =
            injected_at(finished + Duration::from_millis(100), true) > injected_at(earliest, false);
        let class = if from_litellm && fault_in_window {
            Class::ExpectedUnavailable
        } else {
            *report
                .unexpected
                .entry(format!(
                    "{method}: UNAVAILABLE {message} (no injected fault in its window: {})",
                    !fault_in_window
                ))
                .or_default() += 1;
            Class::Unexpected
        };
        *report
            .results
            .entry((method.to_owned(), class))
            .or_default() += 1;
    }
    report
}

/// Connections PostgreSQL has open to `database` (-1 when the count cannot be read).
async fn pg_connections(admin: &sqlx::PgPool, database: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
        .bind(database)
        .fetch_one(admin)
        .await
        .unwrap_or(-1)
}

/// A deterministic pseudo-random number for call `i`.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Call `i` of the mix: mostly statuses, then histories, alerts, the fleet list, and an update
/// (read the config for its etag, then write) on one of a few busy tenants, so updates race.
async fn one_operation(target: &Target, i: u64) -> Vec<Outcome> {
    let via = if i.is_multiple_of(2) {
        Via::Grpc
    } else {
        Via::Gateway
    };
    let r = mix(i);
    let tenant = target.tenants[(r >> 8) as usize % target.tenants.len()].as_str();
    match r % 100 {
        0..=54 => vec![
            call::<_, pb::GetBudgetStatusResponse>(
                target,
                via,
                "GetBudgetStatus",
                tenant,
                pb::GetBudgetStatusRequest {
                    tenant_id: tenant.to_owned(),
                },
            )
            .await
            .0,
        ],
        55..=66 => vec![
            call::<_, pb::GetSpendHistoryResponse>(
                target,
                via,
                "GetSpendHistory",
                tenant,
                pb::GetSpendHistoryRequest {
                    tenant_id: tenant.to_owned(),
                    days: 30,
                },
            )
            .await
            .0,
        ],
        67..=78 => vec![
            call::<_, pb::ListAlertsResponse>(
                target,
                via,
                "ListAlerts",
                tenant,
                pb::ListAlertsRequest {
                    tenant_id: tenant.to_owned(),
                    page_size: 20,
                    ..Default::default()
                },
            )
            .await
            .0,
        ],
        79..=90 => vec![
            call::<_, pb::ListTenantsResponse>(
                target,
                via,
                "ListTenants",
                "",
                pb::ListTenantsRequest {
                    page_size: 50,
                    ..Default::default()
                },
            )
            .await
            .0,
        ],
        _ => {
            let busy = target.tenants[(r >> 8) as usize % target.tenants.len().min(4)].as_str();
            let (read, config) = call::<_, pb::GetBudgetConfigResponse>(
                target,
                via,
                "GetBudgetConfig",
                busy,
                pb::GetBudgetConfigRequest {
                    tenant_id: busy.to_owned(),
                },
            )
            .await;
            let Some(config) = config.and_then(|c| c.config) else {
                return vec![read];
            };
            // Alternate between two budgets so every update changes something.
            let max_budget_micros = if config.max_budget_micros == 100_000_000 {
                120_000_000
            } else {
                100_000_000
            };
            let etag = config.etag.clone();
            let (write, _) = call::<_, pb::UpdateBudgetConfigResponse>(
                target,
                via,
                "UpdateBudgetConfig",
                busy,
                pb::UpdateBudgetConfigRequest {
                    tenant_id: busy.to_owned(),
                    config: Some(pb::BudgetConfig {
                        max_budget_micros,
                        ..config
                    }),
                    etag,
                },
            )
            .await;
            vec![read, write]
        }
    }
}

/// Sends one RPC by `via` and times it.
async fn call<Q, R>(
    target: &Target,
    via: Via,
    method: &'static str,
    tenant: &str,
    request: Q,
) -> (Outcome, Option<R>)
where
    Q: Message + Send + 'static + Into<AnyRequest>,
    R: Message + Default + FromAny,
{
    let started = Instant::now();
    let result = match via {
        Via::Grpc => direct_call::<R>(target, request.into()).await,
        Via::Gateway => web_call::<Q, R>(target, method, &request).await,
    };
    let (result, answer) = match result {
        Ok(answer) => (Ok(()), Some(answer)),
        Err(failure) => (Err(failure), None),
    };
    (
        Outcome {
            method,
            tenant: tenant.to_owned(),
            via,
            started,
            finished: Instant::now(),
            result,
        },
        answer,
    )
}

/// The requests the mix sends, for the typed direct client.
pub enum AnyRequest {
    Status(pb::GetBudgetStatusRequest),
    History(pb::GetSpendHistoryRequest),
    Alerts(pb::ListAlertsRequest),
    Tenants(pb::ListTenantsRequest),
    Config(pb::GetBudgetConfigRequest),
    Update(pb::UpdateBudgetConfigRequest),
}

/// The answers the mix reads, from the typed direct client.
pub enum AnyResponse {
    Config(pb::GetBudgetConfigResponse),
    Update(pb::UpdateBudgetConfigResponse),
    Other,
}

/// Picks a typed answer out of [`AnyResponse`].
pub trait FromAny: Sized {
    fn from_any(answer: AnyResponse) -> Option<Self>;
}

macro_rules! requests {
    ($($variant:ident($request:ty)),*) => {
        $(impl From<$request> for AnyRequest {
            fn from(request: $request) -> AnyRequest {
                AnyRequest::$variant(request)
            }
        })*
    };
}
requests!(
    Status(pb::GetBudgetStatusRequest),
    History(pb::GetSpendHistoryRequest),
    Alerts(pb::ListAlertsRequest),
    Tenants(pb::ListTenantsRequest),
    Config(pb::GetBudgetConfigRequest),
    Update(pb::UpdateBudgetConfigRequest)
);

impl FromAny for pb::GetBudgetConfigResponse {
    fn from_any(answer: AnyResponse) -> Option<Self> {
        match answer {
            AnyResponse::Config(c) => Some(c),
            _ => None,
        }
    }
}

impl FromAny for pb::UpdateBudgetConfigResponse {
    fn from_any(answer: AnyResponse) -> Option<Self> {
        match answer {
            AnyResponse::Update(u) => Some(u),
            _ => None,
        }
    }
}

macro_rules! discarded_answers {
    ($($response:ty),*) => {
        $(impl FromAny for $response {
            fn from_any(_: AnyResponse) -> Option<Self> {
                Some(Self::default())
            }
        })*
    };
}
discarded_answers!(
    pb::GetBudgetStatusResponse,
    pb::GetSpendHistoryResponse,
    pb::ListAlertsResponse,
    pb::ListTenantsResponse
);

async fn direct_call<R: FromAny>(
    target: &Target,
    request: AnyRequest,
) -> Result<R, (Code, String)> {
    let mut client = target.direct.clone();
    let answer = match request {
        AnyRequest::Status(r) => client
            .get_budget_status(r)
            .await
            .map(|_| AnyResponse::Other),
        AnyRequest::History(r) => client
            .get_spend_history(r)
            .await
            .map(|_| AnyResponse::Other),
        AnyRequest::Alerts(r) => client.list_alerts(r).await.map(|_| AnyResponse::Other),
        AnyRequest::Tenants(r) => client.list_tenants(r).await.map(|_| AnyResponse::Other),
        AnyRequest::Config(r) => client
            .get_budget_config(r)
            .await
            .map(|a| AnyResponse::Config(a.into_inner())),
        AnyRequest::Update(r) => client
            .update_budget_config(r)
            .await
            .map(|a| AnyResponse::Update(a.into_inner())),
    };
    match answer {
        Ok(answer) => R::from_any(answer).ok_or((Code::Internal, "wrong answer type".into())),
        Err(status) => Err((status.code(), status.message().to_owned())),
    }
}

/// One gRPC-web call through the gateway, as the dashboard makes it (session cookie, same-origin
/// `Origin`).
async fn web_call<Q: Message, R: Message + Default>(
    target: &Target,
    method: &str,
    request: &Q,
) -> Result<R, (Code, String)> {
    let payload = request.encode_to_vec();
    let mut body = Vec::with_capacity(payload.len() + 5);
    body.push(0u8);
    body.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    body.extend_from_slice(&payload);
    let transport = |e: reqwest::Error| (Code::Unknown, format!("gateway transport: {e}"));
    let response = target
        .http
        .post(format!(
            "{}/budget.v1.BudgetService/{method}",
            target.gateway
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("accept", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("origin", &target.gateway)
        .header("sec-fetch-site", "same-origin")
        .header("cookie", &target.cookie)
        .body(body)
        .send()
        .await
        .map_err(transport)?;
    if response.status() != 200 {
        return Err((Code::Unknown, format!("gateway HTTP {}", response.status())));
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (mut status, mut message) = (header("grpc-status"), header("grpc-message"));
    let bytes = response.bytes().await.map_err(transport)?;
    let mut answer = None;
    let mut rest = &bytes[..];
    while rest.len() >= 5 {
        let flag = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let Some(frame) = rest.get(5..5 + len) else {
            return Err((Code::Unknown, "gateway: truncated gRPC-web frame".into()));
        };
        rest = &rest[5 + len..];
        if flag & 0x80 == 0 {
            answer = R::decode(frame).ok();
        } else {
            for line in String::from_utf8_lossy(frame).split("\r\n") {
                if let Some((name, value)) = line.split_once(':') {
                    match name.trim().to_ascii_lowercase().as_str() {
                        "grpc-status" => status = Some(value.trim().to_owned()),
                        "grpc-message" => message = Some(value.trim().to_owned()),
                        _ => {}
                    }
                }
            }
        }
    }
    let code = status
        .and_then(|s| s.parse::<i32>().ok())
        .map_or(Code::Unknown, Code::from);
    match (code, answer) {
        (Code::Ok, Some(answer)) => Ok(answer),
        (Code::Ok, None) => Err((Code::Unknown, "gateway: OK without a message".into())),
        (code, _) => Err((code, percent_decode(&message.unwrap_or_default()))),
    }
}

/// grpc-message is percent-encoded.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
