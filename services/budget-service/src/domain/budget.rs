//! A tenant's budget settings, their validation, and the state bands derived from them.
//!
//! LiteLLM blocks a key at `spend >= max_budget`, so we give the key the *block amount*
//! (budget x grace %) as its max_budget. The tenant's own budget lives only with us.

use chrono::{DateTime, Utc};

use super::money::{MICROS_PER_USD, percent_of, reached_percent};

/// The largest budget a tenant may have: 10,000,000 USD.
pub const MAX_BUDGET_LIMIT_MICROS: i64 = 10_000_000 * MICROS_PER_USD;

/// The budget period, as LiteLLM's `budget_duration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetDuration {
    /// "30d": LiteLLM snaps it to the 1st of each month.
    Days30,
    /// "60d": today 00:00 UTC + 60 days.
    Days60,
    /// "90d": today 00:00 UTC + 90 days.
    Days90,
}

impl BudgetDuration {
    /// Parses LiteLLM's spelling; only the three periods we offer are accepted.
    pub fn parse(raw: &str) -> Option<BudgetDuration> {
        match raw {
            "30d" => Some(BudgetDuration::Days30),
            "60d" => Some(BudgetDuration::Days60),
            "90d" => Some(BudgetDuration::Days90),
            _ => None,
        }
    }

    /// LiteLLM's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetDuration::Days30 => "30d",
            BudgetDuration::Days60 => "60d",
            BudgetDuration::Days90 => "90d",
        }
    }
}

/// Settings exactly as a caller sent them, before validation.
#[derive(Clone, Debug, Default)]
pub struct RawSettings {
    pub max_budget_micros: i64,
    pub alert_threshold_percent: i32,
    pub grace_threshold_percent: i32,
    pub budget_duration: String,
}

/// Valid settings of one tenant's budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetSettings {
    pub max_budget_micros: i64,
    pub alert_threshold_percent: i32,
    pub grace_threshold_percent: i32,
    pub budget_duration: BudgetDuration,
}

/// One reason a request field is invalid, in the words shown to the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> FieldViolation {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl From<FieldViolation> for Vec<FieldViolation> {
    fn from(violation: FieldViolation) -> Vec<FieldViolation> {
        vec![violation]
    }
}

/// Whether `text` is at most `max_chars` characters without control characters: free text
/// we store, log and compare (PostgreSQL cannot compare text holding NUL).
pub fn is_short_text(text: &str, max_chars: usize) -> bool {
    text.chars().count() <= max_chars && !text.chars().any(char::is_control)
}

/// Every field violation of one request, collected so the caller hears of all at once, in
/// the order the fields were checked.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// The value of a check that passed; otherwise its violations are kept and `None`.
    pub fn take<T, V: Into<Vec<FieldViolation>>>(&mut self, checked: Result<T, V>) -> Option<T> {
        checked.map_err(|v| self.0.extend(v.into())).ok()
    }

    /// Keeps `violation` unless `ok`.
    pub fn require(&mut self, ok: bool, violation: impl FnOnce() -> FieldViolation) {
        if !ok {
            self.0.push(violation());
        }
    }

    /// `value` when every check passed, else every violation.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Vec<FieldViolation>> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(self.0),
        }
    }
}

pub const MSG_BUDGET_POSITIVE: &str = "Max budget must be greater than $0";
pub const MSG_BUDGET_TOO_LARGE: &str = "Max budget must be at most $10,000,000";
pub const MSG_ALERT_RANGE: &str = "Alert threshold must be between 50% and 100%";
pub const MSG_GRACE_RANGE: &str = "Grace threshold must be between 100% and 150%";
pub const MSG_DURATION: &str = "Budget period must be one of 30d, 60d, 90d";

impl RawSettings {
    /// Validates every field, reporting one violation per bad field. `prefix` names the
    /// message field the settings came in (e.g. "config").
    pub fn validate(&self, prefix: &str) -> Result<BudgetSettings, Vec<FieldViolation>> {
        let mut violations = Vec::new();
        let field = |name: &str| format!("{prefix}.{name}");
        if self.max_budget_micros <= 0 {
            violations.push(FieldViolation::new(
                field("max_budget_micros"),
                MSG_BUDGET_POSITIVE,
            ));
        } else if self.max_budget_micros > MAX_BUDGET_LIMIT_MICROS {
            violations.push(FieldViolation::new(
                field("max_budget_micros"),
                MSG_BUDGET_TOO_LARGE,
            ));
        }
        if !(50..=100).contains(&self.alert_threshold_percent) {
            violations.push(FieldViolation::new(
                field("alert_threshold_percent"),
                MSG_ALERT_RANGE,
            ));
        }
        if !(100..=150).contains(&self.grace_threshold_percent) {
            violations.push(FieldViolation::new(
                field("grace_threshold_percent"),
                MSG_GRACE_RANGE,
            ));
        }
        let duration = BudgetDuration::parse(&self.budget_duration);
        if duration.is_none() {
            violations.push(FieldViolation::new(field("budget_duration"), MSG_DURATION));
        }
        match duration {
            Some(budget_duration) if violations.is_empty() => Ok(BudgetSettings {
                max_budget_micros: self.max_budget_micros,
                alert_threshold_percent: self.alert_threshold_percent,
                grace_threshold_percent: self.grace_threshold_percent,
                budget_duration,
            }),
            _ => Err(violations),
        }
    }
}

impl BudgetSettings {
    /// The spend at which LiteLLM blocks the tenant: budget x grace / 100.
    /// This is the max_budget of the tenant's LiteLLM key.
    pub fn block_at_micros(&self) -> i64 {
        percent_of(self.max_budget_micros, self.grace_threshold_percent)
    }

    /// The spend at which admins are warned: budget x alert / 100.
    /// This is the soft_budget of the tenant's LiteLLM key.
    pub fn alert_at_micros(&self) -> i64 {
        percent_of(self.max_budget_micros, self.alert_threshold_percent)
    }

    /// Spend as a percentage of the budget.
    pub fn percent_used(&self, spend_micros: i64) -> f64 {
        spend_micros as f64 / self.max_budget_micros as f64 * 100.0
    }

    /// The band `spend_micros` falls in. Lower bounds are inclusive and compared in exact
    /// integer arithmetic, so a tenant at exactly the block amount is blocked, as in LiteLLM.
    pub fn state(&self, spend_micros: i64) -> BudgetState {
        let reached = |percent| reached_percent(spend_micros, self.max_budget_micros, percent);
        if reached(self.grace_threshold_percent) {
            BudgetState::Blocked
        } else if reached(100) {
            BudgetState::Grace
        } else if reached(self.alert_threshold_percent) {
            BudgetState::Warning
        } else {
            BudgetState::Ok
        }
    }
}

/// Where spend stands against the tenant's own thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetState {
    Ok,
    Warning,
    Grace,
    Blocked,
}

/// Whole days from `now` until `reset_time`, rounded up; 0 once it has passed.
pub fn days_until_reset(now: DateTime<Utc>, reset_time: DateTime<Utc>) -> i32 {
    let seconds = reset_time.signed_duration_since(now).num_seconds();
    if seconds <= 0 {
        return 0;
    }
    i32::try_from(seconds.saturating_add(86_399) / 86_400).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn settings(max_usd: i64, alert: i32, grace: i32) -> BudgetSettings {
        BudgetSettings {
            max_budget_micros: max_usd * MICROS_PER_USD,
            alert_threshold_percent: alert,
            grace_threshold_percent: grace,
            budget_duration: BudgetDuration::Days30,
        }
    }

    #[test]
    fn default_bands_at_every_boundary() {
        let s = settings(100, 80, 110);
        let cases = [
            (79_990_000, BudgetState::Ok),
            (80_000_000, BudgetState::Warning),
            (99_990_000, BudgetState::Warning),
            (100_000_000, BudgetState::Grace),
            (109_990_000, BudgetState::Grace),
            (110_000_000, BudgetState::Blocked),
            (500_000_000, BudgetState::Blocked),
            (0, BudgetState::Ok),
        ];
        for (spend, want) in cases {
            assert_eq!(s.state(spend), want, "spend {spend}");
        }
        // One micro below each bound stays in the band below.
        assert_eq!(s.state(79_999_999), BudgetState::Ok);
        assert_eq!(s.state(99_999_999), BudgetState::Warning);
        assert_eq!(s.state(109_999_999), BudgetState::Grace);
    }

    #[test]
    fn bands_follow_custom_thresholds() {
        let s = settings(200, 60, 125);
        assert_eq!(s.state(119_990_000), BudgetState::Ok);
        assert_eq!(s.state(120_000_000), BudgetState::Warning);
        assert_eq!(s.state(200_000_000), BudgetState::Grace);
        assert_eq!(s.state(249_990_000), BudgetState::Grace);
        assert_eq!(s.state(250_000_000), BudgetState::Blocked);
        // Grace 100 %: no grace band at all; at 100 % the tenant is blocked.
        let strict = settings(100, 100, 100);
        assert_eq!(strict.state(99_990_000), BudgetState::Ok);
        assert_eq!(strict.state(100_000_000), BudgetState::Blocked);
    }

    #[test]
    fn block_and_alert_amounts() {
        let s = settings(500, 80, 110);
        assert_eq!(s.block_at_micros(), 550_000_000);
        assert_eq!(s.alert_at_micros(), 400_000_000);
        let odd = BudgetSettings {
            max_budget_micros: 123_450_000,
            ..settings(1, 75, 133)
        };
        assert_eq!(odd.block_at_micros(), 164_188_500);
        assert_eq!(odd.alert_at_micros(), 92_587_500);
        assert!((s.percent_used(420_000_000) - 84.0).abs() < 1e-9);
    }

    fn raw(max: i64, alert: i32, grace: i32, duration: &str) -> RawSettings {
        RawSettings {
            max_budget_micros: max,
            alert_threshold_percent: alert,
            grace_threshold_percent: grace,
            budget_duration: duration.into(),
        }
    }

    #[test]
    fn each_validation_message_names_its_field() {
        let one = |r: RawSettings| r.validate("config").err().unwrap_or_default();
        assert_eq!(
            one(raw(0, 80, 110, "30d")),
            vec![FieldViolation::new(
                "config.max_budget_micros",
                MSG_BUDGET_POSITIVE
            )]
        );
        assert_eq!(
            one(raw(-5, 80, 110, "30d")),
            vec![FieldViolation::new(
                "config.max_budget_micros",
                MSG_BUDGET_POSITIVE
            )]
        );
        assert_eq!(
            one(raw(MAX_BUDGET_LIMIT_MICROS + 1, 80, 110, "30d")),
            vec![FieldViolation::new(
                "config.max_budget_micros",
                MSG_BUDGET_TOO_LARGE
            )]
        );
        for alert in [49, 101, 0, i32::MIN] {
            assert_eq!(
                one(raw(1, alert, 110, "30d")),
                vec![FieldViolation::new(
                    "config.alert_threshold_percent",
                    MSG_ALERT_RANGE
                )]
            );
        }
        for grace in [99, 151, i32::MAX] {
            assert_eq!(
                one(raw(1, 80, grace, "30d")),
                vec![FieldViolation::new(
                    "config.grace_threshold_percent",
                    MSG_GRACE_RANGE
                )]
            );
        }
        for duration in ["", "7d", "30", "monthly", "30D"] {
            assert_eq!(
                one(raw(1, 80, 110, duration)),
                vec![FieldViolation::new("config.budget_duration", MSG_DURATION)]
            );
        }
        assert_eq!(one(raw(0, 10, 10, "x")).len(), 4);
    }

    #[test]
    fn accepts_the_edges_of_every_range() {
        for r in [
            raw(1, 50, 100, "30d"),
            raw(MAX_BUDGET_LIMIT_MICROS, 100, 150, "60d"),
            raw(10_000, 80, 110, "90d"),
        ] {
            assert!(r.validate("config").is_ok(), "{r:?}");
        }
    }

    #[test]
    fn days_until_reset_rounds_up_and_stops_at_zero() {
        let at = |d, h| {
            Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0)
                .single()
                .unwrap_or_default()
        };
        let reset = Utc
            .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(days_until_reset(at(28, 15), reset), 3);
        assert_eq!(days_until_reset(at(28, 0), reset), 3);
        assert_eq!(days_until_reset(at(30, 23), reset), 1);
        assert_eq!(days_until_reset(reset, reset), 0);
        assert_eq!(
            days_until_reset(reset + chrono::Duration::days(2), reset),
            0
        );
    }
}
