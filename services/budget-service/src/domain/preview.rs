//! What proposed settings would mean at the current rate, before they are saved: when spend
//! reaches their alert threshold, their budget and their block amount, each asked of the very
//! forecast the status holds (its rate, spend, "now" and LiteLLM's reset time).

use chrono::{DateTime, Utc};

use super::budget::BudgetSettings;
use super::forecast::reach_time;
use super::increase::effective_settings;
use super::money::reached_percent;
use super::status::BudgetStatus;

/// Whether and when spend reaches one amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crossing {
    /// Spend is already at or above it.
    Reached,
    /// Expected at this moment, before the reset.
    BeforeReset(DateTime<Utc>),
    /// Not expected before the reset: no spend rate, no reset time known, or too far off.
    NotBeforeReset,
}

/// One amount of the proposed settings and when spend reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Milestone {
    pub amount_micros: i64,
    pub crossing: Crossing,
}

/// What the proposed settings would mean, computed at the status's fetch time.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetPreview {
    /// The proposed settings, as they would be saved.
    pub settings: BudgetSettings,
    /// The settings in force with them (any temporary increase included).
    pub effective: BudgetSettings,
    pub spend_micros: i64,
    pub daily_rate_micros: i64,
    pub projected_spend_micros: i64,
    /// At the alert threshold.
    pub alert: Milestone,
    /// At 100 % of the budget: where the grace period begins.
    pub budget: Milestone,
    /// At the block amount (budget x grace): where LiteLLM refuses calls.
    pub block: Milestone,
    /// LiteLLM's reset time as last read, never computed.
    pub reset_time: Option<DateTime<Utc>>,
    /// The proposed period differs from the current one: saving makes LiteLLM set a new reset
    /// time, which only LiteLLM knows, so the dates above are against the current one.
    pub period_changes: bool,
    /// The moment the figures describe (the status's fetch time).
    pub fetch_time: DateTime<Utc>,
}

impl BudgetPreview {
    /// `proposed` read against `status`: the same spend, rate and reset time, so proposing
    /// the current settings repeats what the status forecasts.
    pub fn compute(status: &BudgetStatus, proposed: BudgetSettings) -> BudgetPreview {
        let now = status.fetch_time;
        let effective = effective_settings(&proposed, status.temporary_increase.as_ref(), now);
        let spend = status.spend_micros;
        let milestone = |percent: i32, amount_micros: i64| {
            let crossing = if reached_percent(spend, effective.max_budget_micros, percent) {
                Crossing::Reached
            } else {
                reach_time(
                    spend,
                    amount_micros,
                    status.forecast.daily_rate,
                    now,
                    status.reset_time,
                )
                .map_or(Crossing::NotBeforeReset, Crossing::BeforeReset)
            };
            Milestone {
                amount_micros,
                crossing,
            }
        };
        BudgetPreview {
            settings: proposed,
            effective,
            spend_micros: spend,
            daily_rate_micros: status.forecast.daily_rate_micros,
            projected_spend_micros: status.forecast.projected_spend_micros,
            alert: milestone(
                effective.alert_threshold_percent,
                effective.alert_at_micros(),
            ),
            budget: milestone(100, effective.max_budget_micros),
            block: milestone(
                effective.grace_threshold_percent,
                effective.block_at_micros(),
            ),
            reset_time: status.reset_time,
            period_changes: proposed.budget_duration != status.settings.budget_duration,
            fetch_time: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::budget::MAX_BUDGET_LIMIT_MICROS;
    use crate::domain::{BudgetDuration, DailyHistory, TemporaryIncrease, TenantId};
    use chrono::{Days, Duration, NaiveDate, TimeZone};

    const USD: i64 = 1_000_000;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn settings(budget_usd: i64, alert: i32, grace: i32) -> BudgetSettings {
        BudgetSettings {
            max_budget_micros: budget_usd * USD,
            alert_threshold_percent: alert,
            grace_threshold_percent: grace,
            budget_duration: BudgetDuration::Days30,
        }
    }

    /// `rate` a day on each of the last 7 days.
    fn week_at(rate: i64) -> DailyHistory {
        let today = now().date_naive();
        DailyHistory::from_days((1..=7).map(|back| {
            (
                today
                    .checked_sub_days(Days::new(back))
                    .unwrap_or(NaiveDate::MIN),
                rate,
            )
        }))
    }

    fn status(
        current: BudgetSettings,
        spend: i64,
        history: &DailyHistory,
        reset: Option<DateTime<Utc>>,
    ) -> BudgetStatus {
        let id = TenantId::parse("acme").unwrap_or_else(|| unreachable!());
        BudgetStatus::compute(id, current, spend, reset, history, now())
    }

    fn on(at: DateTime<Utc>) -> Crossing {
        Crossing::BeforeReset(at)
    }

    #[test]
    fn dates_at_the_current_rate_and_which_fall_before_the_reset() {
        // $300 spent, $20 a day, reset in 10 days. Proposed: $400, alert 80 %, grace 120 %.
        let reset = now() + Duration::days(10);
        let s = status(
            settings(1000, 80, 100),
            300 * USD,
            &week_at(20 * USD),
            Some(reset),
        );
        let p = BudgetPreview::compute(&s, settings(400, 80, 120));
        assert_eq!(p.daily_rate_micros, 20 * USD);
        assert_eq!(p.alert.amount_micros, 320 * USD);
        assert_eq!(p.alert.crossing, on(now() + Duration::days(1)));
        assert_eq!(p.budget.crossing, on(now() + Duration::days(5)));
        assert_eq!(p.block.amount_micros, 480 * USD);
        assert_eq!(p.block.crossing, on(now() + Duration::days(9)));
        assert_eq!(p.reset_time, Some(reset));
        assert!(!p.period_changes);
        // $600 with 150 % grace blocks at $900: $300 + 10 x $20 = $500 never gets there.
        let p = BudgetPreview::compute(&s, settings(600, 90, 150));
        assert_eq!(p.block.amount_micros, 900 * USD);
        // Its alert at $540 is 12 days away, after the reset too.
        assert_eq!(p.alert.crossing, Crossing::NotBeforeReset);
        assert_eq!(p.budget.crossing, Crossing::NotBeforeReset);
        assert_eq!(p.block.crossing, Crossing::NotBeforeReset);
    }

    #[test]
    fn the_current_settings_repeat_the_status_forecast() {
        // A rate that is no whole number of micros: the preview uses the unrounded one.
        // $20 yesterday and 333,333 micros on each of the 6 days before.
        let today = now().date_naive();
        let history = DailyHistory::from_days((1..=7).map(|back| {
            let day = today
                .checked_sub_days(Days::new(back))
                .unwrap_or(NaiveDate::MIN);
            (day, if back == 1 { 20 * USD } else { USD / 3 })
        }));
        let reset = now() + Duration::days(20);
        let current = settings(80, 80, 100);
        let s = status(current, 35 * USD, &history, Some(reset));
        let exhaustion = s.forecast.exhaustion_time.unwrap();
        let p = BudgetPreview::compute(&s, current);
        assert_eq!(p.budget.crossing, on(exhaustion));
        // $45 left at ($20 + 6 x 333,333 micros) / 7 a day: 14.318... days, to the millisecond.
        assert_eq!(exhaustion, now() + Duration::milliseconds(1_237_091_022));
        assert_eq!(p.block.crossing, p.budget.crossing);
        assert_eq!(p.projected_spend_micros, s.forecast.projected_spend_micros);
        assert_eq!(p.fetch_time, s.fetch_time);
    }

    #[test]
    fn zero_rate_and_no_history_reach_nothing() {
        let reset = now() + Duration::days(3);
        for history in [DailyHistory::default(), week_at(0)] {
            let s = status(settings(100, 80, 110), 10 * USD, &history, Some(reset));
            let p = BudgetPreview::compute(&s, settings(50, 50, 100));
            assert_eq!(p.daily_rate_micros, 0);
            for m in [p.alert, p.budget, p.block] {
                assert_eq!(m.crossing, Crossing::NotBeforeReset);
            }
        }
    }

    #[test]
    fn already_past_a_threshold_is_reached_not_dated() {
        let reset = now() + Duration::days(3);
        let s = status(settings(100, 80, 110), 90 * USD, &week_at(USD), Some(reset));
        // $90 spent: past 80 % of $100 (alert) but not its 100 % or 120 %.
        let p = BudgetPreview::compute(&s, settings(100, 80, 120));
        assert_eq!(p.alert.crossing, Crossing::Reached);
        // Its budget is $10 away at $1 a day: after the reset in 3 days.
        assert_eq!(p.budget.crossing, Crossing::NotBeforeReset);
        // A $50 budget is already blocked at 150 %: $75 ≤ $90; exactly at the amount counts too.
        let p = BudgetPreview::compute(&s, settings(50, 50, 150));
        assert_eq!(
            [p.alert.crossing, p.budget.crossing, p.block.crossing],
            [Crossing::Reached; 3]
        );
        let p = BudgetPreview::compute(&s, settings(60, 50, 150));
        assert_eq!(p.block.amount_micros, 90 * USD);
        assert_eq!(p.block.crossing, Crossing::Reached);
    }

    #[test]
    fn huge_and_tiny_budgets() {
        let reset = now() + Duration::days(30);
        let s = status(
            settings(100, 80, 100),
            0,
            &week_at(1_000 * USD),
            Some(reset),
        );
        let huge = BudgetSettings {
            max_budget_micros: MAX_BUDGET_LIMIT_MICROS,
            ..settings(1, 100, 150)
        };
        let p = BudgetPreview::compute(&s, huge);
        assert_eq!(p.block.amount_micros, MAX_BUDGET_LIMIT_MICROS / 2 * 3);
        assert_eq!(p.alert.crossing, Crossing::NotBeforeReset);
        // One micro: the first millisecond of spend reaches it.
        let tiny = BudgetSettings {
            max_budget_micros: 1,
            ..settings(1, 50, 100)
        };
        let p = BudgetPreview::compute(&s, tiny);
        assert_eq!(p.alert.amount_micros, 1);
        assert!(
            matches!(p.budget.crossing, Crossing::BeforeReset(at) if at >= now() && at < now() + Duration::seconds(1))
        );
        // Spend beyond any budget and a rate near i64::MAX stay defined.
        let s = status(
            settings(100, 80, 100),
            i64::MAX,
            &week_at(i64::MAX),
            Some(reset),
        );
        let p = BudgetPreview::compute(&s, huge);
        assert_eq!(p.block.crossing, Crossing::Reached);
    }

    #[test]
    fn dates_at_or_beyond_the_reset_and_no_reset_time() {
        // $10 a day, $0 spent, reset in exactly 5 days: $50 is reached at the reset, not before.
        let reset = now() + Duration::days(5);
        let s = status(settings(100, 80, 100), 0, &week_at(10 * USD), Some(reset));
        let p = BudgetPreview::compute(&s, settings(50, 50, 100));
        assert_eq!(p.alert.crossing, on(now() + Duration::hours(60)));
        assert_eq!(p.budget.crossing, Crossing::NotBeforeReset);
        // A reset already past, or none known: nothing is dated.
        for reset in [Some(now() - Duration::hours(1)), None] {
            let s = status(settings(100, 80, 100), 0, &week_at(10 * USD), reset);
            let p = BudgetPreview::compute(&s, settings(20, 50, 100));
            assert_eq!(p.alert.crossing, Crossing::NotBeforeReset);
            assert_eq!(p.reset_time, reset);
        }
    }

    #[test]
    fn a_new_period_is_flagged_and_the_reset_kept() {
        let reset = now() + Duration::days(3);
        let s = status(settings(100, 80, 100), 0, &week_at(USD), Some(reset));
        let p = BudgetPreview::compute(
            &s,
            BudgetSettings {
                budget_duration: BudgetDuration::Days90,
                ..settings(100, 80, 100)
            },
        );
        assert!(p.period_changes);
        assert_eq!(p.reset_time, Some(reset));
    }

    #[test]
    fn a_temporary_increase_counts_as_the_status_counts_it() {
        let reset = now() + Duration::days(30);
        let increase = TemporaryIncrease {
            amount_micros: 100 * USD,
            expire_time: now() + Duration::days(40),
            reason: "launch".into(),
        };
        let s = status(settings(200, 80, 100), 0, &week_at(10 * USD), Some(reset))
            .with_increase(100 * USD, Some(increase));
        let p = BudgetPreview::compute(&s, settings(100, 50, 100));
        assert_eq!(p.settings.max_budget_micros, 100 * USD);
        assert_eq!(p.effective.max_budget_micros, 200 * USD);
        assert_eq!(p.alert.crossing, on(now() + Duration::days(10)));
    }
}
