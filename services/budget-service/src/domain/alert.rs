//! Budget alerts: which are due for a status, and the key that makes each one fire at most
//! once per (tenant, type, budget period, threshold amount).

use chrono::{DateTime, Utc};

use super::money::{format_usd as usd, reached_percent};
use super::status::BudgetStatus;
use super::tenant::TenantId;

/// What an alert records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertKind {
    /// Spend reached the alert threshold.
    Threshold,
    /// Spend reached 100 % of the budget.
    BudgetExceeded,
    /// Spend reached the grace threshold.
    Blocked,
    /// The forecast runs out before the reset.
    ProjectedLimit,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [AlertKind; 4] = [
        AlertKind::Threshold,
        AlertKind::BudgetExceeded,
        AlertKind::Blocked,
        AlertKind::ProjectedLimit,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Threshold => "threshold",
            AlertKind::BudgetExceeded => "budget_exceeded",
            AlertKind::Blocked => "blocked",
            AlertKind::ProjectedLimit => "projected_limit",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(raw: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// An alert the status calls for.
#[derive(Clone, Debug, PartialEq)]
pub struct DueAlert {
    pub kind: AlertKind,
    /// The threshold in force: the alert %, 100, the grace %, or 100 for projected.
    pub threshold_percent: i32,
    /// The threshold as an amount; part of the dedupe key, so a raised budget alerts again.
    pub threshold_micros: i64,
    pub message: String,
}

impl DueAlert {
    /// At most one alert per tenant, type, budget period (LiteLLM's reset time) and amount.
    pub fn dedupe_key(&self, status: &BudgetStatus) -> String {
        let period = status
            .reset_time
            .map_or_else(|| "no-reset".to_owned(), |t| t.to_rfc3339());
        format!(
            "{}:{}:{}:{}",
            status.tenant_id,
            self.kind.as_str(),
            period,
            self.threshold_micros
        )
    }
}

/// Every alert the status calls for, relative to the tenant's own budget (never LiteLLM's
/// key max_budget, which is the block amount). Lower bounds are inclusive.
pub fn due_alerts(status: &BudgetStatus) -> Vec<DueAlert> {
    let settings = &status.settings;
    let budget = settings.max_budget_micros;
    let spend = status.spend_micros;
    let spent = usd(spend);
    let mut due = Vec::new();
    let reached = |percent: i32| reached_percent(spend, budget, percent);
    if reached(settings.alert_threshold_percent) {
        due.push(DueAlert {
            kind: AlertKind::Threshold,
            threshold_percent: settings.alert_threshold_percent,
            threshold_micros: status.alert_at_micros,
            message: format!(
                "Spend reached {}% of the {} budget ({spent} spent)",
                settings.alert_threshold_percent,
                usd(budget)
            ),
        });
    }
    if reached(100) {
        due.push(DueAlert {
            kind: AlertKind::BudgetExceeded,
            threshold_percent: 100,
            threshold_micros: budget,
            message: format!(
                "Spend reached 100% of the {} budget ({spent} spent); grace period until {}",
                usd(budget),
                usd(status.block_at_micros)
            ),
        });
    }
    if reached(settings.grace_threshold_percent) {
        due.push(DueAlert {
            kind: AlertKind::Blocked,
            threshold_percent: settings.grace_threshold_percent,
            threshold_micros: status.block_at_micros,
            message: format!(
                "Spend reached {}% of the {} budget ({spent} spent); LiteLLM now blocks the tenant",
                settings.grace_threshold_percent,
                usd(budget)
            ),
        });
    }
    let projected = status.forecast.projected_spend_micros;
    if projected > budget && spend < budget {
        let runs_out = status
            .forecast
            .exhaustion_time
            .map_or_else(String::new, |at| {
                format!("; the budget runs out on {}", at.format("%Y-%m-%d"))
            });
        let by = status
            .reset_time
            .map_or_else(String::new, |t| format!(" by {}", t.format("%Y-%m-%d")));
        due.push(DueAlert {
            kind: AlertKind::ProjectedLimit,
            threshold_percent: 100,
            threshold_micros: budget,
            message: format!(
                "Projected to spend {}{by}, over the {} budget{runs_out}",
                usd(projected),
                usd(budget)
            ),
        });
    }
    due
}

/// A recorded budget alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub alert_id: i64,
    pub tenant_id: TenantId,
    pub kind: AlertKind,
    pub spend_micros: i64,
    pub max_budget_micros: i64,
    pub percent: f64,
    pub threshold_percent: i32,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BudgetDuration, BudgetSettings, DailyHistory, TenantId};
    use chrono::{Days, TimeZone, Utc};

    const USD: i64 = 1_000_000;

    fn status(spend_usd: i64, history: &DailyHistory) -> BudgetStatus {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 20, 12, 0, 0)
            .single()
            .unwrap_or_default();
        let settings = BudgetSettings {
            max_budget_micros: 500 * USD,
            alert_threshold_percent: 80,
            grace_threshold_percent: 110,
            budget_duration: BudgetDuration::Days30,
        };
        let reset = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).single();
        let id = TenantId::parse("acme").unwrap_or_else(|| unreachable!());
        BudgetStatus::compute(id, settings, spend_usd * USD, reset, history, now)
    }

    fn kinds(due: &[DueAlert]) -> Vec<AlertKind> {
        due.iter().map(|d| d.kind).collect()
    }

    #[test]
    fn thresholds_fire_at_their_inclusive_bounds() {
        let none = DailyHistory::default();
        assert!(due_alerts(&status(399, &none)).is_empty());
        assert_eq!(
            kinds(&due_alerts(&status(400, &none))),
            vec![AlertKind::Threshold]
        );
        assert_eq!(
            kinds(&due_alerts(&status(500, &none))),
            vec![AlertKind::Threshold, AlertKind::BudgetExceeded]
        );
        assert_eq!(
            kinds(&due_alerts(&status(550, &none))),
            vec![
                AlertKind::Threshold,
                AlertKind::BudgetExceeded,
                AlertKind::Blocked
            ]
        );
    }

    #[test]
    fn projected_limit_only_while_under_budget() {
        // $30/day for the last 7 days, 10.5 days left: $300 + $315 > $500.
        let today = Utc
            .with_ymd_and_hms(2026, 11, 20, 0, 0, 0)
            .single()
            .unwrap_or_default()
            .date_naive();
        let history = DailyHistory::from_days(
            (1..=7)
                .filter_map(|b| today.checked_sub_days(Days::new(b)))
                .map(|d| (d, 30 * USD)),
        );
        let due = due_alerts(&status(300, &history));
        assert_eq!(kinds(&due), vec![AlertKind::ProjectedLimit]);
        assert!(
            due[0]
                .message
                .contains("Projected to spend $615.00 by 2026-12-01"),
            "{}",
            due[0].message
        );
        assert!(
            due[0].message.contains("runs out on 2026-11-27"),
            "{}",
            due[0].message
        );
        assert!(!kinds(&due_alerts(&status(510, &history))).contains(&AlertKind::ProjectedLimit));
    }

    #[test]
    fn dedupe_key_names_tenant_type_period_and_amount() {
        let s = status(420, &DailyHistory::default());
        let due = due_alerts(&s);
        assert_eq!(
            due[0].dedupe_key(&s),
            "acme:threshold:2026-12-01T00:00:00+00:00:400000000"
        );
        assert_eq!(
            due[0].message,
            "Spend reached 80% of the $500.00 budget ($420.00 spent)"
        );
    }
}
