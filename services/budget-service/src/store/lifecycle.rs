//! Tenant lifecycle writes: deletion, key replacement and suspension. Each runs in the
//! caller's transaction, which already holds the tenant's settings row lock.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, Tx};
use crate::domain::TenantId;

impl Store {
    /// Marks the tenant deleted (its row, history, alerts and audit stay); returns when.
    pub(crate) async fn mark_tenant_deleted(
        &self,
        tx: &mut Tx,
        id: &TenantId,
    ) -> Result<DateTime<Utc>, StoreError> {
        let (at,): (DateTime<Utc>,) = sqlx::query_as(
            "UPDATE tenants SET deleted_at = now() WHERE tenant_id = $1 RETURNING deleted_at",
        )
        .bind(id.as_str())
        .fetch_one(&mut **tx)
        .await?;
        Ok(at)
    }

    /// How many times the tenant's key was rotated.
    pub(crate) async fn key_rotations(
        &self,
        tx: &mut Tx,
        id: &TenantId,
    ) -> Result<i32, StoreError> {
        let (count,): (i32,) =
            sqlx::query_as("SELECT key_rotations FROM tenants WHERE tenant_id = $1")
                .bind(id.as_str())
                .fetch_one(&mut **tx)
                .await?;
        Ok(count)
    }

    /// Points the tenant at another LiteLLM key; `rotated` counts a rotation.
    pub(crate) async fn set_tenant_key(
        &self,
        tx: &mut Tx,
        id: &TenantId,
        key_hash: &str,
        key_alias: &str,
        rotated: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tenants SET key_hash = $2, key_alias = $3, \
             key_rotations = key_rotations + CASE WHEN $4 THEN 1 ELSE 0 END WHERE tenant_id = $1",
        )
        .bind(id.as_str())
        .bind(key_hash)
        .bind(key_alias)
        .bind(rotated)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Remembers the reset time of a new key (it starts a fresh period).
    pub(crate) async fn set_reset_time(
        &self,
        tx: &mut Tx,
        id: &TenantId,
        reset_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE tenant_configs SET budget_reset_at = $2 WHERE tenant_id = $1")
            .bind(id.as_str())
            .bind(reset_at)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// The tenant (deleted or not) that has this key hash.
    pub(crate) async fn any_tenant_with_key(
        &self,
        tx: &mut Tx,
        key_hash: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT tenant_id FROM tenants WHERE key_hash = $1")
                .bind(key_hash)
                .fetch_optional(&mut **tx)
                .await?;
        Ok(row.map(|(id,)| id))
    }

    /// Sets (with a reason) or clears the tenant's suspension; returns the new `suspended_at`.
    pub(crate) async fn set_suspended(
        &self,
        tx: &mut Tx,
        id: &TenantId,
        suspended: bool,
        reason: Option<&str>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (at,): (Option<DateTime<Utc>>,) = sqlx::query_as(
            "UPDATE tenants SET suspended_at = CASE WHEN $2 THEN now() ELSE NULL END, \
             suspend_reason = $3 WHERE tenant_id = $1 RETURNING suspended_at",
        )
        .bind(id.as_str())
        .bind(suspended)
        .bind(reason)
        .fetch_one(&mut **tx)
        .await?;
        Ok(at)
    }

    /// Whether the tenant exists or existed (deleted tenants keep their audit trail).
    pub(crate) async fn tenant_ever_existed(&self, id: &TenantId) -> Result<bool, StoreError> {
        let found: Option<(String,)> =
            sqlx::query_as("SELECT tenant_id FROM tenants WHERE tenant_id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }
}
