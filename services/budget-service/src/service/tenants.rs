//! CreateTenant and AttachTenant: a tenant with a new LiteLLM key (deleted again when the
//! tenant could not be saved) or with a key made elsewhere.

use chrono::{DateTime, Utc};

use super::Budgets;
use super::shared::{
    Actor, generate_error, key_limits, parse_tenant, read_error, usable_key, write_error,
};
use crate::domain::{
    BudgetSettings, FieldViolation, RawSettings, Tenant, TenantConfig, TenantId, Violations,
    is_short_text,
};
use crate::error::BudgetError;
use crate::litellm::LiteLlmError;
use crate::store::{NewAudit, StoreError};

/// A new tenant, with its raw key shown this once.
#[derive(Clone, Debug)]
pub(crate) struct CreatedTenant {
    pub tenant: Tenant,
    pub config: TenantConfig,
    pub virtual_key: String,
}

impl Budgets {
    /// Creates a tenant with a new LiteLLM key; if our insert fails, the key is deleted again.
    pub(crate) async fn create_tenant(
        &self,
        tenant_id: &str,
        display_name: &str,
        raw: &RawSettings,
        actor: &Actor,
    ) -> Result<CreatedTenant, BudgetError> {
        let (id, settings) = validate_new_tenant(tenant_id, display_name, raw)?;
        let mut tx = self.store.begin().await?;
        self.store.lock_tenant_id(&mut tx, &id).await?;
        if self.store.tenant_exists(&mut tx, &id).await? {
            return Err(BudgetError::TenantExists(id));
        }
        let alias = id.key_alias();
        let limits = key_limits(&settings, None);
        let key = match self
            .litellm
            .generate_key(&alias, id.as_str(), &limits)
            .await
        {
            // A key left by an earlier attempt whose answer we never got: replaced.
            Err(LiteLlmError::DuplicateAlias(_)) if self.remove_orphan_key(&id, &alias).await => {
                self.litellm
                    .generate_key(&alias, id.as_str(), &limits)
                    .await
            }
            Err(error @ LiteLlmError::InvalidResponse(_)) => {
                // LiteLLM answered, so it probably made the key: remove it now.
                self.remove_orphan_key(&id, &alias).await;
                Err(error)
            }
            other => other,
        }
        .map_err(generate_error)?;
        let reset_at = self.reset_time_of(&key.key_hash).await;
        let record = Tenant {
            tenant_id: id.clone(),
            display_name: display_name_or_id(display_name, &id),
            key_alias: alias,
            key_hash: key.key_hash.clone(),
            created_at: self.clock.now(),
            deleted_at: None,
            suspended_at: None,
        };
        match self
            .insert_tenant(tx, &record, &settings, reset_at, actor)
            .await
        {
            Ok((tenant, config)) => {
                tracing::info!(tenant_id = %id, actor = %actor.0, "tenant created");
                Ok(CreatedTenant {
                    tenant,
                    config,
                    virtual_key: key.raw_key,
                })
            }
            Err(error) => {
                if let Err(delete) = self.litellm.delete_key(&key.key_hash).await {
                    tracing::error!(tenant_id = %id, error = %delete, "could not delete the key of a tenant that was not saved");
                }
                Err(match error {
                    StoreError::UniqueViolation { .. } => BudgetError::TenantExists(id),
                    other => other.into(),
                })
            }
        }
    }

    /// Deletes the key a failed CreateTenant may have left in LiteLLM: LiteLLM made it but
    /// its answer was lost (cut, undecodable or too late), so nobody ever saw the raw key.
    /// Only a key that names this tenant in its metadata, has no spend and is no tenant's
    /// key qualifies; a key made by hand for `tenant adopt-key` is left alone. Best effort:
    /// returns whether a key was deleted.
    async fn remove_orphan_key(&self, id: &TenantId, alias: &str) -> bool {
        let keys = match self.litellm.keys_with_alias(alias).await {
            Ok(keys) => keys,
            Err(error) => {
                tracing::warn!(tenant_id = %id, error = %error, "could not look for a key left by a failed create");
                return false;
            }
        };
        let mut removed = false;
        for key in keys {
            if key.tenant_id.as_deref() != Some(id.as_str()) || key.spend_micros != 0 {
                continue;
            }
            match self.store.tenant_by_key_hash(&key.key_hash).await {
                Ok(None) => {}
                Ok(Some(_)) => continue,
                Err(error) => {
                    tracing::warn!(tenant_id = %id, error = %error, "could not check a key left by a failed create");
                    continue;
                }
            }
            match self.litellm.delete_key(&key.key_hash).await {
                Ok(()) => {
                    tracing::warn!(tenant_id = %id, "deleted the key a failed create left in LiteLLM");
                    removed = true;
                }
                Err(error) => {
                    tracing::warn!(tenant_id = %id, error = %error, "could not delete a key left by a failed create");
                }
            }
        }
        removed
    }

    /// Makes an existing LiteLLM key (by hash) a new tenant's key, after checking LiteLLM
    /// knows it, and pushes the tenant's limits to it.
    pub(crate) async fn attach_tenant(
        &self,
        tenant_id: &str,
        display_name: &str,
        key_hash: &str,
        raw: &RawSettings,
        actor: &Actor,
    ) -> Result<(Tenant, TenantConfig), BudgetError> {
        let (id, settings) = validate_new_tenant(tenant_id, display_name, raw)?;
        let key_hash = key_hash.to_ascii_lowercase();
        if key_hash.len() != 64 || !key_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FieldViolation::new(
                "key_hash",
                "Key hash must be 64 hex digits (sha256 of the key)",
            )
            .into());
        }
        let mut tx = self.store.begin().await?;
        self.store.lock_tenant_id(&mut tx, &id).await?;
        if self.store.tenant_exists(&mut tx, &id).await? {
            return Err(BudgetError::TenantExists(id));
        }
        usable_key(
            &id,
            self.litellm
                .key_info(&key_hash)
                .await
                .map_err(|e| read_error(&id, e))?,
        )?;
        let key = self
            .litellm
            .update_key(&key_hash, &key_limits(&settings, None))
            .await
            .map_err(|e| write_error(&id, e))?;
        let record = Tenant {
            tenant_id: id.clone(),
            display_name: display_name_or_id(display_name, &id),
            key_alias: id.key_alias(),
            key_hash,
            created_at: self.clock.now(),
            deleted_at: None,
            suspended_at: None,
        };
        self.insert_tenant(tx, &record, &settings, key.budget_reset_at, actor)
            .await
            .map_err(|e| match e {
                StoreError::UniqueViolation { .. } => BudgetError::TenantExists(id),
                other => other.into(),
            })
    }

    async fn insert_tenant(
        &self,
        mut tx: crate::store::Tx,
        record: &Tenant,
        settings: &BudgetSettings,
        reset_at: Option<DateTime<Utc>>,
        actor: &Actor,
    ) -> Result<(Tenant, TenantConfig), StoreError> {
        let saved = self
            .store
            .insert_tenant(&mut tx, record, settings, reset_at)
            .await?;
        let audit = NewAudit {
            tenant_id: &record.tenant_id,
            actor: &actor.0,
            action: "tenant_created",
            old: None,
            new: Some(settings),
            detail: None,
        };
        self.store.insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(saved)
    }
}

fn validate_new_tenant(
    tenant_id: &str,
    display_name: &str,
    raw: &RawSettings,
) -> Result<(TenantId, BudgetSettings), BudgetError> {
    let mut violations = Violations::default();
    violations.require(is_short_text(display_name, 200), || {
        FieldViolation::new(
            "display_name",
            "Display name must be at most 200 characters, without control characters",
        )
    });
    let id = violations.take(parse_tenant(tenant_id));
    let settings = violations.take(raw.validate("config"));
    violations
        .finish(id.zip(settings))
        .map_err(BudgetError::InvalidArgument)
}

fn display_name_or_id(display_name: &str, id: &TenantId) -> String {
    match display_name.trim() {
        "" => id.to_string(),
        name => name.to_owned(),
    }
}
