//! Data retention: alert history, notification deliveries, audit events and daily spend
//! (and its split by model) older than BUDGET_RETENTION_DAYS are deleted in small batches, by one replica at a time.

use tokio::sync::watch;

use super::Budgets;
use crate::error::BudgetError;
use crate::store::PurgeCounts;

/// Rows deleted per statement, so no purge holds locks for long.
pub(crate) const PURGE_BATCH: i64 = 1000;

impl Budgets {
    /// Deletes what is older than `retention` (counted back from now) in batches of `batch`
    /// rows. `None` when another replica is purging; stops between batches when `stop` turns
    /// true.
    pub async fn purge_old_data(
        &self,
        retention: chrono::Duration,
        batch: i64,
        stop: &watch::Receiver<bool>,
    ) -> Result<Option<PurgeCounts>, BudgetError> {
        let cutoff = self.clock.now() - retention;
        Ok(self
            .store
            .purge_older_than(cutoff, batch.max(1), || !*stop.borrow())
            .await?)
    }
}
