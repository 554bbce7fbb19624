//! Reads for CSV exports: a tenant's daily spend, alerts and audit events in a time range,
//! oldest first.

use chrono::{DateTime, NaiveDate, Utc};

use super::rows::{AlertRow, AuditRow};
use super::{Store, StoreError};
use crate::domain::TenantId;
use crate::domain::{Alert, AuditEvent};

impl Store {
    /// Stored daily spend for the days `start..=end` (days without a row are absent).
    pub(crate) async fn daily_spend_between(
        &self,
        id: &TenantId,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<(NaiveDate, i64)>, StoreError> {
        let days: Vec<(NaiveDate, i64)> = sqlx::query_as(
            "SELECT day, spend_micros FROM daily_spend \
             WHERE tenant_id = $1 AND day >= $2 AND day <= $3 ORDER BY day",
        )
        .bind(id.as_str())
        .bind(start)
        .bind(end)
        .fetch_all(&self.pool)
        .await?;
        Ok(days)
    }

    /// The tenant's alerts created in `[from, to)`, oldest first.
    pub(crate) async fn alerts_between(
        &self,
        id: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Alert>, StoreError> {
        let rows: Vec<AlertRow> = sqlx::query_as(
            "SELECT alert_id, tenant_id, alert_type, spend_micros, max_budget_micros, percent, \
             threshold_percent, message, created_at FROM budget_alert_history \
             WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 \
             ORDER BY created_at, alert_id",
        )
        .bind(id.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AlertRow::into_record).collect()
    }

    /// The tenant's audit events recorded in `[from, to)`, oldest first.
    pub(crate) async fn audit_between(
        &self,
        id: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT event_id, tenant_id, actor, action, old_config, new_config, detail, created_at \
             FROM audit_events WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 \
             ORDER BY created_at, event_id",
        )
        .bind(id.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AuditRow::into_record).collect()
    }
}
