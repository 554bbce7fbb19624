//! Benchmarks of the whole product (authentication, metrics and all), each measured as a ratio
//! against a baseline started by the same harness in the same run, because absolute times on a
//! shared machine drift. [`run`] measures every figure and [`report::render`] writes
//! BENCHMARKS.md; the smoke test runs the same code at [`Sizes::smoke`].

pub mod alerts;
pub mod cpu;
pub mod dashboard;
pub mod gateway;
pub mod hit;
pub mod load;
pub mod memory;
pub mod report;
pub mod storm;
pub mod update;

use std::time::{Duration, Instant};

pub use report::{Figure, Report};

/// How big each benchmark is.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Concurrent callers of the load generator (figures 1, 4 and 5).
    pub callers: usize,
    /// How long each measured load round lasts.
    pub round: Duration,
    /// Interleaved rounds of product and baseline (the median round is reported).
    pub rounds: usize,
    pub storm_calls: usize,
    pub storm_tenants: usize,
    pub alert_rows: u64,
    pub alert_tenants: u64,
    /// ListAlerts calls (and as many raw queries) timed.
    pub alert_samples: usize,
    /// Dashboard loads (0: leave figure 6 to tests/browser/bench-smoke.test.mjs).
    pub dashboard_runs: usize,
    pub memory_tenants: usize,
    /// Only these figures (1-7); empty runs them all.
    pub only: Vec<u8>,
}

impl Sizes {
    /// Whether figure `n` is to be measured.
    pub fn wants(&self, n: u8) -> bool {
        self.only.is_empty() || self.only.contains(&n)
    }

    /// The sizes the issue asks for (about 6-8 minutes on 2 cores, release build).
    pub fn full() -> Sizes {
        Sizes {
            callers: 64,
            round: Duration::from_secs(5),
            rounds: 3,
            storm_calls: 10_000,
            storm_tenants: 100,
            alert_rows: 10_000_000,
            alert_tenants: 10_000,
            alert_samples: 2_000,
            dashboard_runs: 10,
            memory_tenants: 100_000,
            only: Vec::new(),
        }
    }

    /// Small enough for a debug-build test, the same code paths.
    pub fn smoke() -> Sizes {
        Sizes {
            callers: 8,
            round: Duration::from_millis(500),
            rounds: 1,
            storm_calls: 300,
            storm_tenants: 10,
            alert_rows: 20_000,
            alert_tenants: 100,
            alert_samples: 50,
            dashboard_runs: 0,
            memory_tenants: 300,
            only: Vec::new(),
        }
    }
}

/// Runs every figure in order and returns the report (memory first, while the process is
/// fresh, so its baseline RSS is the bare harness).
pub async fn run(sizes: &Sizes) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut figures = Vec::new();
    let step = |name: &str| eprintln!("[{:>6.1} s] {name}", started.elapsed().as_secs_f64());
    let memory = if sizes.wants(7) {
        step("7 memory");
        Some(memory::run(sizes).await?)
    } else {
        None
    };
    if sizes.wants(1) {
        step("1 cache hit vs echo");
        figures.push(hit::run(sizes).await?);
    }
    if sizes.wants(2) {
        step("2 cache-miss storm");
        figures.push(storm::run(sizes).await?);
    }
    if sizes.wants(3) {
        step("3 ListAlerts");
        figures.push(alerts::run(sizes).await?);
    }
    if sizes.wants(4) {
        step("4 gateway");
        figures.push(gateway::run(sizes).await?);
    }
    if sizes.wants(5) {
        step("5 UpdateBudgetConfig");
        figures.push(update::run(sizes).await?);
    }
    if sizes.wants(6) {
        step("6 dashboard");
        figures.push(dashboard::run(sizes).await?);
    }
    figures.extend(memory);
    step("done");
    Ok(Report::new(sizes.clone(), figures, started.elapsed()))
}
