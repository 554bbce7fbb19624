//! The kinds of budget alert and how their display threshold is chosen.

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
        [
            AlertKind::Threshold,
            AlertKind::BudgetExceeded,
            AlertKind::Blocked,
            AlertKind::ProjectedLimit,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == raw)
    }
}
