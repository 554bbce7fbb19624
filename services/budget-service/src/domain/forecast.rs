//! Forecast of spend at the end of the budget period from the recent daily rate.
//!
//! rate = mean daily spend over the last 7 complete UTC days, counting only days on or
//! after the first day with spend when that is more recent (0 with no such day).
//! projected = spend + rate x days until reset (fractional). Exhaustion = now +
//! (budget - spend) / rate, reported only when it falls before the reset; `reach_time` answers
//! the same question for any amount (the what-if preview asks it of the alert and block amounts).

use chrono::{DateTime, Days, TimeDelta, Utc};

use super::history::{DailyHistory, MAX_HISTORY_DAYS};
use super::money::round_saturating;

/// Complete days the rate looks back over.
pub const RATE_WINDOW_DAYS: u32 = 7;

/// The outcome of a forecast.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Forecast {
    /// Mean daily spend over the window, in micros.
    pub daily_rate_micros: i64,
    /// The same rate unrounded, so later questions of this forecast (`reach_time`) give the
    /// very dates it gave.
    pub daily_rate: f64,
    /// Expected spend at the reset time.
    pub projected_spend_micros: i64,
    /// When spend is expected to reach the budget, if before the reset.
    pub exhaustion_time: Option<DateTime<Utc>>,
}

/// Mean daily spend (micros per day) over the last complete days before `now`'s UTC day.
pub fn daily_rate(history: &DailyHistory, now: DateTime<Utc>) -> f64 {
    let today = now.date_naive();
    let (Some(window_start), Some(yesterday)) = (
        today.checked_sub_days(Days::new(u64::from(RATE_WINDOW_DAYS))),
        today.checked_sub_days(Days::new(1)),
    ) else {
        return 0.0;
    };
    // The tenant's first day with spend at all, not merely within the window.
    let start = match history.first_spend_day(yesterday, MAX_HISTORY_DAYS) {
        Some(first) if first > window_start => first,
        Some(_) => window_start,
        None => return 0.0,
    };
    let days = yesterday
        .signed_duration_since(start)
        .num_days()
        .saturating_add(1);
    // Summed as floats: a week of days each near i64::MAX micros must not overflow.
    let total: f64 = start
        .iter_days()
        .take_while(|d| *d <= yesterday)
        .map(|d| history.spend_on(d) as f64)
        .sum();
    total / days as f64
}

/// Forecasts the period's end from the current spend, the budget and the history.
///
/// Defined for every input: a run-out moment at or after the reset (however far away, or
/// past what a date can hold) is simply not reported, and amounts beyond what micros can
/// hold are held at `i64::MAX`.
pub fn forecast(
    spend_micros: i64,
    budget_micros: i64,
    history: &DailyHistory,
    now: DateTime<Utc>,
    reset_time: Option<DateTime<Utc>>,
) -> Forecast {
    let rate = daily_rate(history, now);
    let millis_left = reset_time.map(|reset| reset.signed_duration_since(now).num_milliseconds());
    let days_left = millis_left.map_or(0.0, |ms| (ms as f64 / MILLIS_PER_DAY).max(0.0));
    // The spend itself stays exact; only the expected addition is a float.
    let projected = spend_micros.saturating_add(round_saturating(rate * days_left));
    Forecast {
        daily_rate_micros: round_saturating(rate),
        daily_rate: rate,
        projected_spend_micros: projected,
        exhaustion_time: reach_time(spend_micros, budget_micros, rate, now, reset_time),
    }
}

/// When spend, growing at `rate` micros a day from `spend_micros` at `now`, reaches
/// `amount_micros`; `None` unless that falls strictly between now and the reset (already
/// reached, no rate, no reset time, or at or after the reset).
pub fn reach_time(
    spend_micros: i64,
    amount_micros: i64,
    rate: f64,
    now: DateTime<Utc>,
    reset_time: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let left = reset_time?.signed_duration_since(now).num_milliseconds();
    let ahead = rate > 0.0 && spend_micros < amount_micros && left > 0;
    if !ahead {
        return None;
    }
    let remaining = i128::from(amount_micros).saturating_sub(i128::from(spend_micros));
    let millis = (remaining as f64 / rate * MILLIS_PER_DAY).round();
    // Compared as floats first, so only a moment before the reset becomes a date.
    (millis < left as f64)
        .then(|| TimeDelta::try_milliseconds(round_saturating(millis)))
        .flatten()
        .and_then(|until| now.checked_add_signed(until))
}

/// Milliseconds in a day, for fractional days.
const MILLIS_PER_DAY: f64 = 86_400_000.0;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    const USD: i64 = 1_000_000;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn days_back(spends: &[i64]) -> DailyHistory {
        // spends[0] is yesterday, spends[1] the day before, ...
        let today = now().date_naive();
        DailyHistory::from_days(spends.iter().enumerate().map(|(i, s)| {
            (
                today
                    .checked_sub_days(Days::new(i as u64 + 1))
                    .unwrap_or(NaiveDate::MIN),
                *s,
            )
        }))
    }

    #[test]
    fn the_story_example() {
        // $300 spent, 7 days of $20, 10 days to reset: projected $500; with $450 it runs out in 7.5 days.
        let history = days_back(&[20 * USD; 7]);
        let reset = now() + chrono::Duration::days(10);
        let f = forecast(300 * USD, 450 * USD, &history, now(), Some(reset));
        assert_eq!(f.daily_rate_micros, 20 * USD);
        assert_eq!(f.projected_spend_micros, 500 * USD);
        assert_eq!(
            f.exhaustion_time,
            Some(now() + chrono::Duration::hours(180))
        );
        // With a $600 budget it does not run out before the reset.
        assert_eq!(
            forecast(300 * USD, 600 * USD, &history, now(), Some(reset)).exhaustion_time,
            None
        );
    }

    #[test]
    fn flat_rising_empty_and_one_day() {
        let reset = now() + chrono::Duration::days(2);
        let flat = forecast(0, 100 * USD, &days_back(&[10 * USD; 7]), now(), Some(reset));
        assert_eq!(flat.projected_spend_micros, 20 * USD);

        let rising = days_back(&[70, 60, 50, 40, 30, 20, 10].map(|x| x * USD));
        assert_eq!(daily_rate(&rising, now()), 40.0 * USD as f64);

        let empty = forecast(
            5 * USD,
            100 * USD,
            &DailyHistory::default(),
            now(),
            Some(reset),
        );
        assert_eq!(
            empty,
            Forecast {
                daily_rate_micros: 0,
                daily_rate: 0.0,
                projected_spend_micros: 5 * USD,
                exhaustion_time: None
            }
        );

        // Spend began yesterday: only that day counts, not 7.
        let one_day = days_back(&[14 * USD]);
        assert_eq!(daily_rate(&one_day, now()), 14.0 * USD as f64);
        // Today's partial spend is never in the rate.
        let today_only = DailyHistory::from_days([(now().date_naive(), 50 * USD)]);
        assert_eq!(daily_rate(&today_only, now()), 0.0);
    }

    #[test]
    fn spend_older_than_the_window_does_not_shorten_it() {
        let mut spends = vec![0; 7];
        spends.push(100 * USD); // 8 days ago: outside the window, but spend began before it
        spends[0] = 7 * USD;
        assert_eq!(daily_rate(&days_back(&spends), now()), 1.0 * USD as f64);
    }

    #[test]
    fn already_over_budget_has_no_exhaustion_time() {
        let reset = now() + chrono::Duration::days(5);
        let f = forecast(
            120 * USD,
            100 * USD,
            &days_back(&[10 * USD; 7]),
            now(),
            Some(reset),
        );
        assert_eq!(f.exhaustion_time, None);
        assert_eq!(f.projected_spend_micros, 170 * USD);
    }
}
