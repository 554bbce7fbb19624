//! Temporary budget increases: at most one row per tenant, deleted when it expires.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, Tx, rows};
use crate::domain::{TemporaryIncrease, TenantId};

#[derive(sqlx::FromRow)]
struct IncreaseRow {
    amount_micros: i64,
    expire_time: DateTime<Utc>,
    reason: String,
}

impl From<IncreaseRow> for TemporaryIncrease {
    fn from(row: IncreaseRow) -> TemporaryIncrease {
        TemporaryIncrease {
            amount_micros: row.amount_micros,
            expire_time: row.expire_time,
            reason: row.reason,
        }
    }
}

impl Store {
    /// The tenant's stored increase (in force or expired but not yet reverted).
    pub(crate) async fn temporary_increase(
        &self,
        id: &TenantId,
    ) -> Result<Option<TemporaryIncrease>, StoreError> {
        self.count_statements(1);
        let row: Option<IncreaseRow> = sqlx::query_as(
            "SELECT amount_micros, expire_time, reason FROM temporary_increases WHERE tenant_id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// Like [`Store::temporary_increase`], in the caller's transaction (which holds the
    /// tenant's settings row locked).
    pub(crate) async fn temporary_increase_in(
        &self,
        tx: &mut Tx,
        id: &TenantId,
    ) -> Result<Option<TemporaryIncrease>, StoreError> {
        self.count_statements(1);
        let row: Option<IncreaseRow> = sqlx::query_as(
            "SELECT amount_micros, expire_time, reason FROM temporary_increases WHERE tenant_id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        Ok(row.map(Into::into))
    }

    /// Stores the tenant's increase, replacing any other.
    pub(crate) async fn put_temporary_increase(
        &self,
        tx: &mut Tx,
        id: &TenantId,
        increase: &TemporaryIncrease,
        granted_by: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO temporary_increases (tenant_id, amount_micros, expire_time, reason, granted_by) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id) DO UPDATE SET amount_micros = EXCLUDED.amount_micros, \
             expire_time = EXCLUDED.expire_time, reason = EXCLUDED.reason, \
             granted_by = EXCLUDED.granted_by, granted_at = now()",
        )
        .bind(id.as_str())
        .bind(increase.amount_micros)
        .bind(increase.expire_time)
        .bind(&increase.reason)
        .bind(granted_by)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Deletes the tenant's increase.
    pub(crate) async fn delete_temporary_increase(
        &self,
        tx: &mut Tx,
        id: &TenantId,
    ) -> Result<(), StoreError> {
        self.count_statements(1);
        sqlx::query("DELETE FROM temporary_increases WHERE tenant_id = $1")
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Tenants whose increase expired at or before `now`, oldest expiry first.
    pub(crate) async fn expired_increases(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<TenantId>, StoreError> {
        self.count_statements(1);
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT tenant_id FROM temporary_increases WHERE expire_time <= $1 \
             ORDER BY expire_time, tenant_id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        ids.into_iter().map(|(id,)| rows::tenant_id(&id)).collect()
    }
}
