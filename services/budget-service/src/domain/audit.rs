//! The audit trail: who changed what in a tenant's budget, and when.

use chrono::{DateTime, Utc};

use super::budget::BudgetSettings;
use super::tenant::TenantId;

/// One change in a tenant's audit trail.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub event_id: i64,
    pub tenant_id: TenantId,
    pub actor: String,
    pub action: String,
    pub old: Option<BudgetSettings>,
    pub new: Option<BudgetSettings>,
    /// A summary of a change that is not a budget setting.
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
}
