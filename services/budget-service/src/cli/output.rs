//! The JSON the list commands print with `-o json`: stable snake_case fields, money as
//! integer USD micros, times RFC 3339 UTC (`2026-12-03T15:50:19Z`), absent values `null`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::domain::BudgetState;

/// A time as the JSON output writes it.
pub(super) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A budget state's name in JSON: ok, warning, grace or blocked.
pub(super) fn state_name(state: BudgetState) -> &'static str {
    match state {
        BudgetState::Ok => "ok",
        BudgetState::Warning => "warning",
        BudgetState::Grace => "grace",
        BudgetState::Blocked => "blocked",
    }
}

/// One tenant of `tenant list -o json`.
#[derive(Serialize)]
pub(super) struct TenantRow {
    pub(super) tenant_id: String,
    pub(super) display_name: String,
    pub(super) key_alias: String,
    pub(super) created_at: String,
    pub(super) suspended: bool,
    pub(super) max_budget_micros: i64,
    pub(super) alert_threshold_percent: i32,
    pub(super) grace_threshold_percent: i32,
    pub(super) budget_duration: &'static str,
    /// Live from LiteLLM; `null` with `error` set when it could not be read.
    pub(super) spend_micros: Option<i64>,
    pub(super) percent_used: Option<f64>,
    pub(super) state: Option<&'static str>,
    pub(super) error: Option<String>,
}

/// One token of `token list -o json` (never its value).
#[derive(Serialize)]
pub(super) struct TokenRow {
    pub(super) name: String,
    pub(super) role: &'static str,
    /// The one tenant it is limited to; `null`: every tenant.
    pub(super) tenant_id: Option<String>,
    pub(super) created_at: String,
    pub(super) last_used_at: Option<String>,
    pub(super) revoked_at: Option<String>,
    /// live or revoked.
    pub(super) status: &'static str,
}

/// Prints `rows` as one pretty JSON array.
pub(super) fn print_json<T: Serialize>(rows: &[T]) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(rows)?);
    Ok(())
}
