//! GetBudgetStatus and GetSpendHistory: LiteLLM's spend against our settings, cached per
//! tenant, and the daily history kept in our database.

use chrono::{DateTime, Days, NaiveDate, Utc};

use super::Budgets;
use super::shared::{parse_tenant, read_error, tenant_key};
use crate::domain::TemporaryIncrease;
use crate::domain::history::MAX_HISTORY_DAYS;
use crate::domain::increase::effective_settings;
use crate::domain::{BudgetStatus, DailyHistory, FieldViolation, Tenant, TenantConfig, TenantId};
use crate::domain::{ModelSpend, model_spend};
use crate::error::BudgetError;
use crate::litellm::KeyBudget;
use crate::store::DayModels;

/// Spend per day for the chart, and where the current period's money went.
#[derive(Clone, Debug)]
pub(crate) struct SpendHistory {
    pub days: Vec<(NaiveDate, i64)>,
    pub days_with_data: u32,
    /// The first UTC day of the current budget period.
    pub period_start: NaiveDate,
    /// The period's spend by model: the top five, then "other models".
    pub models: Vec<ModelSpend>,
}

impl Budgets {
    /// The tenant's status, from the cache or, on a miss, from LiteLLM. Concurrent misses
    /// for one tenant share one fill; errors are not cached.
    pub async fn status(&self, tenant_id: &str) -> Result<BudgetStatus, BudgetError> {
        let id = parse_tenant(tenant_id)?;
        let raced = std::sync::atomic::AtomicBool::new(false);
        let missed = std::sync::atomic::AtomicBool::new(false);
        let fill = async {
            missed.store(true, std::sync::atomic::Ordering::Relaxed);
            self.panic_points.check(format_args!("status:{id}"));
            let before = self.invalidations.load(std::sync::atomic::Ordering::SeqCst);
            let status = self.fetch_status(&id).await;
            let after = self.invalidations.load(std::sync::atomic::Ordering::SeqCst);
            raced.store(before != after, std::sync::atomic::Ordering::SeqCst);
            status
        };
        let status = self.statuses.get_or_fill(&id, fill).await;
        if missed.load(std::sync::atomic::Ordering::Relaxed) {
            self.metrics.cache_miss();
        } else {
            self.metrics.cache_hit();
        }
        let status = status?;
        if raced.load(std::sync::atomic::Ordering::SeqCst) {
            // A change was announced while this fill read: it may predate the change.
            self.statuses.invalidate(&id).await;
        }
        Ok(status)
    }

    async fn fetch_status(&self, id: &TenantId) -> Result<BudgetStatus, BudgetError> {
        let (tenant, config, key) = self.tenant_with_key(id).await?;
        let key = tenant_key(&tenant, key)?;
        self.compute_status(&tenant, &config, &key).await
    }

    /// The status from LiteLLM's figures for the key and our settings and history; also
    /// remembers LiteLLM's latest reset time.
    pub(super) async fn compute_status(
        &self,
        tenant: &Tenant,
        config: &TenantConfig,
        key: &KeyBudget,
    ) -> Result<BudgetStatus, BudgetError> {
        let history = self.history(tenant).await?;
        if let Some(reset_at) = key
            .budget_reset_at
            .filter(|at| Some(*at) != config.budget_reset_at)
        {
            // Remembered so GetBudgetConfig answers without LiteLLM; a failure here only costs freshness.
            if let Err(error) = self
                .store
                .record_reset_time(&tenant.tenant_id, reset_at)
                .await
            {
                tracing::warn!(tenant_id = %tenant.tenant_id, error = %error, "could not remember the reset time");
            }
        }
        let (_, increase) = self
            .effective_now(&tenant.tenant_id, &config.settings)
            .await?;
        Ok(status_from(
            tenant,
            config,
            key,
            increase,
            &history,
            self.clock.now(),
        ))
    }

    /// The last 90 days of the tenant's daily spend from our database, which the evaluator
    /// keeps fresh; read from LiteLLM (and stored) only the first time.
    pub(super) async fn history(&self, tenant: &Tenant) -> Result<DailyHistory, BudgetError> {
        let today = self.clock.now().date_naive();
        let start = today
            .checked_sub_days(Days::new(u64::from(MAX_HISTORY_DAYS - 1)))
            .unwrap_or(today);
        if let Some(days) = self.store.daily_history(&tenant.tenant_id, start).await? {
            return Ok(DailyHistory::from_days(days));
        }
        let days = self
            .litellm
            .daily_spend(&tenant.key_hash, start, today)
            .await
            .map_err(|e| read_error(&tenant.tenant_id, e))?;
        let models: Vec<DayModels> = days
            .iter()
            .map(|d| DayModels {
                tenant_id: tenant.tenant_id.clone(),
                day: d.day,
                models: d.models.clone(),
            })
            .collect();
        // The models first: marking the history loaded is what makes later passes refresh it.
        self.store.upsert_model_spend(&models, false).await?;
        let days: Vec<(NaiveDate, i64)> = days.iter().map(|d| (d.day, d.spend_micros)).collect();
        self.store.load_history(&tenant.tenant_id, &days).await?;
        Ok(DailyHistory::from_days(days))
    }

    /// Spend per UTC day for `days` days ending today (default 30, 7 to 90).
    pub(crate) async fn spend_history(
        &self,
        tenant_id: &str,
        days: i32,
    ) -> Result<SpendHistory, BudgetError> {
        let id = parse_tenant(tenant_id)?;
        let days = match days {
            0 => 30,
            7..=90 => days.unsigned_abs(),
            _ => return Err(FieldViolation::new("days", "Days must be between 7 and 90").into()),
        };
        let (tenant, config) = self.tenant_config(&id).await?;
        let history = self.history(&tenant).await?;
        let today = self.clock.now().date_naive();
        let period_start = model_spend::period_start(
            config.settings.budget_duration,
            config.budget_reset_at,
            today,
        );
        let models = self
            .store
            .model_spend_since(&tenant.tenant_id, period_start)
            .await?;
        Ok(SpendHistory {
            days: history.series(today, days),
            days_with_data: history.days_with_data(today, days),
            period_start,
            models: model_spend::top_models(models, model_spend::TOP_MODELS),
        })
    }
}

/// The status from LiteLLM's figures for the key, our settings, the tenant's stored
/// increase (counted while in force) and its history at `now`.
pub(super) fn status_from(
    tenant: &Tenant,
    config: &TenantConfig,
    key: &KeyBudget,
    increase: Option<TemporaryIncrease>,
    history: &DailyHistory,
    now: DateTime<Utc>,
) -> BudgetStatus {
    let increase = increase.filter(|i| i.in_force(now));
    let effective = effective_settings(&config.settings, increase.as_ref(), now);
    let status = BudgetStatus::compute(
        tenant.tenant_id.clone(),
        effective,
        key.spend_micros,
        key.budget_reset_at,
        history,
        now,
    )
    .with_increase(config.settings.max_budget_micros, increase);
    // A key we blocked on purpose is reported, not refused (see `lifecycle`).
    BudgetStatus {
        suspended: tenant.suspended_at.is_some(),
        ..status
    }
}
