//! What the use cases share: who acts, tenant id checks, the key
//! limits we push to LiteLLM and how LiteLLM's errors read to callers.

use chrono::{DateTime, Utc};

use super::Budgets;
use crate::domain::{BudgetSettings, FieldViolation, Tenant, TenantConfig, TenantId, Violations};
use crate::error::{BudgetError, KeyProblem};
use crate::litellm::{KeyBudget, KeyLimits, KeyStatus, LiteLlmError};
use crate::store::StoreError;

/// Who is making a change, recorded in the audit trail.
#[derive(Clone, Debug)]
pub(crate) struct Actor(pub String);

pub(super) fn parse_tenant(raw: &str) -> Result<TenantId, FieldViolation> {
    TenantId::parse(raw)
        .ok_or_else(|| FieldViolation::new("tenant_id", crate::domain::tenant::TENANT_ID_RULE))
}

/// The tenant id and the rest of a request checked together, so the caller hears of every
/// violation at once (the id's first).
pub(super) fn tenant_and<T>(
    tenant_id: &str,
    rest: Result<T, impl Into<Vec<FieldViolation>>>,
) -> Result<(TenantId, T), BudgetError> {
    let mut violations = Violations::default();
    let id = violations.take(parse_tenant(tenant_id));
    let rest = violations.take(rest);
    violations
        .finish(id.zip(rest))
        .map_err(BudgetError::InvalidArgument)
}

/// The key limits for `new`; the period is sent only when it differs from `old`'s,
/// because LiteLLM restarts the period whenever it receives `budget_duration`.
pub(super) fn key_limits(new: &BudgetSettings, old: Option<&BudgetSettings>) -> KeyLimits {
    let duration_changed = old.is_none_or(|old| old.budget_duration != new.budget_duration);
    KeyLimits {
        max_budget_micros: new.block_at_micros(),
        soft_budget_micros: new.alert_at_micros(),
        budget_duration: duration_changed.then(|| new.budget_duration.as_str()),
    }
}

pub(super) fn usable_key(id: &TenantId, key: KeyBudget) -> Result<KeyBudget, BudgetError> {
    let Some(problem) = KeyProblem::of(key.status) else {
        return Ok(key);
    };
    Err(BudgetError::KeyUnusable {
        tenant: id.clone(),
        problem,
    })
}

pub(super) fn read_error(id: &TenantId, error: LiteLlmError) -> BudgetError {
    match error {
        LiteLlmError::KeyNotFound => BudgetError::KeyUnusable {
            tenant: id.clone(),
            problem: KeyProblem::Unknown,
        },
        other => BudgetError::BudgetDataUnavailable(other),
    }
}

pub(super) fn write_error(id: &TenantId, error: LiteLlmError) -> BudgetError {
    match error {
        LiteLlmError::KeyNotFound => BudgetError::KeyUnusable {
            tenant: id.clone(),
            problem: KeyProblem::Unknown,
        },
        other => BudgetError::LiteLlmWriteFailed(other),
    }
}

impl Budgets {
    pub(super) async fn tenant_config(
        &self,
        id: &TenantId,
    ) -> Result<(Tenant, TenantConfig), BudgetError> {
        self.store
            .tenant_config(id)
            .await?
            .ok_or_else(|| BudgetError::TenantNotFound(id.clone()))
    }

    /// The tenant, its settings and its key as LiteLLM has it now.
    pub(super) async fn tenant_with_key(
        &self,
        id: &TenantId,
    ) -> Result<(Tenant, TenantConfig, KeyBudget), BudgetError> {
        let (tenant, config) = self.tenant_config(id).await?;
        let key = self
            .litellm
            .key_info(&tenant.key_hash)
            .await
            .map_err(|e| read_error(id, e))?;
        Ok((tenant, config, key))
    }

    /// A new key's reset time, which /key/generate does not return (contract 2.1): read
    /// back, best effort.
    pub(super) async fn reset_time_of(&self, key_hash: &str) -> Option<DateTime<Utc>> {
        self.litellm
            .key_info(key_hash)
            .await
            .ok()
            .and_then(|info| info.budget_reset_at)
    }

    /// Puts the old limits back in LiteLLM after our own write failed.
    pub(super) async fn restore_key(
        &self,
        tenant: &Tenant,
        old: &BudgetSettings,
        attempted: &BudgetSettings,
        cause: StoreError,
    ) -> BudgetError {
        let limits = key_limits(old, Some(attempted));
        match self.litellm.update_key(&tenant.key_hash, &limits).await {
            Ok(_) => match cause {
                StoreError::Unavailable(_) => BudgetError::DatabaseUnavailable(cause),
                other => BudgetError::NotSaved(other),
            },
            Err(restore) => {
                tracing::error!(
                    tenant_id = %tenant.tenant_id, error = %cause, restore_error = %restore,
                    "saving failed and LiteLLM could not be restored: its key differs from our settings"
                );
                BudgetError::Drift(cause)
            }
        }
    }
}

/// How a failed /key/generate reads to callers: a taken alias is said as such.
pub(super) fn generate_error(error: LiteLlmError) -> BudgetError {
    match error {
        LiteLlmError::DuplicateAlias(alias) => BudgetError::KeyAliasTaken(alias),
        other => BudgetError::LiteLlmWriteFailed(other),
    }
}

/// The key status a tenant's key must have: active, or blocked when we suspended the tenant
/// (the status is then reported with `suspended`, not refused).
pub(super) fn tenant_key(tenant: &Tenant, key: KeyBudget) -> Result<KeyBudget, BudgetError> {
    if key.status == KeyStatus::Revoked && tenant.suspended_at.is_some() {
        return Ok(key);
    }
    usable_key(&tenant.tenant_id, key)
}
