//! Temporary budget increases: granting one (LiteLLM first, then our database, or neither)
//! and reverting it when it expires (the evaluator's job, so it survives restarts).

use crate::domain::Tenant;
use crate::domain::increase::effective_settings;
use crate::domain::money::format_usd;
use crate::domain::{BudgetSettings, RawIncrease, TemporaryIncrease, TenantId};
use crate::error::BudgetError;
use crate::store::{NewAudit, StoreError};

use super::Budgets;
use super::shared::{Actor, key_limits, tenant_and, write_error};

/// Expired increases reverted per batch at the start of an evaluation pass.
const EXPIRY_BATCH: i64 = 500;

/// The audit action of a grant.
pub(super) const GRANTED: &str = "temporary_increase_granted";
/// The audit action of an expiry.
pub(super) const EXPIRED: &str = "temporary_increase_expired";

/// The evaluator's name in the audit trail.
const EVALUATOR: &str = "budget-evaluator";

fn describe(increase: &TemporaryIncrease) -> String {
    format!(
        "{} until {}: {}",
        format_usd(increase.amount_micros),
        increase
            .expire_time
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        increase.reason
    )
}

impl Budgets {
    /// Raises the tenant's budget by `raw.amount_micros` until `raw.expire_time`, replacing
    /// any increase in force. The key's limits are pushed to LiteLLM first; if our write
    /// fails, the previous limits are pushed back.
    pub(crate) async fn grant_increase(
        &self,
        tenant_id: &str,
        raw: &RawIncrease,
        actor: &Actor,
    ) -> Result<TemporaryIncrease, BudgetError> {
        let now = self.clock.now();
        let (id, increase) = tenant_and(tenant_id, raw.validate(now))?;
        let mut tx = self.store.begin().await?;
        let (tenant, config) = self
            .store
            .lock_tenant_config(&mut tx, &id)
            .await?
            .ok_or_else(|| BudgetError::TenantNotFound(id.clone()))?;
        let previous = self.store.temporary_increase_in(&mut tx, &id).await?;
        let old = effective_settings(&config.settings, previous.as_ref(), now);
        let new = increase.apply(&config.settings);
        self.litellm
            .update_key(&tenant.key_hash, &key_limits(&new, Some(&old)))
            .await
            .map_err(|e| write_error(&id, e))?;
        let saved: Result<(), StoreError> = async {
            self.store
                .put_temporary_increase(&mut tx, &id, &increase, &actor.0)
                .await?;
            let detail = describe(&increase);
            let audit = NewAudit {
                tenant_id: &id,
                actor: &actor.0,
                action: GRANTED,
                old: Some(&old),
                new: Some(&new),
                detail: Some(&detail),
            };
            self.store.insert_audit(&mut tx, audit).await?;
            self.store.announce_status_change(&mut tx, &id).await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        if let Err(error) = saved {
            return Err(self.restore_key(&tenant, &old, &new, error).await);
        }
        self.statuses.invalidate(&id).await;
        tracing::info!(tenant_id = %id, actor = %actor.0, amount_micros = increase.amount_micros,
            expire_time = %increase.expire_time, "temporary budget increase granted");
        Ok(increase)
    }

    /// The tenant's effective settings now, with its increase if one is in force.
    pub(super) async fn effective_now(
        &self,
        id: &TenantId,
        base: &BudgetSettings,
    ) -> Result<(BudgetSettings, Option<TemporaryIncrease>), StoreError> {
        let now = self.clock.now();
        let increase = self
            .store
            .temporary_increase(id)
            .await?
            .filter(|i| i.in_force(now));
        Ok((effective_settings(base, increase.as_ref(), now), increase))
    }

    /// Reverts every increase whose time is up: the key gets its usual limits back and the
    /// increase is deleted, audited `temporary_increase_expired`. Returns how many.
    pub(super) async fn expire_increases(&self) -> Result<usize, BudgetError> {
        let mut expired = 0;
        loop {
            let due = self
                .store
                .expired_increases(self.clock.now(), EXPIRY_BATCH)
                .await?;
            let full = i64::try_from(due.len()).unwrap_or(i64::MAX) >= EXPIRY_BATCH;
            let mut progressed = false;
            for id in due {
                match self.expire_increase(&id).await {
                    Ok(done) => {
                        expired += usize::from(done);
                        progressed |= done;
                    }
                    Err(error) => {
                        tracing::warn!(tenant_id = %id, error = %error, "temporary increase not reverted; retrying next pass");
                    }
                }
            }
            if !full || !progressed {
                return Ok(expired);
            }
        }
    }

    /// Reverts one tenant's expired increase, with its settings row locked so a concurrent
    /// grant or update is never undone. False when there was nothing (left) to revert.
    pub(super) async fn expire_increase(&self, id: &TenantId) -> Result<bool, BudgetError> {
        let mut tx = self.store.begin().await?;
        let Some((tenant, config)) = self.store.lock_tenant_config(&mut tx, id).await? else {
            // The tenant is gone (deleted): its increase has nothing left to revert.
            self.store.delete_temporary_increase(&mut tx, id).await?;
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(false);
        };
        let now = self.clock.now();
        let Some(increase) = self.store.temporary_increase_in(&mut tx, id).await? else {
            return Ok(false);
        };
        if increase.in_force(now) {
            return Ok(false);
        }
        let base = config.settings;
        let raised = increase.apply(&base);
        self.push_base_limits(&tenant, &base, &raised).await?;
        self.store.delete_temporary_increase(&mut tx, id).await?;
        let detail = describe(&increase);
        let audit = NewAudit {
            tenant_id: id,
            actor: EVALUATOR,
            action: EXPIRED,
            old: Some(&raised),
            new: Some(&base),
            detail: Some(&detail),
        };
        self.store.insert_audit(&mut tx, audit).await?;
        self.store.announce_status_change(&mut tx, id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.statuses.invalidate(id).await;
        tracing::info!(tenant_id = %id, "temporary budget increase expired; usual limits restored");
        Ok(true)
    }

    async fn push_base_limits(
        &self,
        tenant: &Tenant,
        base: &BudgetSettings,
        raised: &BudgetSettings,
    ) -> Result<(), BudgetError> {
        self.litellm
            .update_key(&tenant.key_hash, &key_limits(base, Some(raised)))
            .await
            .map_err(|e| write_error(&tenant.tenant_id, e))?;
        Ok(())
    }
}
