//! `get_projected_spend_over_limit`: when a key's spend, at its rate so far, passes its soft
//! budget (see the `webhooks` module docs).

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

fn last_day_of_month(day: NaiveDate) -> NaiveDate {
    let (year, month) = if day.month() == 12 {
        (day.year() + 1, 1)
    } else {
        (day.year(), day.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|first| first.pred_opt())
        .unwrap_or(day)
}

/// Seconds, with Python `timedelta.total_seconds()`'s microsecond precision.
fn seconds(span: Duration) -> f64 {
    span.num_microseconds()
        .map_or(f64::MAX, |us| us as f64 / 1e6)
}

/// `get_projected_spend_over_limit`: the projected spend and the UTC date it passes
/// `soft_budget`, when it does; within the budget window (start, end) when there is one, else
/// to the end of the month (see the module docs).
pub(crate) fn projection(
    spend: f64,
    soft_budget: f64,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Option<(f64, NaiveDate)> {
    match window {
        Some(window) => project_within_window(spend, soft_budget, window, now),
        None => project_to_month_end(spend, soft_budget, now.date_naive()),
    }
}

/// `_project_within_window`.
fn project_within_window(
    spend: f64,
    soft_budget: f64,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Option<(f64, NaiveDate)> {
    if now < start {
        return None;
    }
    // MIN_ELAPSED_WINDOW_FRACTION = 1/24 of the window.
    let elapsed = seconds(now - start).max(seconds(end - start) / 24.0);
    let remaining = seconds(end - now).max(0.0);
    let rate = spend / elapsed;
    let projected = spend + rate * remaining;
    if projected <= soft_budget {
        return None;
    }
    let remaining_budget = soft_budget - spend;
    if rate <= 0.0 || remaining_budget <= 0.0 {
        return Some((projected, now.date_naive()));
    }
    let until = remaining_budget / rate;
    let exceed_at = if until >= remaining {
        end
    } else {
        // `timedelta(seconds=...)` rounds to the microsecond.
        now.checked_add_signed(Duration::microseconds((until * 1e6).round() as i64))
            .map_or(end, |at| at.min(end))
    };
    Some((projected, exceed_at.date_naive()))
}

/// `_project_to_month_end`.
fn project_to_month_end(
    spend: f64,
    soft_budget: f64,
    today: NaiveDate,
) -> Option<(f64, NaiveDate)> {
    let remaining_days = (last_day_of_month(today) - today).num_days() as f64;
    let daily = spend / f64::from(today.day().saturating_sub(1).max(1));
    let projected = spend + daily * remaining_days;
    if projected <= soft_budget {
        return None;
    }
    let remaining_budget = soft_budget - spend;
    let date = if daily <= 0.0 || remaining_budget <= 0.0 {
        today
    } else {
        // `date + timedelta(days=x)` keeps whole days only.
        let days = (remaining_budget / daily).floor();
        if days.is_finite() && days < 1e6 {
            today + Duration::days(days as i64)
        } else {
            today
        }
    };
    Some((projected, date))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::periods;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn projection_to_month_end_matches_litellm_utils() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let at = |d: u32| utc(&format!("2026-11-{d:02}T12:00:00Z"));
        // 40 over 10 days = 4/day, 19 days left in November: 40 + 76 = 116 > 100, passes 100
        // after 60 / 4 = 15 more days.
        assert_eq!(
            projection(40.0, 100.0, None, at(11)),
            Some((116.0, day(26)))
        );
        assert_eq!(projection(10.0, 100.0, None, at(11)), None);
        // On the 1st and the 2nd the whole spend is the daily rate.
        assert_eq!(projection(5.0, 100.0, None, at(1)), Some((150.0, day(20))));
        // Already over: today.
        assert_eq!(
            projection(120.0, 100.0, None, at(11)),
            Some((348.0, day(11)))
        );
        let dec = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        assert_eq!(last_day_of_month(dec), dec);
    }

    /// The three projections the real proxy 1.108.7 sent on 2026-12-03 for a key with soft
    /// budget 0.08 after its first 0.05 call (captured from its webhooks).
    #[test]
    fn projections_match_the_real_proxy() {
        let dec = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let window = |duration: &str, end: &str| {
            let end = utc(end);
            Some((periods::window_start(duration, end).unwrap(), end))
        };
        // budget_duration 30d: the window is December.
        let (spend, date) = projection(
            0.05,
            0.08,
            window("30d", "2027-01-01T00:00:00Z"),
            utc("2026-12-03T08:13:30Z"),
        )
        .unwrap();
        assert!((spend - 0.661_624_263_358_864_4).abs() < 1e-5, "{spend}");
        assert_eq!(date, dec(4));
        // No budget_duration: to the end of the month.
        let (spend, date) = projection(0.05, 0.08, None, utc("2026-12-03T08:13:37Z")).unwrap();
        assert!((spend - 0.75).abs() < 1e-12, "{spend}");
        assert_eq!(date, dec(4));
        // budget_duration 1h.
        let (spend, date) = projection(
            0.05,
            0.08,
            window("1h", "2026-12-03T09:00:00Z"),
            utc("2026-12-03T08:13:43Z"),
        )
        .unwrap();
        assert!((spend - 0.218_642_382_928_525_17).abs() < 1e-4, "{spend}");
        assert_eq!(date, dec(3));
        // Early in a window, elapsed counts as at least 1/24 of it.
        let (spend, _) = projection(
            0.01,
            0.08,
            window("1h", "2026-12-03T09:00:00Z"),
            utc("2026-12-03T08:00:01Z"),
        )
        .unwrap();
        assert!(
            (spend - 0.01 * 24.0 * 3599.0 / 3600.0 - 0.01).abs() < 1e-9,
            "{spend}"
        );
        // Before the window starts (a reset_at further away than one period): nothing.
        assert_eq!(
            projection(
                0.05,
                0.08,
                window("1h", "2026-12-03T12:00:00Z"),
                utc("2026-12-03T08:30:00Z")
            ),
            None
        );
    }
}
