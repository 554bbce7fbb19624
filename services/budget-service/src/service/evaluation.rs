//! The alert evaluator's work: read every key from LiteLLM in batches, refresh each
//! tenant's recent daily spend, record the alerts its status calls for (each at most once,
//! by a unique key in PostgreSQL), store its latest status for the fleet view, and repair
//! a LiteLLM key that no longer matches our settings.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;

use budget_telemetry::{Context, FutureExt as _, KeyValue, SpanKind, TraceContextExt as _};
use chrono::Days;
use futures::FutureExt as _;
use tokio::sync::watch;

use super::Budgets;
use super::shared::{Actor, key_limits, parse_tenant, read_error, tenant_key};
use crate::domain::increase::effective_settings;
use crate::domain::{Alert, Tenant, TenantConfig, TenantId};
use crate::domain::{BudgetSettings, BudgetStatus, due_alerts};
use crate::error::BudgetError;
use crate::litellm::{DaySpend, KeyBudget, KeyStatus};
use crate::panic_points::panic_text;
use crate::store::{DayModels, NewAlert, NewAudit, StoreError};

/// Tenants read from the database at a time during a pass.
const TENANT_BATCH: i64 = 500;

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub tenants: usize,
    pub evaluated: usize,
    pub alerts_recorded: usize,
    pub keys_repaired: usize,
    pub failed: usize,
    /// Temporary increases whose time was up and that were reverted.
    pub increases_expired: usize,
    /// True when the pass stopped early for a shutdown.
    pub interrupted: bool,
}

/// What a LiteLLM key webhook led to.
#[derive(Debug)]
pub(crate) enum KeyWebhook {
    /// The key is no tenant's key.
    NoTenant,
    /// The key's tenant was evaluated; these alerts were new.
    Evaluated {
        tenant_id: TenantId,
        new_alerts: Vec<Alert>,
    },
}

impl Budgets {
    /// Evaluates every tenant once. Stops between tenants when `stop` turns true.
    /// Counts the pass (and, if it completed, its duration) in the metrics.
    pub async fn evaluation_pass(
        &self,
        stop: &watch::Receiver<bool>,
    ) -> Result<PassReport, BudgetError> {
        let started = std::time::Instant::now();
        // Each pass is a trace of its own, whoever starts it.
        let cx = self.tracer.start(
            "evaluation pass",
            SpanKind::Internal,
            Vec::new(),
            &Context::new(),
        );
        let result = self
            .evaluation_pass_unmeasured(stop)
            .with_context(cx.clone())
            .await;
        match &result {
            Ok(report) if report.interrupted => self.metrics().pass_ended("interrupted"),
            Ok(_) => self.metrics().pass_completed(started.elapsed()),
            Err(_) => self.metrics().pass_ended("failed"),
        }
        let span = cx.span();
        match &result {
            Ok(report) => span.set_attributes([
                KeyValue::new("tenants", report.tenants as i64),
                KeyValue::new("evaluated", report.evaluated as i64),
                KeyValue::new("alerts_recorded", report.alerts_recorded as i64),
                KeyValue::new("failed", report.failed as i64),
                KeyValue::new("interrupted", report.interrupted),
            ]),
            Err(error) => budget_telemetry::record_error(&cx, error.to_string()),
        }
        span.end();
        result
    }

    async fn evaluation_pass_unmeasured(
        &self,
        stop: &watch::Receiver<bool>,
    ) -> Result<PassReport, BudgetError> {
        // Expired increases first, so the keys read below already have their usual limits.
        let increases_expired = self.expire_increases().await?;
        let keys = self.all_keys().await?;
        let today = self.clock.now().date_naive();
        let yesterday = today.checked_sub_days(Days::new(1)).unwrap_or(today);
        // Recent spend of every key in one proxy-wide call; if it fails the stored history
        // is used as it is.
        let recent = match self.litellm.daily_spend_by_key(yesterday, today).await {
            Ok(rows) => {
                let mut by_key: HashMap<String, Vec<DaySpend>> = HashMap::new();
                for row in rows {
                    by_key.entry(row.key_hash).or_default().push(row.day);
                }
                Some(by_key)
            }
            Err(error) => {
                tracing::warn!(error = %error, "daily spend unavailable; evaluating on stored history");
                None
            }
        };
        let mut report = PassReport {
            increases_expired,
            ..PassReport::default()
        };
        let mut after: Option<String> = None;
        loop {
            let batch = self
                .store
                .list_tenants("", after.as_deref(), TENANT_BATCH)
                .await?;
            let Some((last, _)) = batch.last() else { break };
            after = Some(last.tenant_id.to_string());
            for (tenant, config) in batch {
                if *stop.borrow() {
                    report.interrupted = true;
                    return Ok(report);
                }
                report.tenants += 1;
                // Both days, a day LiteLLM did not report as no spend (and no models).
                let recent_days = recent.as_ref().map(|by_key| {
                    let mut days = [yesterday, today].map(|day| DaySpend {
                        day,
                        spend_micros: 0,
                        models: Vec::new(),
                    });
                    for reported in by_key.get(&tenant.key_hash).into_iter().flatten() {
                        if let Some(slot) = days.iter_mut().find(|d| d.day == reported.day) {
                            *slot = reported.clone();
                        }
                    }
                    days
                });
                let Some(key) = keys.get(&tenant.key_hash) else {
                    tracing::warn!(tenant_id = %tenant.tenant_id, "LiteLLM does not list the tenant's key; not evaluated");
                    report.failed += 1;
                    continue;
                };
                let tenant_cx = self.tracer.start(
                    "evaluate tenant",
                    SpanKind::Internal,
                    vec![KeyValue::new("tenant_id", tenant.tenant_id.to_string())],
                    &Context::current(),
                );
                // One tenant's failure, even a panic, never stops the pass for the others.
                let evaluated = AssertUnwindSafe(
                    self.evaluate_with(&tenant, &config, key, recent_days.as_ref().map(|d| &d[..]))
                        .with_context(tenant_cx.clone()),
                )
                .catch_unwind()
                .await;
                match evaluated {
                    Ok(Ok(outcome)) => {
                        report.evaluated += 1;
                        report.alerts_recorded += outcome.alerts.len();
                        report.keys_repaired += usize::from(outcome.repaired);
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(tenant_id = %tenant.tenant_id, error = %error, "tenant not evaluated");
                        self.metrics.tenant_evaluation_failed("error");
                        budget_telemetry::record_error(&tenant_cx, "not evaluated");
                        report.failed += 1;
                    }
                    Err(panic) => {
                        tracing::error!(tenant_id = %tenant.tenant_id, panic = %panic_text(&*panic),
                            "evaluating the tenant panicked; the pass goes on with the next tenant");
                        self.metrics.tenant_evaluation_failed("panic");
                        budget_telemetry::record_error(&tenant_cx, "panicked");
                        report.failed += 1;
                    }
                }
                tenant_cx.span().end();
            }
        }
        Ok(report)
    }

    /// LiteLLM reported an event about the key with this hash: evaluates its tenant now from
    /// a fresh LiteLLM read and says which alerts were new. A key of no tenant is ignored.
    pub(crate) async fn on_key_webhook(&self, key_hash: &str) -> Result<KeyWebhook, BudgetError> {
        // A trace of its own, as a pass is: LiteLLM sends no trace context with its webhooks.
        let cx = self.tracer.start(
            "key webhook",
            SpanKind::Internal,
            Vec::new(),
            &Context::new(),
        );
        let result = self
            .key_webhook_evaluation(key_hash)
            .with_context(cx.clone())
            .await;
        match &result {
            Ok(KeyWebhook::Evaluated { tenant_id, .. }) => cx
                .span()
                .set_attribute(KeyValue::new("tenant_id", tenant_id.to_string())),
            Ok(KeyWebhook::NoTenant) => {}
            Err(error) => budget_telemetry::record_error(&cx, error.to_string()),
        }
        cx.span().end();
        result
    }

    async fn key_webhook_evaluation(&self, key_hash: &str) -> Result<KeyWebhook, BudgetError> {
        let Some(id) = self.store.tenant_by_key_hash(key_hash).await? else {
            return Ok(KeyWebhook::NoTenant);
        };
        let (tenant, config, key) = self.tenant_with_key(&id).await?;
        let new_alerts = self
            .evaluate_with(&tenant, &config, &key, None)
            .await?
            .alerts;
        Ok(KeyWebhook::Evaluated {
            tenant_id: id,
            new_alerts,
        })
    }

    /// Reads the tenant's status now and stores it for the fleet view, without recording
    /// alerts or repairing its key (tools that seed data use it).
    pub async fn refresh_status(&self, tenant_id: &str) -> Result<(), BudgetError> {
        let id = parse_tenant(tenant_id)?;
        let (tenant, config, key) = self.tenant_with_key(&id).await?;
        let key = tenant_key(&tenant, key)?;
        let status = self.compute_status(&tenant, &config, &key).await?;
        self.store.upsert_tenant_status(&status).await?;
        self.statuses.insert(id, std::sync::Arc::new(status)).await;
        Ok(())
    }

    async fn evaluate_with(
        &self,
        tenant: &Tenant,
        config: &TenantConfig,
        key: &KeyBudget,
        recent_days: Option<&[DaySpend]>,
    ) -> Result<Evaluation, BudgetError> {
        self.panic_points
            .check(format_args!("evaluate:{}", tenant.tenant_id));
        let key = tenant_key(tenant, key.clone())?;
        if let Some(days) = recent_days {
            // Only once the full history is loaded; otherwise compute_status loads it.
            let spend: Vec<_> = days.iter().map(|d| (d.day, d.spend_micros)).collect();
            self.store
                .refresh_recent_spend(&tenant.tenant_id, &spend)
                .await?;
            let models: Vec<DayModels> = days
                .iter()
                .map(|d| DayModels {
                    tenant_id: tenant.tenant_id.clone(),
                    day: d.day,
                    models: d.models.clone(),
                })
                .collect();
            self.store.upsert_model_spend(&models, true).await?;
        }
        let status = self.compute_status(tenant, config, &key).await?;
        // The settings in force, with a temporary increase while it lasts.
        let effective = status.settings;
        let alerts = self.record_alerts(&status).await?;
        self.store.upsert_tenant_status(&status).await?;
        self.statuses
            .insert(tenant.tenant_id.clone(), std::sync::Arc::new(status))
            .await;
        let repaired = if key_differs(&key, &effective) {
            self.repair_key(tenant).await?
        } else {
            false
        };
        Ok(Evaluation { alerts, repaired })
    }

    async fn record_alerts(&self, status: &BudgetStatus) -> Result<Vec<Alert>, StoreError> {
        let mut recorded = Vec::new();
        for due in due_alerts(status) {
            let alert = NewAlert {
                tenant_id: status.tenant_id.clone(),
                kind: due.kind,
                spend_micros: status.spend_micros,
                max_budget_micros: status.settings.max_budget_micros,
                percent: status.percent_used,
                threshold_percent: due.threshold_percent,
                message: due.message.clone(),
                dedupe_key: due.dedupe_key(status),
                created_at: Some(status.fetch_time),
            };
            if let Some(record) = self.store.insert_alert(&alert).await? {
                tracing::info!(tenant_id = %status.tenant_id, alert = record.kind.as_str(), "budget alert recorded");
                self.metrics().alert_recorded(record.kind.as_str());
                recorded.push(record);
            }
        }
        Ok(recorded)
    }

    /// Puts our settings back on a key changed behind our back. The settings row is locked
    /// and the key re-read first, so a concurrent UpdateBudgetConfig is never undone.
    pub(super) async fn repair_key(&self, tenant: &Tenant) -> Result<bool, BudgetError> {
        let now = self.clock.now();
        if self
            .store
            .temporary_increase(&tenant.tenant_id)
            .await?
            .is_some_and(|i| !i.in_force(now))
        {
            // The key still has an expired increase: revert it (audited as such).
            return self.expire_increase(&tenant.tenant_id).await;
        }
        let mut tx = self.store.begin().await?;
        let Some((_, config)) = self
            .store
            .lock_tenant_config(&mut tx, &tenant.tenant_id)
            .await?
        else {
            return Ok(false);
        };
        let key = self
            .litellm
            .key_info(&tenant.key_hash)
            .await
            .map_err(|e| read_error(&tenant.tenant_id, e))?;
        let increase = self
            .store
            .temporary_increase_in(&mut tx, &tenant.tenant_id)
            .await?;
        let effective = effective_settings(&config.settings, increase.as_ref(), now);
        if !key_differs(&key, &effective) {
            return Ok(false);
        }
        let mut limits = key_limits(&effective, None);
        if key.budget_duration.as_deref() == Some(config.settings.budget_duration.as_str()) {
            // Resending an unchanged period would restart it in LiteLLM.
            limits.budget_duration = None;
        }
        tracing::error!(
            tenant_id = %tenant.tenant_id,
            key_max_budget_micros = ?key.max_budget_micros,
            key_soft_budget_micros = ?key.soft_budget_micros,
            key_budget_duration = ?key.budget_duration,
            "LiteLLM key differs from our settings; repairing it"
        );
        self.litellm
            .update_key(&tenant.key_hash, &limits)
            .await
            .map_err(BudgetError::LiteLlmWriteFailed)?;
        let actor = Actor("budget-evaluator".to_owned());
        let audit = NewAudit {
            tenant_id: &tenant.tenant_id,
            actor: &actor.0,
            action: "litellm_key_repaired",
            old: None,
            new: Some(&effective),
            detail: None,
        };
        self.store.insert_audit(&mut tx, audit).await?;
        self.store
            .announce_status_change(&mut tx, &tenant.tenant_id)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(true)
    }

    /// Every key LiteLLM has, by hash, read in pages of 100.
    async fn all_keys(&self) -> Result<HashMap<String, KeyBudget>, BudgetError> {
        let mut keys = HashMap::new();
        let mut page = 1;
        loop {
            let (batch, pages) = self
                .litellm
                .list_keys(page)
                .await
                .map_err(BudgetError::BudgetDataUnavailable)?;
            keys.extend(batch);
            if page >= pages {
                return Ok(keys);
            }
            page += 1;
        }
    }
}

struct Evaluation {
    alerts: Vec<Alert>,
    repaired: bool,
}

/// Whether the key's limits differ from what our settings put there.
fn key_differs(key: &KeyBudget, settings: &BudgetSettings) -> bool {
    key.status == KeyStatus::Active
        && (key.max_budget_micros != Some(settings.block_at_micros())
            || key.soft_budget_micros != Some(settings.alert_at_micros())
            || key.budget_duration.as_deref() != Some(settings.budget_duration.as_str()))
}
