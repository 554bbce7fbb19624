//! Tenant lifecycle: delete, rotate or attach the key, suspend and resume.
//!
//! Each use case locks the tenant's settings row (so it is serialised with budget updates and
//! with the evaluator's drift repair), changes LiteLLM, then records the change and its audit
//! event in the same transaction.

use super::Budgets;
use super::shared::{
    Actor, generate_error, key_limits, parse_tenant, read_error, tenant_and, tenant_key,
    write_error,
};
use crate::domain::Tenant;
use crate::domain::{FieldViolation, TenantId, is_short_text};
use crate::error::BudgetError;
use crate::litellm::{LiteLlmError, NewKey};
use crate::store::{NewAudit, StoreError, Tx};

/// The longest suspension reason kept in the audit trail.
const MAX_REASON_CHARS: usize = 500;

impl Budgets {
    /// Deletes the tenant's LiteLLM key and marks the tenant deleted: its history, alerts and
    /// audit trail stay, the evaluator and fleet view skip it, its RPCs answer NOT_FOUND and
    /// its id is never reused. A key LiteLLM no longer has counts as deleted, so a retry after
    /// a failed commit finishes the job.
    pub(crate) async fn delete_tenant(
        &self,
        tenant_id: &str,
        actor: &Actor,
    ) -> Result<Tenant, BudgetError> {
        let id = parse_tenant(tenant_id)?;
        let (mut tx, mut tenant) = self.lock_tenant(&id).await?;
        let deleted_at = self.store.mark_tenant_deleted(&mut tx, &id).await?;
        self.audit(&mut tx, &id, actor, "tenant_deleted", None)
            .await?;
        self.store.announce_status_change(&mut tx, &id).await?;
        match self.litellm.delete_key(&tenant.key_hash).await {
            Ok(()) | Err(LiteLlmError::KeyNotFound) => {}
            Err(error) => return Err(BudgetError::LiteLlmWriteFailed(error)),
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.statuses.invalidate(&id).await;
        tracing::info!(tenant_id = %id, actor = %actor.0, "tenant deleted");
        tenant.deleted_at = Some(deleted_at);
        Ok(tenant)
    }

    /// Replaces the tenant's LiteLLM key and returns the new raw key, shown this once.
    ///
    /// Without LITELLM_ENTERPRISE (LiteLLM's /key/regenerate needs its licence) a new key is
    /// generated with alias `tenant-<id>-<n>` (n counts rotations), our limits and the old
    /// key's current spend; sending `budget_duration` makes LiteLLM compute a fresh reset
    /// date, which is remembered. The stored hash is switched in one transaction with the
    /// audit event, then the old key is deleted. If that last delete fails the rotation still
    /// stands (the new key is only shown now) and the failure is logged for an operator.
    pub(crate) async fn rotate_tenant_key(
        &self,
        tenant_id: &str,
        actor: &Actor,
    ) -> Result<(Tenant, String), BudgetError> {
        let id = parse_tenant(tenant_id)?;
        let (mut tx, mut tenant) = self.lock_tenant(&id).await?;
        let (_, config) = self.tenant_config(&id).await?;
        let rotations = self.store.key_rotations(&mut tx, &id).await?;
        let alias = format!("{}-{}", id.key_alias(), rotations.saturating_add(1));
        let old = self
            .litellm
            .key_info(&tenant.key_hash)
            .await
            .map_err(|e| read_error(&id, e))?;
        let enterprise = self.litellm.enterprise();
        let key: NewKey = if enterprise {
            self.litellm
                .regenerate_key(&tenant.key_hash, &alias)
                .await
                .map_err(|e| write_error(&id, e))?
        } else {
            self.litellm
                .generate_replacement_key(
                    &alias,
                    id.as_str(),
                    &key_limits(&config.settings, None),
                    old.spend_micros,
                    tenant.suspended_at.is_some(),
                )
                .await
                .map_err(generate_error)?
        };
        let reset_at = self.reset_time_of(&key.key_hash).await;
        let detail = format!("new key alias {alias}");
        let saved = self
            .switch_key(
                tx,
                &id,
                &key.key_hash,
                &alias,
                true,
                reset_at,
                actor,
                "tenant_key_rotated",
                &detail,
            )
            .await;
        if let Err(error) = saved {
            if !enterprise && let Err(delete) = self.litellm.delete_key(&key.key_hash).await {
                tracing::error!(tenant_id = %id, error = %delete, "could not delete the new key of a rotation that was not saved");
            }
            return Err(error.into());
        }
        if !enterprise && let Err(error) = self.litellm.delete_key(&tenant.key_hash).await {
            tracing::error!(tenant_id = %id, error = %error, "key rotated but the old key could not be deleted in LiteLLM; delete it by hand");
        }
        self.statuses.invalidate(&id).await;
        tracing::info!(tenant_id = %id, actor = %actor.0, "tenant key rotated");
        tenant.key_hash = key.key_hash;
        tenant.key_alias = alias;
        Ok((tenant, key.raw_key))
    }

    /// Points the tenant at a key created elsewhere (by sha256 hash) after checking LiteLLM
    /// has it and it is usable, and pushes our limits to it (`budget_duration` only when the
    /// key's differs, so its period is not restarted). The previous key is left as it is.
    pub(crate) async fn attach_tenant_key(
        &self,
        tenant_id: &str,
        key_hash: &str,
        actor: &Actor,
    ) -> Result<Tenant, BudgetError> {
        let key_hash = key_hash.trim().to_ascii_lowercase();
        let hash_ok = key_hash.len() == 64 && key_hash.bytes().all(|b| b.is_ascii_hexdigit());
        let (id, ()) = tenant_and(tenant_id, hash_ok.then_some(()).ok_or_else(hash_violation))?;
        let (mut tx, mut tenant) = self.lock_tenant(&id).await?;
        if let Some(owner) = self.store.any_tenant_with_key(&mut tx, &key_hash).await? {
            let description = if owner == id.as_str() {
                "The tenant already uses this key".to_owned()
            } else {
                format!("The key belongs to tenant {owner}")
            };
            return Err(FieldViolation::new("key_hash", description).into());
        }
        let (_, config) = self.tenant_config(&id).await?;
        let (key, alias) =
            self.litellm
                .key_info_with_alias(&key_hash)
                .await
                .map_err(|e| match e {
                    LiteLlmError::KeyNotFound => BudgetError::from(FieldViolation::new(
                        "key_hash",
                        "LiteLLM does not know this key",
                    )),
                    other => BudgetError::BudgetDataUnavailable(other),
                })?;
        let key = tenant_key(&tenant, key)?;
        let mut limits = key_limits(&config.settings, None);
        if key.budget_duration.as_deref() == limits.budget_duration {
            limits.budget_duration = None;
        }
        let updated = self
            .litellm
            .update_key(&key_hash, &limits)
            .await
            .map_err(|e| write_error(&id, e))?;
        if tenant.suspended_at.is_some() {
            self.litellm
                .block_key(&key_hash)
                .await
                .map_err(|e| write_error(&id, e))?;
        }
        let alias = alias.unwrap_or_else(|| id.key_alias());
        let reset_at = updated.budget_reset_at.or(key.budget_reset_at);
        let detail = format!("attached key alias {alias}");
        self.switch_key(
            tx,
            &id,
            &key_hash,
            &alias,
            false,
            reset_at,
            actor,
            "tenant_key_attached",
            &detail,
        )
        .await?;
        self.statuses.invalidate(&id).await;
        tracing::info!(tenant_id = %id, actor = %actor.0, "key attached to tenant");
        tenant.key_hash = key_hash;
        tenant.key_alias = alias;
        Ok(tenant)
    }

    /// An emergency stop: blocks the tenant's key in LiteLLM (/key/block) and records why.
    /// The status keeps answering, with `suspended`. Suspending a suspended tenant changes
    /// nothing.
    pub(crate) async fn suspend_tenant(
        &self,
        tenant_id: &str,
        reason: &str,
        actor: &Actor,
    ) -> Result<Tenant, BudgetError> {
        let reason = reason.trim();
        let reason_ok = is_short_text(reason, MAX_REASON_CHARS).then_some(());
        let (id, ()) = tenant_and(
            tenant_id,
            reason_ok.ok_or_else(|| {
                FieldViolation::new(
                    "reason",
                    "Reason must be at most 500 characters, without control characters",
                )
            }),
        )?;
        let (mut tx, mut tenant) = self.lock_tenant(&id).await?;
        if tenant.suspended_at.is_some() {
            return Ok(tenant);
        }
        self.litellm
            .block_key(&tenant.key_hash)
            .await
            .map_err(|e| write_error(&id, e))?;
        let reason = (!reason.is_empty()).then_some(reason);
        let saved = async {
            let at = self.store.set_suspended(&mut tx, &id, true, reason).await?;
            let detail = format!("reason: {}", reason.unwrap_or("(none given)"));
            self.audit(&mut tx, &id, actor, "tenant_suspended", Some(&detail))
                .await?;
            self.store.announce_status_change(&mut tx, &id).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(at)
        }
        .await;
        let at = match saved {
            Ok(at) => at,
            Err(error) => {
                return Err(self.undo_block(&tenant, true, error).await);
            }
        };
        self.statuses.invalidate(&id).await;
        tracing::info!(tenant_id = %id, actor = %actor.0, "tenant suspended");
        tenant.suspended_at = at;
        Ok(tenant)
    }

    /// Lets a suspended tenant work again (/key/unblock). Resuming a tenant that is not
    /// suspended changes nothing.
    pub(crate) async fn resume_tenant(
        &self,
        tenant_id: &str,
        actor: &Actor,
    ) -> Result<Tenant, BudgetError> {
        let id = parse_tenant(tenant_id)?;
        let (mut tx, mut tenant) = self.lock_tenant(&id).await?;
        if tenant.suspended_at.is_none() {
            return Ok(tenant);
        }
        self.litellm
            .unblock_key(&tenant.key_hash)
            .await
            .map_err(|e| write_error(&id, e))?;
        let saved = async {
            self.store.set_suspended(&mut tx, &id, false, None).await?;
            self.audit(&mut tx, &id, actor, "tenant_resumed", None)
                .await?;
            self.store.announce_status_change(&mut tx, &id).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await;
        if let Err(error) = saved {
            return Err(self.undo_block(&tenant, false, error).await);
        }
        self.statuses.invalidate(&id).await;
        tracing::info!(tenant_id = %id, actor = %actor.0, "tenant resumed");
        tenant.suspended_at = None;
        Ok(tenant)
    }

    /// Locks the tenant's settings row; NOT_FOUND for unknown and deleted tenants.
    async fn lock_tenant(&self, id: &TenantId) -> Result<(Tx, Tenant), BudgetError> {
        let mut tx = self.store.begin().await?;
        let (tenant, _) = self
            .store
            .lock_tenant_config(&mut tx, id)
            .await?
            .ok_or_else(|| BudgetError::TenantNotFound(id.clone()))?;
        Ok((tx, tenant))
    }

    async fn audit(
        &self,
        tx: &mut Tx,
        id: &TenantId,
        actor: &Actor,
        action: &str,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        let event = NewAudit {
            tenant_id: id,
            actor: &actor.0,
            action,
            old: None,
            new: None,
            detail,
        };
        self.store.insert_audit(tx, event).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn switch_key(
        &self,
        mut tx: Tx,
        id: &TenantId,
        key_hash: &str,
        alias: &str,
        rotated: bool,
        reset_at: Option<chrono::DateTime<chrono::Utc>>,
        actor: &Actor,
        action: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.store
            .set_tenant_key(&mut tx, id, key_hash, alias, rotated)
            .await?;
        if reset_at.is_some() {
            self.store.set_reset_time(&mut tx, id, reset_at).await?;
        }
        self.audit(&mut tx, id, actor, action, Some(detail)).await?;
        self.store.announce_status_change(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts the key's blocked flag back after our write failed (`blocked`: what was attempted).
    async fn undo_block(&self, tenant: &Tenant, blocked: bool, cause: StoreError) -> BudgetError {
        let undone = if blocked {
            self.litellm.unblock_key(&tenant.key_hash).await
        } else {
            self.litellm.block_key(&tenant.key_hash).await
        };
        match undone {
            Ok(()) => match cause {
                StoreError::Unavailable(_) => BudgetError::DatabaseUnavailable(cause),
                other => BudgetError::NotSaved(other),
            },
            Err(restore) => {
                tracing::error!(
                    tenant_id = %tenant.tenant_id, error = %cause, restore_error = %restore,
                    "saving the suspension failed and LiteLLM could not be restored"
                );
                BudgetError::Drift(cause)
            }
        }
    }
}

fn hash_violation() -> FieldViolation {
    FieldViolation::new(
        "key_hash",
        "Key hash must be 64 hex digits (sha256 of the key)",
    )
}
