//! Where the money goes: spend per model, as LiteLLM's daily activity splits each day
//! (`breakdown.models`, named `provider/model` by the real proxy).
//!
//! A tenant chooses the model names its calls carry, so a hostile tenant could make thousands
//! per day. Each tenant-day keeps at most [`MODELS_PER_DAY`] models by spend; the rest are
//! summed into one "other models" entry, so the day's total is kept exactly. The tenant page
//! shows the period's [`TOP_MODELS`] and "other models".

use std::collections::BTreeMap;

use chrono::{DateTime, Days, Months, NaiveDate, Utc};

use super::budget::BudgetDuration;
use super::history::MAX_HISTORY_DAYS;

/// Models stored per tenant and day; the rest of the day's models are one "other" entry.
pub const MODELS_PER_DAY: usize = 20;

/// Models the tenant page names for the period; the rest are "other models".
pub const TOP_MODELS: usize = 5;

/// One model's spend, or (`model: None`) the summed spend of models not named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSpend {
    pub model: Option<String>,
    pub spend_micros: i64,
}

impl ModelSpend {
    pub fn named(model: impl Into<String>, spend_micros: i64) -> ModelSpend {
        ModelSpend {
            model: Some(model.into()),
            spend_micros,
        }
    }

    pub fn other(spend_micros: i64) -> ModelSpend {
        ModelSpend {
            model: None,
            spend_micros,
        }
    }
}

/// Adds up entries of the same model (and every "other" entry together), then keeps the
/// `keep` models with the most spend (ties by name) and sums the rest, with any "other"
/// already present, into one "other" entry placed last. Entries without spend are dropped.
pub fn top_models(entries: impl IntoIterator<Item = ModelSpend>, keep: usize) -> Vec<ModelSpend> {
    let mut by_model: BTreeMap<String, i64> = BTreeMap::new();
    let mut other = 0i64;
    for entry in entries {
        match entry.model {
            Some(model) => {
                let spend = by_model.entry(model).or_insert(0);
                *spend = spend.saturating_add(entry.spend_micros);
            }
            None => other = other.saturating_add(entry.spend_micros),
        }
    }
    let mut named: Vec<(String, i64)> = by_model
        .into_iter()
        .filter(|(_, spend)| *spend > 0)
        .collect();
    // Most spend first; the map's name order breaks ties (the sort is stable).
    named.sort_by_key(|(_, spend)| std::cmp::Reverse(*spend));
    let rest = named.split_off(keep.min(named.len()));
    for (_, spend) in rest {
        other = other.saturating_add(spend);
    }
    let mut out: Vec<ModelSpend> = named
        .into_iter()
        .map(|(model, spend)| ModelSpend::named(model, spend))
        .collect();
    if other > 0 {
        out.push(ModelSpend::other(other));
    }
    out
}

/// The first UTC day of the current budget period, from LiteLLM's reset time (never a reset
/// date of ours): LiteLLM snaps "30d" to the 1st of each month, so its period began a month
/// before the reset; "60d" and "90d" began that many days before it. A reset already past
/// (remembered before LiteLLM moved it on) began the period now running. Without a reset
/// time, the last 30 days. Never after `today`, never more than the history's 90 days back.
pub fn period_start(
    duration: BudgetDuration,
    reset_time: Option<DateTime<Utc>>,
    today: NaiveDate,
) -> NaiveDate {
    let back = |days: u32| today.checked_sub_days(Days::new(u64::from(days)));
    let start = match reset_time.map(|at| at.date_naive()) {
        Some(reset) if reset <= today => Some(reset),
        Some(reset) => match duration {
            BudgetDuration::Days30 => reset.checked_sub_months(Months::new(1)),
            BudgetDuration::Days60 => reset.checked_sub_days(Days::new(60)),
            BudgetDuration::Days90 => reset.checked_sub_days(Days::new(90)),
        },
        None => back(29),
    };
    let earliest = back(MAX_HISTORY_DAYS.saturating_sub(1)).unwrap_or(today);
    start.unwrap_or(today).clamp(earliest, today)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn keeps_the_top_models_and_sums_the_rest_into_other() {
        let entries = vec![
            ModelSpend::named("openai/a", 1),
            ModelSpend::named("openai/b", 5),
            ModelSpend::named("openai/c", 3),
            ModelSpend::named("openai/a", 3),
            ModelSpend::named("openai/zero", 0),
            ModelSpend::other(10),
        ];
        assert_eq!(
            top_models(entries.clone(), 2),
            vec![
                ModelSpend::named("openai/b", 5),
                ModelSpend::named("openai/a", 4),
                ModelSpend::other(13),
            ]
        );
        // Everything kept: the total is unchanged, "other" only what was already other.
        let all = top_models(entries, 10);
        assert_eq!(all.iter().map(|m| m.spend_micros).sum::<i64>(), 22);
        assert_eq!(all.last(), Some(&ModelSpend::other(10)));
        assert_eq!(top_models(Vec::new(), 5), Vec::new());
    }

    #[test]
    fn ties_are_broken_by_name_and_thousands_of_models_become_one_other() {
        let many = (0..5000).map(|i| ModelSpend::named(format!("m{i:04}"), 1));
        let kept = top_models(many, MODELS_PER_DAY);
        assert_eq!(kept.len(), MODELS_PER_DAY + 1);
        assert_eq!(kept[0], ModelSpend::named("m0000", 1));
        assert_eq!(kept[MODELS_PER_DAY], ModelSpend::other(5000 - 20));
        let huge = [ModelSpend::named("a", i64::MAX), ModelSpend::named("a", 1)];
        assert_eq!(top_models(huge, 1), vec![ModelSpend::named("a", i64::MAX)]);
    }

    #[test]
    fn the_period_starts_from_litellms_reset_time() {
        let today = d("2026-12-03");
        let monthly = Some(at("2027-01-01T00:00:00Z"));
        assert_eq!(
            period_start(BudgetDuration::Days30, monthly, today),
            d("2026-12-01")
        );
        let later = Some(at("2027-01-20T00:00:00Z"));
        assert_eq!(
            period_start(BudgetDuration::Days60, later, today),
            d("2026-11-21")
        );
        assert_eq!(
            period_start(
                BudgetDuration::Days90,
                Some(at("2027-03-01T00:00:00Z")),
                today
            ),
            d("2026-12-01")
        );
        // A reset further away than the period (LiteLLM's word) never starts it in the future.
        assert_eq!(
            period_start(
                BudgetDuration::Days30,
                Some(at("2027-06-01T00:00:00Z")),
                today
            ),
            today
        );
    }

    #[test]
    fn a_past_or_unknown_reset_still_names_a_period() {
        let today = d("2026-12-03");
        let past = Some(at("2026-12-01T00:00:00Z"));
        assert_eq!(
            period_start(BudgetDuration::Days30, past, today),
            d("2026-12-01")
        );
        assert_eq!(
            period_start(BudgetDuration::Days30, None, today),
            d("2026-11-04")
        );
        let ancient = Some(at("2026-01-01T00:00:00Z"));
        assert_eq!(
            period_start(BudgetDuration::Days30, ancient, today),
            d("2026-09-05")
        );
    }
}
