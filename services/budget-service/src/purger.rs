//! The background task that purges data older than BUDGET_RETENTION_DAYS once a day (the
//! first run shortly after startup). One replica purges at a time (a PostgreSQL advisory
//! lock); it stops between batches on shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::service::Budgets;
use crate::service::retention::PURGE_BATCH;

/// Time between purges.
const PURGE_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// Wait after startup before the first purge, so it does not compete with start-up work.
const FIRST_PURGE_DELAY: Duration = Duration::from_secs(60);

/// Runs a purge a day until `stop` turns true.
pub(crate) async fn run(
    budgets: Arc<Budgets>,
    retention: chrono::Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut wait = FIRST_PURGE_DELAY;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        wait = PURGE_INTERVAL;
        match budgets.purge_old_data(retention, PURGE_BATCH, &stop).await {
            Ok(Some(counts)) => tracing::info!(
                alerts = counts.alerts,
                deliveries = counts.deliveries,
                audit_events = counts.audit_events,
                daily_spend = counts.daily_spend,
                model_spend = counts.model_spend,
                batches = counts.batches,
                "retention purge finished"
            ),
            Ok(None) => tracing::info!("retention purge skipped: another replica is purging"),
            Err(error) => {
                tracing::warn!(error = %error, "retention purge failed; retrying tomorrow")
            }
        }
        if *stop.borrow() {
            return;
        }
    }
}
