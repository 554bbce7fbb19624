//! Rows as PostgreSQL returns them, and their checked conversion to records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::domain::EvaluatedStatus;
use crate::domain::{
    Alert, AlertKind, AuditEvent, BudgetDuration, BudgetSettings, BudgetState, Tenant,
    TenantConfig, TenantId,
};

/// Settings as kept in the audit table's JSONB columns.
#[derive(Serialize, Deserialize)]
pub(super) struct SettingsJson {
    max_budget_micros: i64,
    alert_threshold_percent: i32,
    grace_threshold_percent: i32,
    budget_duration: String,
}

impl From<&BudgetSettings> for SettingsJson {
    fn from(s: &BudgetSettings) -> SettingsJson {
        SettingsJson {
            max_budget_micros: s.max_budget_micros,
            alert_threshold_percent: s.alert_threshold_percent,
            grace_threshold_percent: s.grace_threshold_percent,
            budget_duration: s.budget_duration.as_str().to_owned(),
        }
    }
}

impl SettingsJson {
    fn into_settings(self) -> Result<BudgetSettings, StoreError> {
        Ok(BudgetSettings {
            max_budget_micros: self.max_budget_micros,
            alert_threshold_percent: self.alert_threshold_percent,
            grace_threshold_percent: self.grace_threshold_percent,
            budget_duration: duration(&self.budget_duration)?,
        })
    }
}

pub(super) fn tenant_id(raw: &str) -> Result<TenantId, StoreError> {
    TenantId::parse(raw).ok_or_else(|| StoreError::Corrupt(format!("tenant id {raw:?}")))
}

fn duration(raw: &str) -> Result<BudgetDuration, StoreError> {
    BudgetDuration::parse(raw)
        .ok_or_else(|| StoreError::Corrupt(format!("budget duration {raw:?}")))
}

#[derive(sqlx::FromRow)]
pub(super) struct ConfigRow {
    tenant_id: String,
    max_budget_micros: i64,
    alert_threshold_percent: i32,
    grace_threshold_percent: i32,
    budget_duration: String,
    version: i64,
    updated_at: DateTime<Utc>,
    budget_reset_at: Option<DateTime<Utc>>,
}

impl ConfigRow {
    pub(super) fn into_record(self) -> Result<TenantConfig, StoreError> {
        Ok(TenantConfig {
            tenant_id: tenant_id(&self.tenant_id)?,
            settings: BudgetSettings {
                max_budget_micros: self.max_budget_micros,
                alert_threshold_percent: self.alert_threshold_percent,
                grace_threshold_percent: self.grace_threshold_percent,
                budget_duration: duration(&self.budget_duration)?,
            },
            version: self.version,
            updated_at: self.updated_at,
            budget_reset_at: self.budget_reset_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TenantConfigRow {
    display_name: String,
    key_alias: String,
    key_hash: String,
    created_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
    suspended_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    config: ConfigRow,
}

impl TenantConfigRow {
    pub(super) fn split(self) -> Result<(Tenant, TenantConfig), StoreError> {
        let config = self.config.into_record()?;
        let tenant = Tenant {
            tenant_id: config.tenant_id.clone(),
            display_name: self.display_name,
            key_alias: self.key_alias,
            key_hash: self.key_hash,
            created_at: self.created_at,
            deleted_at: self.deleted_at,
            suspended_at: self.suspended_at,
        };
        Ok((tenant, config))
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AlertRow {
    alert_id: i64,
    tenant_id: String,
    alert_type: String,
    spend_micros: i64,
    max_budget_micros: i64,
    percent: f64,
    threshold_percent: i32,
    message: String,
    created_at: DateTime<Utc>,
}

impl AlertRow {
    pub(super) fn into_record(self) -> Result<Alert, StoreError> {
        Ok(Alert {
            alert_id: self.alert_id,
            tenant_id: tenant_id(&self.tenant_id)?,
            kind: AlertKind::parse(&self.alert_type)
                .ok_or_else(|| StoreError::Corrupt(format!("alert type {:?}", self.alert_type)))?,
            spend_micros: self.spend_micros,
            max_budget_micros: self.max_budget_micros,
            percent: self.percent,
            threshold_percent: self.threshold_percent,
            message: self.message,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    event_id: i64,
    tenant_id: String,
    actor: String,
    action: String,
    old_config: Option<sqlx::types::Json<SettingsJson>>,
    new_config: Option<sqlx::types::Json<SettingsJson>>,
    detail: Option<String>,
    created_at: DateTime<Utc>,
}

impl AuditRow {
    pub(super) fn into_record(self) -> Result<AuditEvent, StoreError> {
        Ok(AuditEvent {
            event_id: self.event_id,
            tenant_id: tenant_id(&self.tenant_id)?,
            actor: self.actor,
            action: self.action,
            old: self.old_config.map(|j| j.0.into_settings()).transpose()?,
            new: self.new_config.map(|j| j.0.into_settings()).transpose()?,
            detail: self.detail,
            created_at: self.created_at,
        })
    }
}

/// The stored spelling of a state.
pub(super) fn state_name(state: BudgetState) -> &'static str {
    match state {
        BudgetState::Ok => "ok",
        BudgetState::Warning => "warning",
        BudgetState::Grace => "grace",
        BudgetState::Blocked => "blocked",
    }
}

fn parse_state(raw: &str) -> Result<BudgetState, StoreError> {
    [
        BudgetState::Ok,
        BudgetState::Warning,
        BudgetState::Grace,
        BudgetState::Blocked,
    ]
    .into_iter()
    .find(|s| state_name(*s) == raw)
    .ok_or_else(|| StoreError::Corrupt(format!("state {raw:?}")))
}

#[derive(sqlx::FromRow)]
pub(super) struct TenantStatusRow {
    #[sqlx(flatten)]
    tenant: TenantConfigRow,
    status_spend_micros: Option<i64>,
    status_percent_used: Option<f64>,
    status_state: Option<String>,
    status_reset_time: Option<DateTime<Utc>>,
    status_fetch_time: Option<DateTime<Utc>>,
    status_run_out_time: Option<DateTime<Utc>>,
}

/// A ListTenants row with the values its order sorts on, for the next page's token.
#[derive(sqlx::FromRow)]
pub(super) struct TenantPageRow {
    #[sqlx(flatten)]
    pub(super) status: TenantStatusRow,
    pub(super) sort_int: i64,
    pub(super) sort_float: f64,
}

impl TenantStatusRow {
    pub(super) fn tenant_id(&self) -> &str {
        &self.tenant.config.tenant_id
    }

    pub(super) fn split(
        self,
    ) -> Result<(Tenant, TenantConfig, Option<EvaluatedStatus>), StoreError> {
        let status = match (
            self.status_spend_micros,
            self.status_percent_used,
            self.status_state,
            self.status_fetch_time,
        ) {
            (Some(spend_micros), Some(percent_used), Some(state), Some(fetch_time)) => {
                Some(EvaluatedStatus {
                    spend_micros,
                    percent_used,
                    state: parse_state(&state)?,
                    reset_time: self.status_reset_time,
                    fetch_time,
                    run_out_time: self.status_run_out_time,
                })
            }
            _ => None,
        };
        let (tenant, config) = self.tenant.split()?;
        Ok((tenant, config, status))
    }
}
