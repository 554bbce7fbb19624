//! The background task that runs an evaluation pass every BUDGET_EVAL_INTERVAL_SECS, so
//! alerts fire also for tenants that go quiet. It stops between tenants on shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::service::Budgets;

/// Runs passes until `stop` turns true; the first pass starts at once.
pub async fn run(budgets: Arc<Budgets>, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // One replica at a time runs passes (see `cluster`); the lock goes with this task.
    let mut leadership = crate::cluster::Leadership::new(budgets.clone());
    loop {
        let stopping = tokio::select! {
            _ = ticker.tick() => false,
            _ = stop.wait_for(|stopped| *stopped) => true,
        };
        if stopping {
            leadership.release().await;
            return;
        }
        if !leadership.lead().await {
            tracing::debug!("evaluation pass skipped: another replica leads the evaluator");
            continue;
        }
        let started = Instant::now();
        match budgets.evaluation_pass(&stop).await {
            Ok(report) => tracing::info!(
                tenants = report.tenants,
                evaluated = report.evaluated,
                alerts = report.alerts_recorded,
                repaired = report.keys_repaired,
                failed = report.failed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "evaluation pass finished"
            ),
            Err(error) => {
                tracing::warn!(error = %error, "evaluation pass failed; retrying next interval")
            }
        }
        if *stop.borrow() {
            break;
        }
    }
    leadership.release().await;
}
