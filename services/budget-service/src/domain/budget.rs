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
        let violations = self.violations(prefix, SettingFields::ALL);
        match BudgetDuration::parse(&self.budget_duration) {
            Some(budget_duration) if violations.is_empty() => Ok(BudgetSettings {
                max_budget_micros: self.max_budget_micros,
                alert_threshold_percent: self.alert_threshold_percent,
                grace_threshold_percent: self.grace_threshold_percent,
                budget_duration,
            }),
            _ => Err(violations),
        }
    }

    /// One violation per bad field among `fields`; the others are not looked at. Each field
    /// is checked on its own, so valid `fields` merged onto valid settings are valid.
    pub fn violations(&self, prefix: &str, fields: SettingFields) -> Vec<FieldViolation> {
        let mut violations = Vec::new();
        let mut check = |field: SettingField, ok: bool, message: &str| {
            if fields.contains(field) && !ok {
                violations.push(FieldViolation::new(
                    format!("{prefix}.{}", field.name()),
                    message,
                ));
            }
        };
        let budget = self.max_budget_micros;
        check(SettingField::MaxBudget, budget > 0, MSG_BUDGET_POSITIVE);
        check(
            SettingField::MaxBudget,
            budget <= MAX_BUDGET_LIMIT_MICROS,
            MSG_BUDGET_TOO_LARGE,
        );
        check(
            SettingField::AlertThreshold,
            (50..=100).contains(&self.alert_threshold_percent),
            MSG_ALERT_RANGE,
        );
        check(
            SettingField::GraceThreshold,
            (100..=150).contains(&self.grace_threshold_percent),
            MSG_GRACE_RANGE,
        );
        check(
            SettingField::BudgetDuration,
            BudgetDuration::parse(&self.budget_duration).is_some(),
            MSG_DURATION,
        );
        violations
    }

    /// These settings in `fields`, `current`'s everywhere else.
    pub fn merged_onto(&self, current: &BudgetSettings, fields: SettingFields) -> RawSettings {
        let pick = |field| fields.contains(field);
        RawSettings {
            max_budget_micros: if pick(SettingField::MaxBudget) {
                self.max_budget_micros
            } else {
                current.max_budget_micros
            },
            alert_threshold_percent: if pick(SettingField::AlertThreshold) {
                self.alert_threshold_percent
            } else {
                current.alert_threshold_percent
            },
            grace_threshold_percent: if pick(SettingField::GraceThreshold) {
                self.grace_threshold_percent
            } else {
                current.grace_threshold_percent
            },
            budget_duration: if pick(SettingField::BudgetDuration) {
                self.budget_duration.clone()
            } else {
                current.budget_duration.as_str().to_owned()
            },
        }
    }
}

/// One of the settings an update may replace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingField {
    MaxBudget,
    AlertThreshold,
    GraceThreshold,
    BudgetDuration,
}

impl SettingField {
    pub const ALL: [SettingField; 4] = [
        SettingField::MaxBudget,
        SettingField::AlertThreshold,
        SettingField::GraceThreshold,
        SettingField::BudgetDuration,
    ];

    /// The field's name in the API's settings message, as an update mask names it.
    pub fn name(self) -> &'static str {
        match self {
            SettingField::MaxBudget => "max_budget_micros",
            SettingField::AlertThreshold => "alert_threshold_percent",
            SettingField::GraceThreshold => "grace_threshold_percent",
            SettingField::BudgetDuration => "budget_duration",
        }
    }

    fn from_name(name: &str) -> Option<SettingField> {
        SettingField::ALL
            .into_iter()
            .find(|field| field.name() == name)
    }
}

/// Which settings an update replaces; the others keep their stored values (AIP-134).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingFields {
    max_budget: bool,
    alert_threshold: bool,
    grace_threshold: bool,
    budget_duration: bool,
}

impl SettingFields {
    /// Every setting: a whole replacement.
    pub const ALL: SettingFields = SettingFields {
        max_budget: true,
        alert_threshold: true,
        grace_threshold: true,
        budget_duration: true,
    };

    const NONE: SettingFields = SettingFields {
        max_budget: false,
        alert_threshold: false,
        grace_threshold: false,
        budget_duration: false,
    };

    pub fn contains(self, field: SettingField) -> bool {
        match field {
            SettingField::MaxBudget => self.max_budget,
            SettingField::AlertThreshold => self.alert_threshold,
            SettingField::GraceThreshold => self.grace_threshold,
            SettingField::BudgetDuration => self.budget_duration,
        }
    }

    fn with(mut self, field: SettingField) -> SettingFields {
        match field {
            SettingField::MaxBudget => self.max_budget = true,
            SettingField::AlertThreshold => self.alert_threshold = true,
            SettingField::GraceThreshold => self.grace_threshold = true,
            SettingField::BudgetDuration => self.budget_duration = true,
        }
        self
    }

    /// The settings an update mask's `paths` name. No mask, an empty one or "*" alone mean
    /// every setting, as before masks existed; `field` names the mask in a violation.
    pub fn from_mask(
        paths: Option<&[String]>,
        field: &str,
    ) -> Result<SettingFields, FieldViolation> {
        let paths = match paths {
            None | Some([]) => return Ok(SettingFields::ALL),
            Some([only]) if only == "*" => return Ok(SettingFields::ALL),
            Some(paths) => paths,
        };
        paths.iter().try_fold(SettingFields::NONE, |fields, path| {
            SettingField::from_name(path)
                .map(|setting| fields.with(setting))
                .ok_or_else(|| {
                    FieldViolation::new(
                        field,
                        format!(
                            "Unknown setting \"{path}\"; name one or more of max_budget_micros, \
                             alert_threshold_percent, grace_threshold_percent, budget_duration, or \"*\" alone"
                        ),
                    )
                })
        })
    }
}

/// An UpdateBudgetConfig exactly as the caller sent it, before validation.
#[derive(Clone, Debug, Default)]
pub struct RawConfigUpdate {
    /// The new settings (`config`).
    pub settings: RawSettings,
    /// The update mask's paths; `None` when the caller sent no mask.
    pub update_mask: Option<Vec<String>>,
    /// The request's own etag.
    pub etag: String,
    /// The etag inside `config`, where AIP-154 puts it.
    pub config_etag: String,
}

/// A checked update: which settings it replaces, with what, and the etag they must match.
#[derive(Clone, Debug)]
pub struct ConfigUpdate {
    settings: RawSettings,
    fields: SettingFields,
    /// The etag the caller last read; `None`: no check.
    pub etag: Option<String>,
}

impl RawConfigUpdate {
    /// Checks the mask, the etags (the request's wins; both set must agree) and the settings
    /// the mask names, reporting every violation at once.
    pub fn validate(&self) -> Result<ConfigUpdate, Vec<FieldViolation>> {
        let mut violations = Violations::default();
        let fields = violations.take(SettingFields::from_mask(
            self.update_mask.as_deref(),
            "update_mask",
        ));
        let etag = violations.take(match (self.etag.as_str(), self.config_etag.as_str()) {
            ("", "") => Ok(None),
            (etag, "") | ("", etag) => Ok(Some(etag.to_owned())),
            (request, config) if request == config => Ok(Some(request.to_owned())),
            _ => Err(FieldViolation::new(
                "etag",
                "The request's etag and config.etag differ; send one of them, or the same in both",
            )),
        });
        if let Some(fields) = fields {
            violations.take(match self.settings.violations("config", fields) {
                found if found.is_empty() => Ok(()),
                found => Err(found),
            });
        }
        violations.finish(fields.zip(etag).map(|(fields, etag)| ConfigUpdate {
            settings: self.settings.clone(),
            fields,
            etag,
        }))
    }
}

impl ConfigUpdate {
    /// The settings after this update of `current`: the named ones replaced, the rest kept.
    pub fn applied_to(
        &self,
        current: &BudgetSettings,
    ) -> Result<BudgetSettings, Vec<FieldViolation>> {
        self.settings
            .merged_onto(current, self.fields)
            .validate("config")
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

    fn update(mask: Option<&[&str]>, etag: &str, config_etag: &str) -> RawConfigUpdate {
        RawConfigUpdate {
            settings: raw(0, 0, 0, ""),
            update_mask: mask.map(|paths| paths.iter().map(|p| p.to_string()).collect()),
            etag: etag.into(),
            config_etag: config_etag.into(),
        }
    }

    #[test]
    fn no_mask_an_empty_one_or_a_star_replace_every_setting() {
        for mask in [None, Some(&[][..]), Some(&["*"][..])] {
            let fields = SettingFields::from_mask(
                mask.map(|paths: &[&str]| paths.iter().map(|p| p.to_string()).collect::<Vec<_>>())
                    .as_deref(),
                "update_mask",
            );
            assert_eq!(fields, Ok(SettingFields::ALL), "{mask:?}");
        }
    }

    #[test]
    fn a_mask_names_settings_by_their_api_field_names() {
        let paths = vec![
            "grace_threshold_percent".to_owned(),
            "budget_duration".to_owned(),
        ];
        let fields = SettingFields::from_mask(Some(&paths), "update_mask").unwrap();
        assert!(!fields.contains(SettingField::MaxBudget));
        assert!(!fields.contains(SettingField::AlertThreshold));
        assert!(fields.contains(SettingField::GraceThreshold));
        assert!(fields.contains(SettingField::BudgetDuration));
        for field in SettingField::ALL {
            let one = SettingFields::from_mask(Some(&[field.name().to_owned()]), "m").unwrap();
            assert!(
                SettingField::ALL
                    .iter()
                    .all(|f| one.contains(*f) == (*f == field))
            );
        }
    }

    #[test]
    fn an_unknown_path_or_a_star_among_others_names_the_mask() {
        for paths in [
            &["etag"][..],
            &["max_budget"],
            &["budget_duration", "*"],
            &["config.budget_duration"],
        ] {
            let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
            let violation = SettingFields::from_mask(Some(&paths), "update_mask").unwrap_err();
            assert_eq!(violation.field, "update_mask");
        }
    }

    #[test]
    fn a_masked_update_checks_and_replaces_only_the_named_settings() {
        let current = settings(100, 80, 110);
        let mut partial = update(Some(&["alert_threshold_percent"]), "", "");
        partial.settings.alert_threshold_percent = 60;
        let checked = partial.validate().unwrap();
        assert_eq!(
            checked.applied_to(&current),
            Ok(BudgetSettings {
                alert_threshold_percent: 60,
                ..current
            })
        );
        partial.settings.alert_threshold_percent = 40;
        assert_eq!(
            partial.validate().unwrap_err(),
            vec![FieldViolation::new(
                "config.alert_threshold_percent",
                MSG_ALERT_RANGE
            )]
        );
    }

    #[test]
    fn without_a_mask_every_setting_is_checked_and_replaced() {
        let whole = update(None, "", "");
        assert_eq!(whole.validate().unwrap_err().len(), 4);
        let whole = RawConfigUpdate {
            settings: raw(5, 90, 120, "60d"),
            ..whole
        };
        let replaced = whole
            .validate()
            .unwrap()
            .applied_to(&settings(100, 80, 110));
        assert_eq!(replaced, raw(5, 90, 120, "60d").validate("config"));
    }

    #[test]
    fn the_etag_comes_from_the_request_or_else_from_the_config() {
        let etag = |request: &str, config: &str| {
            RawConfigUpdate {
                settings: raw(1, 80, 110, "30d"),
                ..update(None, request, config)
            }
            .validate()
            .map(|checked| checked.etag)
        };
        assert_eq!(etag("", ""), Ok(None));
        assert_eq!(etag("a", ""), Ok(Some("a".to_owned())));
        assert_eq!(etag("", "b"), Ok(Some("b".to_owned())));
        assert_eq!(etag("a", "a"), Ok(Some("a".to_owned())));
        let both = etag("a", "b").unwrap_err();
        assert_eq!(both.len(), 1);
        assert_eq!(both[0].field, "etag");
    }

    #[test]
    fn every_violation_of_an_update_is_reported_at_once() {
        let mut bad = update(Some(&["nope"]), "a", "b");
        assert_eq!(
            bad.validate()
                .unwrap_err()
                .iter()
                .map(|v| v.field.as_str())
                .collect::<Vec<_>>(),
            ["update_mask", "etag"]
        );
        bad.update_mask = None;
        assert_eq!(bad.validate().unwrap_err().len(), 5);
    }
}
