//! GetBudgetConfig and UpdateBudgetConfig: an update reaches LiteLLM and our database, or
//! neither.

use chrono::{DateTime, Utc};

use super::Budgets;
use super::shared::{Actor, key_limits, parse_tenant, tenant_and, write_error};
use crate::domain::increase::effective_settings;
use crate::domain::{BudgetSettings, RawConfigUpdate, TenantConfig, TenantId};
use crate::error::BudgetError;
use crate::litellm::LiteLlmError;
use crate::store::{NewAudit, StoreError};

impl Budgets {
    /// The tenant's stored settings; needs no LiteLLM.
    pub(crate) async fn config(&self, tenant_id: &str) -> Result<TenantConfig, BudgetError> {
        let id = parse_tenant(tenant_id)?;
        Ok(self.tenant_config(&id).await?.1)
    }

    /// Replaces the tenant's settings, or those the update's mask names, in LiteLLM and in
    /// our database, or in neither.
    ///
    /// The settings row stays locked from the etag check to the commit, so updates of one
    /// tenant are serialised, a partial update merges onto the values it replaces, and
    /// LiteLLM ends with the values of the last committed one.
    pub(crate) async fn update_config(
        &self,
        tenant_id: &str,
        raw: &RawConfigUpdate,
        actor: &Actor,
    ) -> Result<TenantConfig, BudgetError> {
        let (id, update) = tenant_and(tenant_id, raw.validate())?;
        let mut tx = self.store.begin().await?;
        let (tenant, current) = self
            .store
            .lock_tenant_config(&mut tx, &id)
            .await?
            .ok_or_else(|| BudgetError::TenantNotFound(id.clone()))?;
        if update
            .etag
            .as_ref()
            .is_some_and(|etag| *etag != current.etag())
        {
            return Err(BudgetError::StaleEtag);
        }
        let settings = update
            .applied_to(&current.settings)
            .map_err(BudgetError::InvalidArgument)?;
        // While a temporary increase lasts, the key gets the new settings plus the increase.
        let now = self.clock.now();
        let increase = self.store.temporary_increase_in(&mut tx, &id).await?;
        let old_limits = effective_settings(&current.settings, increase.as_ref(), now);
        let new_limits = effective_settings(&settings, increase.as_ref(), now);
        let key = match self
            .litellm
            .update_key(
                &tenant.key_hash,
                &key_limits(&new_limits, Some(&old_limits)),
            )
            .await
        {
            Ok(key) => key,
            Err(error) => {
                if matches!(error, LiteLlmError::InvalidResponse(_)) {
                    // LiteLLM answered, so it probably applied the change: put our settings
                    // back now rather than at the evaluator's next pass.
                    let _ = tx.rollback().await;
                    if let Err(repair) = self.repair_key(&tenant).await {
                        tracing::warn!(tenant_id = %id, error = %repair, "could not check the key after a failed update; the evaluator will");
                    }
                }
                return Err(write_error(&id, error));
            }
        };
        let saved = self
            .save_config(
                tx,
                &id,
                &current.settings,
                &settings,
                key.budget_reset_at,
                actor,
            )
            .await;
        let saved = match saved {
            Ok(saved) => saved,
            Err(error) => {
                return Err(self
                    .restore_key(&tenant, &old_limits, &new_limits, error)
                    .await);
            }
        };
        self.statuses.invalidate(&id).await;
        tracing::info!(tenant_id = %id, actor = %actor.0, "budget configuration updated");
        Ok(saved)
    }

    async fn save_config(
        &self,
        mut tx: crate::store::Tx,
        id: &TenantId,
        old: &BudgetSettings,
        new: &BudgetSettings,
        reset_at: Option<DateTime<Utc>>,
        actor: &Actor,
    ) -> Result<TenantConfig, StoreError> {
        let saved = self.store.update_config(&mut tx, id, new, reset_at).await?;
        let audit = NewAudit {
            tenant_id: id,
            actor: &actor.0,
            action: "budget_config_updated",
            old: Some(old),
            new: Some(new),
            detail: None,
        };
        self.store.insert_audit(&mut tx, audit).await?;
        self.store.announce_status_change(&mut tx, id).await?;
        tx.commit().await?;
        Ok(saved)
    }
}
