//! Temporary budget increases: validation, and the effective budget while one is in force.
//!
//! While an increase lasts, the tenant's effective budget is its usual budget plus the
//! amount; block and alert amounts, percentages and bands all follow the effective budget.

use chrono::{DateTime, Duration, Utc};

use super::budget::{BudgetSettings, FieldViolation, MAX_BUDGET_LIMIT_MICROS, is_short_text};

/// How far ahead an increase may end.
pub const MAX_INCREASE_DAYS: i64 = 90;
/// The longest reason, in characters.
pub const MAX_REASON_CHARS: usize = 200;

pub const MSG_AMOUNT_POSITIVE: &str = "Amount must be greater than $0";
pub const MSG_AMOUNT_TOO_LARGE: &str = "Amount must be at most $10,000,000";
pub const MSG_EXPIRY_REQUIRED: &str = "Expiry time is required";
pub const MSG_EXPIRY_PAST: &str = "Expiry time must be in the future";
pub const MSG_EXPIRY_TOO_FAR: &str = "Expiry time must be at most 90 days ahead";
pub const MSG_REASON_REQUIRED: &str = "Reason is required";
pub const MSG_REASON_TOO_LONG: &str =
    "Reason must be at most 200 characters, without control characters";

/// An increase as a caller sent it.
#[derive(Clone, Debug, Default)]
pub struct RawIncrease {
    pub amount_micros: i64,
    pub expire_time: Option<DateTime<Utc>>,
    pub reason: String,
}

/// A valid temporary increase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemporaryIncrease {
    pub amount_micros: i64,
    pub expire_time: DateTime<Utc>,
    pub reason: String,
}

impl RawIncrease {
    /// Validates every field at `now`, one violation per bad field.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<TemporaryIncrease, Vec<FieldViolation>> {
        let mut violations = Vec::new();
        if self.amount_micros <= 0 {
            violations.push(FieldViolation::new("amount_micros", MSG_AMOUNT_POSITIVE));
        } else if self.amount_micros > MAX_BUDGET_LIMIT_MICROS {
            violations.push(FieldViolation::new("amount_micros", MSG_AMOUNT_TOO_LARGE));
        }
        match self.expire_time {
            None => violations.push(FieldViolation::new("expire_time", MSG_EXPIRY_REQUIRED)),
            Some(at) if at <= now => {
                violations.push(FieldViolation::new("expire_time", MSG_EXPIRY_PAST));
            }
            Some(at)
                if now
                    .checked_add_signed(Duration::days(MAX_INCREASE_DAYS))
                    .is_some_and(|latest| at > latest) =>
            {
                violations.push(FieldViolation::new("expire_time", MSG_EXPIRY_TOO_FAR));
            }
            Some(_) => {}
        }
        let reason = self.reason.trim();
        if reason.is_empty() {
            violations.push(FieldViolation::new("reason", MSG_REASON_REQUIRED));
        } else if !is_short_text(reason, MAX_REASON_CHARS) {
            violations.push(FieldViolation::new("reason", MSG_REASON_TOO_LONG));
        }
        match self.expire_time {
            Some(expire_time) if violations.is_empty() => Ok(TemporaryIncrease {
                amount_micros: self.amount_micros,
                expire_time,
                reason: reason.to_owned(),
            }),
            _ => Err(violations),
        }
    }
}

impl TemporaryIncrease {
    /// Whether the increase still applies at `now` (it ends at its expiry time).
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        now < self.expire_time
    }

    /// The settings with this increase added to the budget.
    pub fn apply(&self, base: &BudgetSettings) -> BudgetSettings {
        BudgetSettings {
            max_budget_micros: base.max_budget_micros.saturating_add(self.amount_micros),
            ..*base
        }
    }
}

/// The settings in force at `now`: the base plus the increase while it lasts.
pub fn effective_settings(
    base: &BudgetSettings,
    increase: Option<&TemporaryIncrease>,
    now: DateTime<Utc>,
) -> BudgetSettings {
    match increase {
        Some(increase) if increase.in_force(now) => increase.apply(base),
        _ => *base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::BudgetDuration;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn raw(amount: i64, expire: Option<DateTime<Utc>>, reason: &str) -> RawIncrease {
        RawIncrease {
            amount_micros: amount,
            expire_time: expire,
            reason: reason.into(),
        }
    }

    #[test]
    fn validates_each_field() {
        let ok = raw(200_000_000, Some(now() + Duration::days(7)), " launch ");
        let valid = ok.validate(now()).unwrap_or_else(|_| unreachable!());
        assert_eq!(valid.reason, "launch");
        let fields = |r: RawIncrease| -> Vec<(String, String)> {
            r.validate(now())
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        };
        let week = Some(now() + Duration::days(7));
        assert_eq!(
            fields(raw(0, week, "x")),
            vec![("amount_micros".into(), MSG_AMOUNT_POSITIVE.into())]
        );
        assert_eq!(
            fields(raw(MAX_BUDGET_LIMIT_MICROS + 1, week, "x")),
            vec![("amount_micros".into(), MSG_AMOUNT_TOO_LARGE.into())]
        );
        assert!(
            raw(MAX_BUDGET_LIMIT_MICROS, week, "x")
                .validate(now())
                .is_ok()
        );
        assert_eq!(
            fields(raw(1, None, "x")),
            vec![("expire_time".into(), MSG_EXPIRY_REQUIRED.into())]
        );
        assert_eq!(
            fields(raw(1, Some(now()), "x")),
            vec![("expire_time".into(), MSG_EXPIRY_PAST.into())]
        );
        assert_eq!(
            fields(raw(
                1,
                Some(now() + Duration::days(90) + Duration::seconds(1)),
                "x"
            )),
            vec![("expire_time".into(), MSG_EXPIRY_TOO_FAR.into())]
        );
        assert!(
            raw(1, Some(now() + Duration::days(90)), "x")
                .validate(now())
                .is_ok()
        );
        assert_eq!(
            fields(raw(1, week, "  ")),
            vec![("reason".into(), MSG_REASON_REQUIRED.into())]
        );
        assert_eq!(
            fields(raw(1, week, &"r".repeat(201))),
            vec![("reason".into(), MSG_REASON_TOO_LONG.into())]
        );
        assert!(raw(1, week, &"r".repeat(200)).validate(now()).is_ok());
        assert_eq!(fields(raw(-1, None, "")).len(), 3);
    }

    #[test]
    fn effective_budget_lasts_until_the_expiry() {
        let base = BudgetSettings {
            max_budget_micros: 500_000_000,
            alert_threshold_percent: 80,
            grace_threshold_percent: 110,
            budget_duration: BudgetDuration::Days30,
        };
        let increase = TemporaryIncrease {
            amount_micros: 200_000_000,
            expire_time: now() + Duration::hours(1),
            reason: "launch".into(),
        };
        let during = effective_settings(&base, Some(&increase), now());
        assert_eq!(during.max_budget_micros, 700_000_000);
        assert_eq!(during.block_at_micros(), 770_000_000);
        assert_eq!(during.alert_at_micros(), 560_000_000);
        let after = effective_settings(&base, Some(&increase), increase.expire_time);
        assert_eq!(after, base);
        assert_eq!(effective_settings(&base, None, now()), base);
    }
}
