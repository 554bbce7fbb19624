//! The background task that runs an evaluation pass every BUDGET_EVAL_INTERVAL_SECS, so
//! alerts fire also for tenants that go quiet. It stops between tenants on shutdown.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::cluster::Leadership;
use crate::service::Budgets;

/// How many intervals without a completed pass make a leading replica unhealthy.
pub(crate) const STALE_INTERVALS: u32 = 3;

/// How the evaluator is doing, for gRPC health: stale while this replica leads and its last
/// completed pass (or the moment it took the lead) is older than [`STALE_INTERVALS`]
/// intervals. It lives outside the evaluator task, so a task that panics and is restarted
/// does not reset it: a crash loop turns the replica NOT_SERVING.
pub(crate) struct Liveness {
    state: Mutex<LivenessState>,
}

struct LivenessState {
    leading: bool,
    since: Instant,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            state: Mutex::new(LivenessState {
                leading: false,
                since: Instant::now(),
            }),
        }
    }
}

impl Liveness {
    fn with_state<T>(&self, f: impl FnOnce(&mut LivenessState) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state)
    }

    /// Whether this replica leads now; taking the lead starts the clock.
    fn leading(&self, leading: bool) {
        self.with_state(|state| {
            if leading && !state.leading {
                state.since = Instant::now();
            }
            state.leading = leading;
        });
    }

    fn pass_completed(&self) {
        self.with_state(|state| state.since = Instant::now());
    }

    /// True while this replica leads and has completed no pass for STALE_INTERVALS intervals.
    pub(crate) fn stale(&self, interval: Duration) -> bool {
        self.with_state(|state| {
            state.leading && state.since.elapsed() > interval.saturating_mul(STALE_INTERVALS)
        })
    }
}

/// Runs passes until `stop` turns true; the first pass starts at once. One replica at a
/// time runs passes (`leadership`, see `cluster`); the lock goes with this task.
pub(crate) async fn run(
    budgets: Arc<Budgets>,
    mut leadership: Leadership,
    interval: Duration,
    liveness: Arc<Liveness>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = ticker.tick() => false,
            _ = stop.wait_for(|stopped| *stopped) => true,
        };
        if stopping {
            liveness.leading(false);
            leadership.release().await;
            return;
        }
        let leads = leadership.lead().await;
        liveness.leading(leads);
        if !leads {
            tracing::debug!("evaluation pass skipped: another replica leads the evaluator");
            continue;
        }
        budgets.panic_points().check("evaluator");
        let started = Instant::now();
        match budgets.evaluation_pass(&stop).await {
            Ok(report) => {
                if !report.interrupted {
                    liveness.pass_completed();
                }
                tracing::info!(
                    tenants = report.tenants,
                    evaluated = report.evaluated,
                    unchanged = report.unchanged,
                    alerts = report.alerts_recorded,
                    repaired = report.keys_repaired,
                    failed = report.failed,
                    db_statements = report.db_statements,
                    listing_ms = millis(report.listing_time),
                    own_ms = millis(report.own_time),
                    elapsed_ms = millis(started.elapsed()),
                    "evaluation pass finished"
                )
            }
            Err(error) => {
                tracing::warn!(error = %error, "evaluation pass failed; retrying next interval")
            }
        }
        if *stop.borrow() {
            break;
        }
    }
    liveness.leading(false);
    leadership.release().await;
}

fn millis(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}
