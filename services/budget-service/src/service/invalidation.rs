//! Keeping the status cache right with several replicas: every change of a tenant's status
//! inputs is announced in its own transaction (`Store::announce_status_change`), each
//! replica's listener drops that tenant's entry, and a listener that lost its connection
//! drops the whole cache. Also the evaluator's leadership flag.

use std::sync::atomic::Ordering;

use super::Budgets;
use crate::domain::TenantId;

impl Budgets {
    /// Drops the tenant's cached status (it changed, maybe on another replica). Unknown or
    /// malformed ids are ignored.
    pub(crate) async fn forget_status(&self, tenant_id: &str) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        if let Some(id) = TenantId::parse(tenant_id) {
            self.statuses.invalidate(&id).await;
        }
    }

    /// Drops every cached status (notifications may have been missed).
    pub fn forget_all_statuses(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.statuses.invalidate_all();
    }

    /// Whether this replica's evaluator holds the leadership lock (runs the passes).
    pub fn leads_evaluation(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    pub(crate) fn set_leads_evaluation(&self, leading: bool) {
        self.leading.store(leading, Ordering::SeqCst);
    }
}
