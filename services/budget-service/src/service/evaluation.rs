//! The alert evaluator's work: read every key from LiteLLM in batches, refresh each
//! tenant's recent daily spend, record the alerts its status calls for (each at most once,
//! by a unique key in PostgreSQL), store its latest status for the fleet view, and repair
//! a LiteLLM key that no longer matches our settings.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use budget_telemetry::{Context, FutureExt as _, KeyValue, SpanKind, TraceContextExt as _};
use chrono::{DateTime, Days, NaiveDate, Utc};
use futures::StreamExt as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;

use super::Budgets;
use super::shared::{Actor, key_limits, parse_tenant, read_error, tenant_key};
use super::status::status_from;
use crate::domain::history::MAX_HISTORY_DAYS;
use crate::domain::increase::effective_settings;
use crate::domain::{Alert, DailyHistory, Tenant, TenantConfig, TenantId};
use crate::domain::{BudgetSettings, BudgetStatus, due_alerts};
use crate::error::BudgetError;
use crate::litellm::{DaySpend, KeyBudget, KeyStatus};
use crate::panic_points::panic_text;
use crate::store::{
    DailySpendRows, DayModels, EvalTenant, NewAlert, NewAudit, StatusRows, StoreError,
};

/// Tenants per page of a pass: one SELECT reads them, and the page's writes take a few
/// statements whatever its size.
pub const EVAL_PAGE: i64 = 100;

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub tenants: usize,
    /// Tenants evaluated, the unchanged ones included.
    pub evaluated: usize,
    /// Tenants whose inputs were those of their last completed evaluation: no PostgreSQL
    /// work beyond marking their status as checked now.
    pub unchanged: usize,
    pub alerts_recorded: usize,
    pub keys_repaired: usize,
    pub failed: usize,
    /// Temporary increases whose time was up and that were reverted.
    pub increases_expired: usize,
    /// True when the pass stopped early for a shutdown.
    pub interrupted: bool,
    /// PostgreSQL statements the pass executed (transactions' BEGIN and COMMIT included).
    pub db_statements: u64,
    /// Pages of [`EVAL_PAGE`] tenants.
    pub pages: usize,
    /// Time reading LiteLLM's key list and daily spend.
    pub listing_time: Duration,
    /// The rest: PostgreSQL, computation, expiries and repairs.
    pub own_time: Duration,
}

/// Whether a pass may skip tenants whose inputs did not change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PassMode {
    SkipUnchanged,
    Full,
}

/// What a pass read from LiteLLM before going through the tenants.
struct Listing {
    keys: HashMap<String, KeyBudget>,
    /// Every key's spend (in total and by model) yesterday and today; `None` when
    /// LiteLLM's daily activity failed.
    recent: Option<HashMap<String, Vec<DaySpend>>>,
    today: NaiveDate,
    yesterday: NaiveDate,
}

impl Listing {
    /// The key's spend yesterday and today (no spend and no models when LiteLLM lists none).
    fn recent_days(&self, key_hash: &str) -> Option<Vec<DaySpend>> {
        self.recent.as_ref().map(|by_key| {
            let mut days: Vec<DaySpend> = [self.yesterday, self.today]
                .into_iter()
                .map(|day| DaySpend {
                    day,
                    spend_micros: 0,
                    models: Vec::new(),
                })
                .collect();
            for reported in by_key.get(key_hash).into_iter().flatten() {
                if let Some(slot) = days.iter_mut().find(|d| d.day == reported.day) {
                    *slot = reported.clone();
                }
            }
            days
        })
    }
}

/// A tenant of a page that needs its PostgreSQL work this pass.
struct Changed {
    tenant: EvalTenant,
    key: KeyBudget,
    recent_days: Option<Vec<DaySpend>>,
    fingerprint: String,
}

/// What one LiteLLM key webhook led to.
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
    /// Evaluates every tenant once, skipping the PostgreSQL work of tenants whose inputs
    /// are those of their last completed evaluation. Stops between pages when `stop` turns
    /// true. Counts the pass (and, if it completed, its duration and cost) in the metrics.
    pub async fn evaluation_pass(
        &self,
        stop: &watch::Receiver<bool>,
    ) -> Result<PassReport, BudgetError> {
        self.measured_pass(stop, PassMode::SkipUnchanged).await
    }

    /// Like [`Budgets::evaluation_pass`], but does every tenant's work whether or not it
    /// changed: what a skipping pass must be indistinguishable from.
    pub async fn evaluation_full_pass(
        &self,
        stop: &watch::Receiver<bool>,
    ) -> Result<PassReport, BudgetError> {
        self.measured_pass(stop, PassMode::Full).await
    }

    async fn measured_pass(
        &self,
        stop: &watch::Receiver<bool>,
        mode: PassMode,
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
            .evaluation_pass_unmeasured(stop, mode)
            .with_context(cx.clone())
            .await;
        match &result {
            Ok(report) if report.interrupted => self.metrics().pass_ended("interrupted"),
            Ok(report) => {
                self.metrics().pass_completed(started.elapsed());
                self.metrics().pass_cost(
                    report.db_statements,
                    report.listing_time,
                    report.own_time,
                    report.unchanged,
                );
            }
            Err(_) => self.metrics().pass_ended("failed"),
        }
        let span = cx.span();
        match &result {
            Ok(report) => span.set_attributes([
                KeyValue::new("tenants", report.tenants as i64),
                KeyValue::new("evaluated", report.evaluated as i64),
                KeyValue::new("unchanged", report.unchanged as i64),
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
        mode: PassMode,
    ) -> Result<PassReport, BudgetError> {
        let started = std::time::Instant::now();
        let statements_before = self.store.statements_executed();
        // Expired increases first, so the keys read below already have their usual limits.
        let increases_expired = self.expire_increases().await?;
        let listing_started = std::time::Instant::now();
        let listing = self.listing().await?;
        let listing_time = listing_started.elapsed();
        let mut report = PassReport {
            increases_expired,
            listing_time,
            ..PassReport::default()
        };
        let mut after: Option<String> = None;
        loop {
            if *stop.borrow() {
                report.interrupted = true;
                break;
            }
            let page = self
                .store
                .evaluation_page(after.as_deref(), EVAL_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.tenant.tenant_id.to_string());
            report.pages += 1;
            let page_cx = self.tracer.start(
                "evaluate page",
                SpanKind::Internal,
                vec![
                    KeyValue::new("first_tenant_id", page[0].tenant.tenant_id.to_string()),
                    KeyValue::new("tenants", page.len() as i64),
                ],
                &Context::current(),
            );
            let changed = self
                .evaluate_page(page, &listing, mode, &mut report)
                .with_context(page_cx.clone())
                .await;
            page_cx
                .span()
                .set_attribute(KeyValue::new("changed", changed as i64));
            page_cx.span().end();
        }
        report.db_statements = self
            .store
            .statements_executed()
            .saturating_sub(statements_before);
        report.own_time = started.elapsed().saturating_sub(listing_time);
        Ok(report)
    }

    /// Every key (by hash) and every key's recent daily spend, from LiteLLM.
    async fn listing(&self) -> Result<Listing, BudgetError> {
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
        Ok(Listing {
            keys,
            recent,
            today,
            yesterday,
        })
    }

    /// One page: sorts its tenants into unchanged and changed, marks the unchanged checked
    /// in one statement and does the changed ones' work in a few statements for the page.
    /// Returns how many were changed.
    async fn evaluate_page(
        &self,
        page: Vec<EvalTenant>,
        listing: &Listing,
        mode: PassMode,
        report: &mut PassReport,
    ) -> usize {
        let now = self.clock.now();
        let mut unchanged = Vec::new();
        let mut changed = Vec::new();
        for tenant in page {
            report.tenants += 1;
            let id = tenant.tenant.tenant_id.clone();
            let Some(listed) = listing.keys.get(&tenant.tenant.key_hash) else {
                tracing::warn!(tenant_id = %id, "LiteLLM does not list the tenant's key; not evaluated");
                report.failed += 1;
                continue;
            };
            // One tenant's failure, even a panic, never stops the pass for the others.
            let checked = std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.panic_points.check(format_args!("evaluate:{id}"));
                tenant_key(&tenant.tenant, listed.clone())
            }));
            let key = match checked {
                Ok(Ok(key)) => key,
                Ok(Err(error)) => {
                    self.tenant_failed(&id, &error, report);
                    continue;
                }
                Err(panic) => {
                    self.tenant_panicked(&id, &*panic, report);
                    continue;
                }
            };
            let recent_days = listing.recent_days(&tenant.tenant.key_hash);
            let fingerprint = fingerprint(&tenant, &key, recent_days.as_deref(), now);
            if mode == PassMode::SkipUnchanged && is_unchanged(&tenant, &key, &fingerprint, now) {
                unchanged.push((id, fingerprint));
                continue;
            }
            changed.push(Changed {
                tenant,
                key,
                recent_days,
                fingerprint,
            });
        }
        match self.store.touch_statuses(&unchanged, now).await {
            Ok(()) => {
                report.evaluated += unchanged.len();
                report.unchanged += unchanged.len();
            }
            Err(error) => {
                tracing::warn!(error = %error, tenants = unchanged.len(), "unchanged tenants' statuses not marked checked");
                self.metrics.tenant_evaluation_failed("error");
                report.failed += unchanged.len();
            }
        }
        let count = changed.len();
        if count > 0
            && let Err(error) = self.evaluate_changed(changed, now, report).await
        {
            tracing::warn!(error = %error, tenants = count, "a page of tenants not evaluated");
            budget_telemetry::record_error(&Context::current(), "not evaluated");
            for _ in 0..count {
                self.metrics.tenant_evaluation_failed("error");
            }
            report.failed += count;
        }
        count
    }

    /// The work of a page's changed tenants, a few statements for all of them: recent daily
    /// spend, histories, reset times, alerts (with their deliveries, in one transaction),
    /// statuses with fingerprints; then each drifted key's repair. Fails as a whole when a
    /// page statement fails (no fingerprint is stored, so the next pass does it again).
    async fn evaluate_changed(
        &self,
        changed: Vec<Changed>,
        now: DateTime<Utc>,
        report: &mut PassReport,
    ) -> Result<(), BudgetError> {
        let mut recent_rows = DailySpendRows::default();
        let mut recent_models = Vec::new();
        for tenant in changed.iter().filter(|c| c.tenant.history_loaded) {
            let id = &tenant.tenant.tenant.tenant_id;
            for day in tenant.recent_days.iter().flatten() {
                recent_rows.push(id, day.day, day.spend_micros);
                recent_models.push(DayModels {
                    tenant_id: id.clone(),
                    day: day.day,
                    models: day.models.clone(),
                });
            }
        }
        self.store.write_daily_spend_rows(&recent_rows).await?;
        // Beside the daily totals, the same days' split by model (only for loaded
        // histories: a first load writes every day's models itself).
        self.store.upsert_model_spend(&recent_models, true).await?;
        let loaded: Vec<TenantId> = changed
            .iter()
            .filter(|c| c.tenant.history_loaded)
            .map(|c| c.tenant.tenant.tenant_id.clone())
            .collect();
        let mut histories = self
            .store
            .daily_histories(&loaded, history_start(now))
            .await?;
        let mut statuses = Vec::with_capacity(changed.len());
        for tenant in changed {
            let id = tenant.tenant.tenant.tenant_id.clone();
            let history = if tenant.tenant.history_loaded {
                Ok(DailyHistory::from_days(
                    histories.remove(&id).unwrap_or_default(),
                ))
            } else {
                // The first evaluation of a tenant reads its history from LiteLLM once.
                self.history(&tenant.tenant.tenant).await
            };
            let history = match history {
                Ok(history) => history,
                Err(error) => {
                    self.tenant_failed(&id, &error, report);
                    continue;
                }
            };
            let computed = std::panic::catch_unwind(AssertUnwindSafe(|| {
                evaluated_status(&tenant.tenant, &tenant.key, &history, now)
            }));
            match computed {
                Ok(status) => statuses.push((tenant, status)),
                Err(panic) => self.tenant_panicked(&id, &*panic, report),
            }
        }
        let resets: Vec<(TenantId, DateTime<Utc>)> = statuses
            .iter()
            .filter_map(|(c, _)| {
                let at = c.key.budget_reset_at?;
                (Some(at) != c.tenant.config.budget_reset_at)
                    .then(|| (c.tenant.tenant.tenant_id.clone(), at))
            })
            .collect();
        if let Err(error) = self.store.record_reset_times(&resets).await {
            // Remembered so GetBudgetConfig answers without LiteLLM; a failure only costs
            // freshness (and the tenants stay changed until it is remembered).
            tracing::warn!(error = %error, "could not remember the reset times");
        }
        let due: Vec<NewAlert> = statuses
            .iter()
            .flat_map(|(_, status)| new_alerts(status))
            .collect();
        for alert in self.store.insert_alerts(&due).await? {
            tracing::info!(tenant_id = %alert.tenant_id, alert = alert.kind.as_str(), "budget alert recorded");
            self.metrics().alert_recorded(alert.kind.as_str());
            report.alerts_recorded += 1;
        }
        let mut rows = StatusRows::default();
        for (changed, status) in &statuses {
            // A drifted key is evaluated again next pass, until LiteLLM lists it repaired.
            let settled = !key_differs(&changed.key, &status.settings);
            rows.push(status, settled.then(|| changed.fingerprint.clone()));
        }
        self.store.upsert_statuses(&rows).await?;
        for (changed, status) in statuses {
            let drifted = key_differs(&changed.key, &status.settings);
            let tenant = changed.tenant.tenant;
            self.statuses
                .insert(tenant.tenant_id.clone(), std::sync::Arc::new(status))
                .await;
            if !drifted {
                report.evaluated += 1;
                continue;
            }
            match self.repair_key(&tenant).await {
                Ok(repaired) => {
                    report.evaluated += 1;
                    report.keys_repaired += usize::from(repaired);
                }
                Err(error) => self.tenant_failed(&tenant.tenant_id, &error, report),
            }
        }
        Ok(())
    }

    fn tenant_failed(&self, id: &TenantId, error: &BudgetError, report: &mut PassReport) {
        tracing::warn!(tenant_id = %id, error = %error, "tenant not evaluated");
        self.metrics.tenant_evaluation_failed("error");
        report.failed += 1;
    }

    fn tenant_panicked(
        &self,
        id: &TenantId,
        panic: &(dyn std::any::Any + Send),
        report: &mut PassReport,
    ) {
        tracing::error!(tenant_id = %id, panic = %panic_text(panic),
            "evaluating the tenant panicked; the pass goes on with the next tenant");
        self.metrics.tenant_evaluation_failed("panic");
        report.failed += 1;
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
        let new_alerts = self.evaluate_with(&tenant, &config, &key).await?;
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

    /// One tenant's evaluation outside a pass (a webhook): its status, new alerts, status
    /// row (clearing the pass's fingerprint) and, if its key drifted, the repair.
    async fn evaluate_with(
        &self,
        tenant: &Tenant,
        config: &TenantConfig,
        key: &KeyBudget,
    ) -> Result<Vec<Alert>, BudgetError> {
        self.panic_points
            .check(format_args!("evaluate:{}", tenant.tenant_id));
        let key = tenant_key(tenant, key.clone())?;
        let status = self.compute_status(tenant, config, &key).await?;
        // The settings in force, with a temporary increase while it lasts.
        let effective = status.settings;
        let alerts = self.record_alerts(&status).await?;
        self.store.upsert_tenant_status(&status).await?;
        self.statuses
            .insert(tenant.tenant_id.clone(), std::sync::Arc::new(status))
            .await;
        if key_differs(&key, &effective) {
            self.repair_key(tenant).await?;
        }
        Ok(alerts)
    }

    async fn record_alerts(&self, status: &BudgetStatus) -> Result<Vec<Alert>, StoreError> {
        let mut recorded = Vec::new();
        for alert in new_alerts(status) {
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

    /// Every key LiteLLM has, by hash, read in pages of 100: the first page says how many
    /// there are, the rest are fetched `list_concurrency` at a time. Any failing page fails
    /// the listing.
    async fn all_keys(&self) -> Result<HashMap<String, KeyBudget>, BudgetError> {
        let (first, pages) = self
            .litellm
            .list_keys(1)
            .await
            .map_err(BudgetError::BudgetDataUnavailable)?;
        let mut keys: HashMap<String, KeyBudget> = first.into_iter().collect();
        let mut rest = futures::stream::iter(2..=pages)
            .map(|page| self.litellm.list_keys(page))
            .buffer_unordered(self.list_concurrency);
        while let Some(page) = rest.next().await {
            let (batch, _) = page.map_err(BudgetError::BudgetDataUnavailable)?;
            keys.extend(batch);
        }
        Ok(keys)
    }
}

/// The alerts the status calls for, as records to insert (each kept once by its dedupe key).
fn new_alerts(status: &BudgetStatus) -> Vec<NewAlert> {
    due_alerts(status)
        .into_iter()
        .map(|due| NewAlert {
            tenant_id: status.tenant_id.clone(),
            kind: due.kind,
            spend_micros: status.spend_micros,
            max_budget_micros: status.settings.max_budget_micros,
            percent: status.percent_used,
            threshold_percent: due.threshold_percent,
            dedupe_key: due.dedupe_key(status),
            message: due.message,
            created_at: Some(status.fetch_time),
        })
        .collect()
}

/// The first day of the history a status is computed from.
fn history_start(now: DateTime<Utc>) -> NaiveDate {
    let today = now.date_naive();
    today
        .checked_sub_days(Days::new(u64::from(MAX_HISTORY_DAYS - 1)))
        .unwrap_or(today)
}

/// Everything a tenant's evaluation is computed from, in one exact text: LiteLLM's figures
/// for the key, our settings (and their version), the increase and whether it is in force,
/// the suspension, the UTC day, the recent daily spend (in total and by model, so a new
/// split of an equal total is written too) and whether the history was loaded (the pass
/// that loads it writes no recent days; the next one does). Equal text, equal evaluation:
/// the same status, the same due alerts (by dedupe key), the same repair decision, the
/// same stored days and models.
fn fingerprint(
    tenant: &EvalTenant,
    key: &KeyBudget,
    recent_days: Option<&[DaySpend]>,
    now: DateTime<Utc>,
) -> String {
    let settings = &tenant.config.settings;
    // Each day's models as a SHA-256 of their list: up to 21 names a day would otherwise
    // make every stored fingerprint kilobytes long.
    let recent = recent_days.map(|days| {
        days.iter()
            .map(|d| {
                let models: Vec<(Option<&str>, i64)> = d
                    .models
                    .iter()
                    .map(|m| (m.model.as_deref(), m.spend_micros))
                    .collect();
                let models = hex::encode(Sha256::digest(format!("{models:?}")));
                (d.day, d.spend_micros, models)
            })
            .collect::<Vec<_>>()
    });
    let increase = tenant.increase.as_ref().map(|i| {
        (
            i.amount_micros,
            i.expire_time.timestamp_micros(),
            i.in_force(now),
        )
    });
    format!(
        "v2|key {} {:?} {:?} {:?} {:?} {:?}|settings {} {} {} {} v{}|increase {:?}|suspended {}|day {}|recent {:?} loaded {}",
        key.spend_micros,
        key.max_budget_micros,
        key.soft_budget_micros,
        key.budget_duration,
        key.budget_reset_at.map(|at| at.timestamp_micros()),
        key.status,
        settings.max_budget_micros,
        settings.alert_threshold_percent,
        settings.grace_threshold_percent,
        settings.budget_duration.as_str(),
        tenant.config.version,
        increase,
        tenant.tenant.suspended_at.is_some(),
        now.date_naive(),
        recent,
        tenant.history_loaded,
    )
}

/// Whether the tenant's last completed evaluation was from exactly these inputs and left
/// nothing to do: its history is loaded, LiteLLM's reset time is remembered, its key
/// matches our settings and the stored fingerprint is this one.
fn is_unchanged(
    tenant: &EvalTenant,
    key: &KeyBudget,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> bool {
    let effective = effective_settings(&tenant.config.settings, tenant.increase.as_ref(), now);
    tenant.history_loaded
        && key
            .budget_reset_at
            .is_none_or(|at| Some(at) == tenant.config.budget_reset_at)
        && !key_differs(key, &effective)
        && tenant.fingerprint.as_deref() == Some(fingerprint)
}

/// The tenant's status from the listed key, its stored settings and increase, and history.
fn evaluated_status(
    tenant: &EvalTenant,
    key: &KeyBudget,
    history: &DailyHistory,
    now: DateTime<Utc>,
) -> BudgetStatus {
    status_from(
        &tenant.tenant,
        &tenant.config,
        key,
        tenant.increase.clone(),
        history,
        now,
    )
}

/// Whether the key's limits differ from what our settings put there.
fn key_differs(key: &KeyBudget, settings: &BudgetSettings) -> bool {
    key.status == KeyStatus::Active
        && (key.max_budget_micros != Some(settings.block_at_micros())
            || key.soft_budget_micros != Some(settings.alert_at_micros())
            || key.budget_duration.as_deref() != Some(settings.budget_duration.as_str()))
}
