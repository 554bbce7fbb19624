//! A tenant's budget status: LiteLLM's spend and reset time read against our settings.

use chrono::{DateTime, Utc};

use super::budget::{BudgetSettings, BudgetState, days_until_reset};
use super::forecast::{Forecast, forecast};
use super::history::DailyHistory;
use super::increase::TemporaryIncrease;
use super::tenant::TenantId;

/// Everything GetBudgetStatus reports, computed at `fetch_time`.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetStatus {
    pub tenant_id: TenantId,
    pub settings: BudgetSettings,
    pub spend_micros: i64,
    pub percent_used: f64,
    pub state: BudgetState,
    pub block_at_micros: i64,
    pub alert_at_micros: i64,
    /// LiteLLM's reset time, never recomputed here.
    pub reset_time: Option<DateTime<Utc>>,
    pub days_until_reset: i32,
    pub fetch_time: DateTime<Utc>,
    pub forecast: Forecast,
    /// True while the tenant is suspended (we blocked its key on purpose).
    pub suspended: bool,
    /// The tenant's usual budget; `settings` holds the effective one (with any increase).
    pub base_budget_micros: i64,
    /// The temporary increase in force, if any.
    pub temporary_increase: Option<TemporaryIncrease>,
}

impl BudgetStatus {
    /// Derives the status from the figures LiteLLM reported at `now`.
    pub fn compute(
        tenant_id: TenantId,
        settings: BudgetSettings,
        spend_micros: i64,
        reset_time: Option<DateTime<Utc>>,
        history: &DailyHistory,
        now: DateTime<Utc>,
    ) -> BudgetStatus {
        BudgetStatus {
            tenant_id,
            settings,
            spend_micros,
            percent_used: settings.percent_used(spend_micros),
            state: settings.state(spend_micros),
            block_at_micros: settings.block_at_micros(),
            alert_at_micros: settings.alert_at_micros(),
            reset_time,
            days_until_reset: reset_time.map_or(0, |reset| days_until_reset(now, reset)),
            fetch_time: now,
            forecast: forecast(
                spend_micros,
                settings.max_budget_micros,
                history,
                now,
                reset_time,
            ),
            base_budget_micros: settings.max_budget_micros,
            temporary_increase: None,
            suspended: false,
        }
    }

    /// Marks the status as computed on effective settings that include `increase`, whose
    /// usual budget is `base_budget_micros`.
    pub fn with_increase(
        mut self,
        base_budget_micros: i64,
        increase: Option<TemporaryIncrease>,
    ) -> BudgetStatus {
        self.base_budget_micros = base_budget_micros;
        self.temporary_increase = increase;
        self
    }

    /// The tenant's own settings, without a temporary increase.
    pub fn base_settings(&self) -> BudgetSettings {
        BudgetSettings {
            max_budget_micros: self.base_budget_micros,
            ..self.settings
        }
    }
}

/// A tenant's latest evaluated status, as the fleet view reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct EvaluatedStatus {
    pub spend_micros: i64,
    pub percent_used: f64,
    pub state: BudgetState,
    pub reset_time: Option<DateTime<Utc>>,
    pub fetch_time: DateTime<Utc>,
    /// The forecast's exhaustion time at `fetch_time`: set only when before the reset.
    pub run_out_time: Option<DateTime<Utc>>,
}

/// Where a tenant stands in the fleet overview; every tenant is in exactly one. A suspended
/// tenant is `Suspended` whatever its spend, and one never evaluated is `Unavailable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetState {
    Ok,
    Warning,
    Grace,
    Blocked,
    Suspended,
    Unavailable,
}
