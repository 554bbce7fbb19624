//! GetFleetSummary: the fleet at a glance, from the evaluator's table (never LiteLLM).

use super::Budgets;
use super::lists::TenantOverview;
use crate::error::BudgetError;
use crate::store::FleetTotals;

/// How many tenants "runs out before reset" names; the count covers them all.
pub(super) const RUNS_OUT_LISTED: i64 = 10;

/// Live tenants by state, their totals, and those expected to run out before their reset.
#[derive(Clone, Debug)]
pub(crate) struct FleetSummary {
    pub totals: FleetTotals,
    /// The first [`RUNS_OUT_LISTED`] tenants expected to run out, soonest first.
    pub runs_out: Vec<TenantOverview>,
}

impl Budgets {
    /// The fleet overview. Counts and sums are one statement, the soonest run-outs another
    /// (they run concurrently, each on its own connection).
    pub(crate) async fn fleet_summary(&self) -> Result<FleetSummary, BudgetError> {
        let (totals, soonest) = tokio::try_join!(
            self.store.fleet_totals(),
            self.store.soonest_run_outs(RUNS_OUT_LISTED)
        )?;
        let runs_out = soonest
            .into_iter()
            .map(|(tenant, config, status)| TenantOverview {
                tenant,
                config,
                status,
            })
            .collect();
        Ok(FleetSummary { totals, runs_out })
    }
}
