//! `budget_duration` and `duration` parsing, and the snapped `budget_reset_at` arithmetic of
//! LiteLLM's `duration_parser.py` (`duration_in_seconds`, `get_next_standardized_reset_time`),
//! in UTC with the default reset time of day 00:00.
//!
//! Every function takes `now` as a parameter so the arithmetic is testable on its own.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};

/// The unit of a duration string such as `30d` or `1mo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
}

/// A parsed duration: a count and a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub value: u64,
    pub unit: Unit,
}

/// `_normalize_duration`: the aliases `hourly`, `daily`, `weekly` and `monthly`, matched after
/// trimming and lowercasing; any other text is kept exactly as sent (so `" 30d"`, with its
/// leading space, is not a duration).
pub fn normalize(duration: &str) -> &str {
    match duration.trim().to_ascii_lowercase().as_str() {
        "hourly" => "1h",
        "daily" => "24h",
        "weekly" => "7d",
        "monthly" => "30d",
        _ => duration,
    }
}

/// `_extract_from_regex`: `re.match(r"(\d+)(mo|[smhdw]?)", ...)` (anchored at the start only),
/// then the unit checks of `duration_in_seconds`. A missing unit is an error there.
pub fn parse(duration: &str) -> Option<Period> {
    let text = normalize(duration);
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits_end == 0 {
        return None;
    }
    let value: u64 = text[..digits_end].parse().ok()?;
    let rest = &text[digits_end..];
    let unit = if rest.starts_with("mo") {
        Unit::Months
    } else {
        match rest.chars().next() {
            Some('s') => Unit::Seconds,
            Some('m') => Unit::Minutes,
            Some('h') => Unit::Hours,
            Some('d') => Unit::Days,
            Some('w') => Unit::Weeks,
            _ => return None,
        }
    };
    Some(Period { value, unit })
}

/// `duration_in_seconds`; `Nmo` counts calendar months from `now`.
pub fn duration_in_seconds(period: Period, now: DateTime<Utc>) -> Option<i64> {
    let value = i64::try_from(period.value).ok()?;
    match period.unit {
        Unit::Seconds => Some(value),
        Unit::Minutes => value.checked_mul(60),
        Unit::Hours => value.checked_mul(3600),
        Unit::Days => value.checked_mul(86_400),
        Unit::Weeks => value.checked_mul(604_800),
        Unit::Months => {
            let months = u32::try_from(period.value).ok()?;
            let then = now.checked_add_months(Months::new(months))?;
            Some((then - now).num_seconds())
        }
    }
}

/// The message LiteLLM's `validate_budget_duration` answers with (400).
pub fn invalid_budget_duration_message(duration: &str) -> String {
    format!("Invalid budget_duration '{duration}'. Use a format like '1h', '24h', '7d', or '30d'.")
}

/// `validate_budget_duration`: parseable, positive, and a reset time can be computed
/// (`Nmo` resets only support `1mo`).
pub fn validate_budget_duration(duration: &str, now: DateTime<Utc>) -> Result<Period, String> {
    let invalid = || invalid_budget_duration_message(duration);
    let period = parse(duration).ok_or_else(invalid)?;
    match duration_in_seconds(period, now) {
        Some(seconds) if seconds > 0 => {}
        _ => return Err(invalid()),
    }
    if period.unit == Unit::Months && period.value != 1 {
        return Err(invalid());
    }
    next_reset_checked(duration, now).ok_or_else(invalid)?;
    Ok(period)
}

/// `get_budget_reset_time(budget_duration)`: the end of the current budget window, snapped to
/// calendar boundaries in UTC.
///
/// | duration | next reset |
/// |---|---|
/// | `1d` / `24h` / `daily` | next midnight |
/// | `7d` / `1w` / `weekly` | next Monday 00:00 |
/// | `30d` / `1mo` / `monthly` | 1st of next month 00:00 |
/// | other `Nd` (and `Nw` = `7N d`) | today 00:00 + N days |
/// | `Nh` / `Nm` / `Ns` | next multiple of N on the clock |
/// | unparseable | next midnight |
pub fn next_reset(duration: &str, now: DateTime<Utc>) -> DateTime<Utc> {
    next_reset_checked(duration, now).unwrap_or_else(|| midnight(now) + Duration::days(1))
}

/// `_parse_duration`: `re.match(r"(\d+)([a-z]+)", text)`, as (digits, unit); any lowercase
/// unit matches (unknown ones are handled by the callers).
fn reset_unit(text: &str) -> Option<(&str, &str)> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let unit_end = text[digits_end..]
        .find(|c: char| !c.is_ascii_lowercase())
        .map_or(text.len(), |i| digits_end + i);
    if digits_end == 0 || unit_end == digits_end {
        return None;
    }
    Some((&text[..digits_end], &text[digits_end..unit_end]))
}

fn next_reset_checked(duration: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let base_midnight = midnight(now);
    let Some((digits, unit)) = reset_unit(normalize(duration)) else {
        return Some(base_midnight + Duration::days(1));
    };
    let value: u64 = digits.parse().ok()?;
    match unit {
        "d" => day_reset(now, base_midnight, value),
        "w" => day_reset(now, base_midnight, value.checked_mul(7)?),
        "h" => clock_reset(now, base_midnight, value, 3600),
        "m" => clock_reset(now, base_midnight, value, 60),
        "s" => clock_reset(now, base_midnight, value, 1),
        "mo" => {
            if value != 1 {
                return None;
            }
            first_of_next_month(now)
        }
        _ => Some(base_midnight + Duration::days(1)),
    }
}

/// `get_budget_window_start`: when the budget window that ends at `reset_at` began, under the
/// rules that chose `reset_at`: `30d` and `Nmo` windows span calendar months, an unrecognised
/// duration one day. `None` when the arithmetic overflows.
pub fn window_start(duration: &str, reset_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let Some((digits, unit)) = reset_unit(normalize(duration)) else {
        return reset_at.checked_sub_signed(Duration::days(1));
    };
    let value: i64 = digits.parse().ok()?;
    let back = match unit {
        "mo" => return shift_months(reset_at, value.checked_neg()?),
        "d" if value == 30 => return shift_months(reset_at, -1),
        "d" => Duration::try_days(value)?,
        "w" => Duration::try_weeks(value)?,
        "h" => Duration::try_hours(value)?,
        "m" => Duration::try_minutes(value)?,
        "s" => Duration::try_seconds(value)?,
        _ => Duration::days(1),
    };
    reset_at.checked_sub_signed(back)
}

/// `_shift_months`: `moment` moved by whole calendar months, the day clamped to the target
/// month's last day.
fn shift_months(moment: DateTime<Utc>, months: i64) -> Option<DateTime<Utc>> {
    let total = i64::from(moment.year())
        .checked_mul(12)?
        .checked_add(i64::from(moment.month0()))?
        .checked_add(months)?;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = u32::try_from(total.rem_euclid(12)).ok()? + 1;
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let last_day = first.checked_add_months(Months::new(1))?.pred_opt()?.day();
    let date = NaiveDate::from_ymd_opt(year, month, moment.day().min(last_day))?;
    Some(Utc.from_utc_datetime(&date.and_time(moment.time())))
}

fn midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.from_utc_datetime(&now.date_naive().and_time(NaiveTime::MIN))
}

fn first_of_next_month(now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    let date = NaiveDate::from_ymd_opt(year, month, 1)?;
    Some(Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)))
}

/// `_handle_day_reset`.
fn day_reset(now: DateTime<Utc>, base_midnight: DateTime<Utc>, days: u64) -> Option<DateTime<Utc>> {
    match days {
        0 => Some(now),
        1 => Some(base_midnight + Duration::days(1)),
        7 => {
            let weekday = i64::from(now.weekday().num_days_from_monday());
            let mut until_monday = (7 - weekday) % 7;
            if until_monday == 0 {
                until_monday = 7;
            }
            Some(base_midnight + Duration::days(until_monday))
        }
        30 => first_of_next_month(now),
        n => base_midnight.checked_add_signed(Duration::try_days(i64::try_from(n).ok()?)?),
    }
}

/// `_handle_hour_reset` / `_handle_minute_reset` / `_handle_second_reset`: the next multiple of
/// `value` of the unit on the clock; past the end of the day it wraps onto the next day the way
/// LiteLLM's code does (`next % 24` hours and so on).
fn clock_reset(
    now: DateTime<Utc>,
    base_midnight: DateTime<Utc>,
    value: u64,
    unit_seconds: u64,
) -> Option<DateTime<Utc>> {
    if value == 0 {
        return Some(now);
    }
    let (h, m, s) = (
        u64::from(now.hour()),
        u64::from(now.minute()),
        u64::from(now.second()),
    );
    let current = match unit_seconds {
        3600 => h,
        60 => m,
        _ => s,
    };
    let next = current.checked_add(value)?.checked_sub(current % value)?;
    // Carry the overflow of the unit into the larger units, as the Python code does.
    let (hour, minute, second) = match unit_seconds {
        3600 => (next, 0, 0),
        60 => (h + next / 60, next % 60, 0),
        _ => {
            let minute = m + next / 60;
            (h + minute / 60, minute % 60, next % 60)
        }
    };
    let time_of_day = |hour: u64| -> Option<Duration> {
        let secs = hour.checked_mul(3600)?.checked_add(minute * 60 + second)?;
        Duration::try_seconds(i64::try_from(secs).ok()?)
    };
    if hour >= 24 {
        Some(base_midnight + Duration::days(1) + time_of_day(hour % 24)?)
    } else {
        Some(base_midnight + time_of_day(hour)?)
    }
}
