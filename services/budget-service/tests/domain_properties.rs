//! The whole pure domain over extreme but valid input: budgets from 1 micro to $10,000,000,
//! spend up to i64::MAX, daily spend from nothing to huge, reset times past, near, far, at
//! the end of time or absent, every period, with or without a temporary increase. Nothing
//! may panic (one tenant's numbers once killed the fleet's evaluator), and every output
//! must stay sane.
#![allow(clippy::unwrap_used)]

use budget_service::domain::budget::MAX_BUDGET_LIMIT_MICROS;
use budget_service::domain::increase::{TemporaryIncrease, effective_settings};
use budget_service::domain::money::{format_usd, percent_of};
use budget_service::domain::{
    AlertKind, BudgetDuration, BudgetSettings, BudgetState, DailyHistory, TenantId, due_alerts,
    status::BudgetStatus,
};
use chrono::{DateTime, Days, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

fn any_now() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        // Ordinary times, 1970 to 2200.
        (0i64..7_258_118_400).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap()),
        // Close to the ends of what a date can hold.
        (0i64..86_400 * 400).prop_map(|s| DateTime::<Utc>::MAX_UTC - TimeDelta::seconds(s)),
        (0i64..86_400 * 400).prop_map(|s| DateTime::<Utc>::MIN_UTC + TimeDelta::seconds(s)),
    ]
}

/// A reset relative to `now`: absent, past, near, far, or the end of time.
fn any_reset(now: DateTime<Utc>) -> impl Strategy<Value = Option<DateTime<Utc>>> {
    let offset = move |secs: i64| now.checked_add_signed(TimeDelta::seconds(secs));
    prop_oneof![
        Just(None),
        (-86_400i64 * 3_650..0).prop_map(offset),
        (0i64..86_400 * 2).prop_map(offset),
        (0i64..86_400 * 366_000 * 300).prop_map(offset),
        Just(Some(DateTime::<Utc>::MAX_UTC)),
    ]
}

fn any_micros() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0i64),
        1i64..1_000,
        0i64..10 * MAX_BUDGET_LIMIT_MICROS,
        0i64..=i64::MAX,
        Just(i64::MAX),
    ]
}

fn any_settings() -> impl Strategy<Value = BudgetSettings> {
    (
        prop_oneof![
            Just(1i64),
            1i64..=MAX_BUDGET_LIMIT_MICROS,
            Just(MAX_BUDGET_LIMIT_MICROS)
        ],
        50i32..=100,
        100i32..=150,
        prop_oneof![
            Just(BudgetDuration::Days30),
            Just(BudgetDuration::Days60),
            Just(BudgetDuration::Days90)
        ],
    )
        .prop_map(|(budget, alert, grace, duration)| BudgetSettings {
            max_budget_micros: budget,
            alert_threshold_percent: alert,
            grace_threshold_percent: grace,
            budget_duration: duration,
        })
}

/// Settings, spend, (days back, spend) pairs, now, reset, and an optional increase
/// (amount, seconds from now to its expiry).
type Case = (
    BudgetSettings,
    i64,
    Vec<(u64, i64)>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<(i64, i64)>,
);

fn case() -> impl Strategy<Value = Case> {
    any_now().prop_flat_map(|now| {
        (
            any_settings(),
            any_micros(),
            prop::collection::vec((1u64..100, any_micros()), 0..12),
            Just(now),
            any_reset(now),
            prop::option::of((1i64..=MAX_BUDGET_LIMIT_MICROS, -86_400i64..86_400 * 90)),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn status_forecast_and_alerts_never_panic_and_stay_sane(
        (base, spend, days, now, reset, increase) in case()
    ) {
        let today = now.date_naive();
        let history = DailyHistory::from_days(
            days.iter()
                .filter_map(|(back, micros)| today.checked_sub_days(Days::new(*back)).map(|d| (d, *micros))),
        );
        let increase = increase.and_then(|(amount, secs)| {
            now.checked_add_signed(TimeDelta::seconds(secs)).map(|expire_time| TemporaryIncrease {
                amount_micros: amount,
                expire_time,
                reason: "proptest".into(),
            })
        });
        let settings = effective_settings(&base, increase.as_ref(), now);
        let id = TenantId::parse("acme").unwrap();
        let status = BudgetStatus::compute(id, settings, spend, reset, &history, now)
            .with_increase(base.max_budget_micros, increase);

        // Amounts and bands.
        prop_assert!(status.percent_used.is_finite() && status.percent_used >= 0.0);
        prop_assert!(status.block_at_micros >= settings.max_budget_micros);
        prop_assert!(status.alert_at_micros <= settings.max_budget_micros);
        prop_assert!(status.alert_at_micros > 0);
        let at = |percent: i32| i128::from(spend) * 100 >= i128::from(settings.max_budget_micros) * i128::from(percent);
        let want = if at(settings.grace_threshold_percent) {
            BudgetState::Blocked
        } else if at(100) {
            BudgetState::Grace
        } else if at(settings.alert_threshold_percent) {
            BudgetState::Warning
        } else {
            BudgetState::Ok
        };
        prop_assert_eq!(status.state, want);
        prop_assert!(status.days_until_reset >= 0);

        // The forecast: a non-negative rate, a projection no lower than the spend, and a
        // run-out moment only strictly between now and the reset, while under budget.
        let f = status.forecast;
        prop_assert!(f.daily_rate_micros >= 0);
        prop_assert!(f.projected_spend_micros >= spend);
        if let Some(out) = f.exhaustion_time {
            prop_assert!(spend < settings.max_budget_micros);
            prop_assert!(out >= now);
            prop_assert!(reset.is_some_and(|reset| out < reset), "{out} vs {reset:?}");
        }

        // Alerts: each kind at most once, distinct dedupe keys, consistent with the band.
        let due = due_alerts(&status);
        let kinds: Vec<AlertKind> = due.iter().map(|d| d.kind).collect();
        prop_assert_eq!(kinds.contains(&AlertKind::Threshold), want != BudgetState::Ok);
        prop_assert_eq!(kinds.contains(&AlertKind::Blocked), want == BudgetState::Blocked);
        if kinds.contains(&AlertKind::ProjectedLimit) {
            prop_assert!(spend < settings.max_budget_micros);
            prop_assert!(f.projected_spend_micros > settings.max_budget_micros);
        }
        let mut keys: Vec<String> = due.iter().map(|d| d.dedupe_key(&status)).collect();
        keys.sort();
        keys.dedup();
        prop_assert_eq!(keys.len(), due.len());
        prop_assert!(due.iter().all(|d| !d.message.is_empty()));
    }

    #[test]
    fn money_helpers_hold_for_every_amount(amount in any::<i64>(), percent in any::<i32>()) {
        let formatted = format_usd(amount);
        prop_assert!(formatted.contains('$'));
        let product = i128::from(amount) * i128::from(percent);
        let got = i128::from(percent_of(amount, percent));
        // Exact when it fits, else held at the end of i64's range.
        if let Ok(fits) = i64::try_from(product / 100) {
            prop_assert!((got - i128::from(fits)).abs() <= 1);
        } else {
            prop_assert!(got == i128::from(i64::MAX) || got == i128::from(i64::MIN));
        }
    }
}

/// The two settings the issue reported: a large budget with a trickle of spend, and a small
/// budget with one micro a day. Their run-out dates lie hundreds of thousands of years out.
#[test]
fn a_trickle_of_spend_on_a_large_budget_has_no_run_out_date() {
    let now = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
    let reset = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).single();
    for (budget, per_day) in [(MAX_BUDGET_LIMIT_MICROS, 3), (500_000_000, 1)] {
        let history = DailyHistory::from_days(
            (1..=7).map(|back| (now.date_naive() - Days::new(back), per_day)),
        );
        let settings = BudgetSettings {
            max_budget_micros: budget,
            alert_threshold_percent: 80,
            grace_threshold_percent: 110,
            budget_duration: BudgetDuration::Days30,
        };
        let compute = |reset| {
            let id = TenantId::parse("acme").unwrap();
            BudgetStatus::compute(id, settings, per_day * 7, reset, &history, now)
        };
        let status = compute(reset);
        assert_eq!(status.forecast.exhaustion_time, None);
        assert_eq!(status.forecast.daily_rate_micros, per_day);
        assert!(due_alerts(&status).is_empty());
        // Even with no reset at all, or one at the end of time.
        for reset in [None, Some(DateTime::<Utc>::MAX_UTC)] {
            let status = compute(reset);
            assert_eq!(status.forecast.exhaustion_time, None);
            let _ = due_alerts(&status);
        }
    }
}
