//! Daily spend series: LiteLLM omits days without spend; we zero-fill them.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};

/// The longest history we read or show.
pub const MAX_HISTORY_DAYS: u32 = 90;

/// Spend per UTC day, in micros, as LiteLLM reported it (missing days had no spend).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DailyHistory {
    days: BTreeMap<NaiveDate, i64>,
}

impl DailyHistory {
    /// Builds a history; repeated dates are added together.
    pub fn from_days(days: impl IntoIterator<Item = (NaiveDate, i64)>) -> DailyHistory {
        let mut map = BTreeMap::new();
        for (date, micros) in days {
            let day = map.entry(date).or_insert(0i64);
            *day = day.saturating_add(micros);
        }
        DailyHistory { days: map }
    }

    /// Spend on `date` (0 when LiteLLM had none).
    pub fn spend_on(&self, date: NaiveDate) -> i64 {
        self.days.get(&date).copied().unwrap_or(0)
    }

    /// The first day with positive spend within `window_days` ending on `today`.
    pub fn first_spend_day(&self, today: NaiveDate, window_days: u32) -> Option<NaiveDate> {
        let start = today.checked_sub_days(Days::new(u64::from(window_days.saturating_sub(1))))?;
        self.days
            .range(start..=today)
            .find(|(_, spend)| **spend > 0)
            .map(|(date, _)| *date)
    }

    /// Exactly `days` entries, oldest first, ending on `today`, zero-filled.
    pub fn series(&self, today: NaiveDate, days: u32) -> Vec<(NaiveDate, i64)> {
        (0..days)
            .rev()
            .filter_map(|back| today.checked_sub_days(Days::new(u64::from(back))))
            .map(|date| (date, self.spend_on(date)))
            .collect()
    }

    /// Days from the first day with spend in the last 90 days through today, inclusive,
    /// capped at `days`; 0 when there was no spend at all.
    pub fn days_with_data(&self, today: NaiveDate, days: u32) -> u32 {
        self.first_spend_day(today, MAX_HISTORY_DAYS)
            .map(|first| {
                let span = today
                    .signed_duration_since(first)
                    .num_days()
                    .saturating_add(1);
                u32::try_from(span).unwrap_or(0).min(days)
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn series_is_zero_filled_oldest_first_ending_today() {
        let h = DailyHistory::from_days([
            (d("2026-11-28"), 5),
            (d("2026-11-26"), 3),
            (d("2026-10-01"), 9),
        ]);
        let s = h.series(d("2026-11-28"), 7);
        assert_eq!(s.len(), 7);
        assert_eq!(s[0], (d("2026-11-22"), 0));
        assert_eq!(s[4], (d("2026-11-26"), 3));
        assert_eq!(s[6], (d("2026-11-28"), 5));
    }

    #[test]
    fn days_with_data_counts_from_first_spend() {
        let today = d("2026-11-28");
        let h = DailyHistory::from_days([(d("2026-11-25"), 1), (d("2026-11-27"), 0)]);
        assert_eq!(h.days_with_data(today, 30), 4);
        assert_eq!(DailyHistory::default().days_with_data(today, 30), 0);
        let old = DailyHistory::from_days([(d("2026-09-01"), 1)]);
        assert_eq!(old.days_with_data(today, 30), 30);
        // Spend older than 90 days does not count.
        let ancient = DailyHistory::from_days([(d("2026-08-01"), 1)]);
        assert_eq!(ancient.days_with_data(today, 30), 0);
    }
}
