//! The command line's closed sets of values, each listed in `--help` and checked by clap.

use clap::ValueEnum;

use crate::domain::auth::Role;
use crate::domain::export::ExportKind;

/// `--role`: what a token may do.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum RoleArg {
    /// Everything, for every tenant.
    #[value(name = "platform_admin")]
    PlatformAdmin,
    /// Read and change one tenant's budget (needs --tenant).
    #[value(name = "tenant_admin")]
    TenantAdmin,
    /// Read only; every tenant, or one with --tenant.
    #[value(name = "service")]
    Service,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::PlatformAdmin => Role::PlatformAdmin,
            RoleArg::TenantAdmin => Role::TenantAdmin,
            RoleArg::Service => Role::Service,
        }
    }
}

/// `--kind`: which history an export prints.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum ExportKindArg {
    /// Spend per UTC day.
    DailySpend,
    /// Alerts raised.
    Alerts,
    /// Changes made, by whom.
    AuditEvents,
}

impl From<ExportKindArg> for ExportKind {
    fn from(kind: ExportKindArg) -> ExportKind {
        match kind {
            ExportKindArg::DailySpend => ExportKind::DailySpend,
            ExportKindArg::Alerts => ExportKind::Alerts,
            ExportKindArg::AuditEvents => ExportKind::AuditEvents,
        }
    }
}

/// `--budget-duration`: the budget period, as LiteLLM's `budget_duration`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum DurationArg {
    /// Monthly: resets on the 1st (UTC).
    #[value(name = "30d")]
    Days30,
    /// Every 60 days.
    #[value(name = "60d")]
    Days60,
    /// Every 90 days.
    #[value(name = "90d")]
    Days90,
}

impl DurationArg {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            DurationArg::Days30 => "30d",
            DurationArg::Days60 => "60d",
            DurationArg::Days90 => "90d",
        }
    }
}

/// `-o/--output` of list commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(super) enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON array: snake_case fields, money as integer micros, times RFC 3339 UTC.
    Json,
}

/// The `-o` flag every list command takes.
#[derive(clap::Args, Clone, Copy, Debug)]
pub(super) struct OutputArg {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub(super) output: OutputFormat,
}
