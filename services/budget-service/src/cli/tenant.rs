//! `budget-service tenant ...`: create, adopt or re-key, suspend, export and list tenants,
//! through the same use cases as the gRPC API.

use anyhow::Context;
use clap::Subcommand;

use super::args::{DurationArg, ExportKindArg, OutputArg, OutputFormat};
use super::output::{TenantRow, print_json, rfc3339, state_name};
use super::{budgets, failed};
use crate::config::AdminSettings;
use crate::domain::RawSettings;
use crate::domain::money::{MICROS_PER_USD, usd_to_micros};
use crate::service::Actor;

#[derive(clap::Args, Debug)]
pub(super) struct BudgetArgs {
    /// Budget per period in dollars, e.g. 500 or 123.45.
    #[arg(long, default_value_t = 500.0)]
    max_budget: f64,
    /// Alert threshold in percent (50-100).
    #[arg(long, default_value_t = 80)]
    alert_threshold: i32,
    /// Grace threshold in percent (100-150).
    #[arg(long, default_value_t = 110)]
    grace_threshold: i32,
    /// Budget period.
    #[arg(long, value_enum, default_value_t = DurationArg::Days30)]
    budget_duration: DurationArg,
}

#[derive(Subcommand, Debug)]
pub(super) enum TenantCommand {
    /// Create a tenant and its LiteLLM key; prints the raw key once.
    Create {
        #[command(flatten)]
        settings: AdminSettings,
        /// Tenant id: lowercase letters, digits and dashes.
        #[arg(long)]
        id: String,
        /// Display name (defaults to the id).
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        budget: BudgetArgs,
    },
    /// Create a NEW tenant from a LiteLLM key made elsewhere (by its sha256 hash): the key
    /// keeps working, now under this tenant's budget. (Formerly `attach`.)
    #[command(alias = "attach")]
    AdoptKey {
        #[command(flatten)]
        settings: AdminSettings,
        #[arg(long)]
        id: String,
        #[arg(long, default_value = "")]
        name: String,
        /// sha256 hash of the key (LiteLLM's `token`).
        #[arg(long)]
        key_hash: String,
        #[command(flatten)]
        budget: BudgetArgs,
    },
    /// Print a tenant's daily spend, alerts or audit events for UTC days FROM..=TO as CSV.
    Export {
        #[command(flatten)]
        settings: AdminSettings,
        #[arg(long)]
        id: String,
        /// Which history to print.
        #[arg(long, value_enum)]
        kind: ExportKindArg,
        /// First UTC day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last UTC day, YYYY-MM-DD (inclusive).
        #[arg(long)]
        to: String,
    },
    /// Raise a tenant's budget by AMOUNT dollars until a time; replaces any increase in force.
    GrantIncrease {
        #[command(flatten)]
        settings: AdminSettings,
        #[arg(long)]
        id: String,
        /// Dollars added to the budget, e.g. 200 or 49.99.
        #[arg(long)]
        amount: f64,
        /// When the budget returns to its usual amount (RFC 3339, e.g. 2026-12-05T00:00:00Z).
        #[arg(long)]
        until: String,
        /// Why (recorded in the audit trail, at most 200 characters).
        #[arg(long)]
        reason: String,
    },
    /// Delete a tenant: its LiteLLM key is deleted, its history and audit kept.
    Delete {
        #[command(flatten)]
        settings: AdminSettings,
        #[arg(long)]
        id: String,
    },
    /// Replace a tenant's LiteLLM key; prints only the new key, shown once.
    RotateKey {
        #[command(flatten)]
        settings: AdminSettings,
        #[arg(long)]
        id: String,
    },
    /// Move an EXISTING tenant to another LiteLLM key made elsewhere (by its sha256 hash);
    /// its budget now applies to that key. (Formerly `attach-key`.)
    #[command(alias = "attach-key")]
    SwitchKey {
        #[command(flatten)]
        settings: AdminSettings,
        #[arg(long)]
        id: String,
        /// sha256 hash of the key (LiteLLM's `token`).
        #[arg(long)]
        key_hash: String,
    },
    /// Emergency stop: block a tenant's LiteLLM key.
    Suspend {
        #[command(flatten)]
        settings: AdminSettings,
        #[arg(long)]
        id: String,
        /// Why, recorded in the audit trail.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Unblock a suspended tenant's LiteLLM key.
    Resume {
        #[command(flatten)]
        settings: AdminSettings,
        #[arg(long)]
        id: String,
    },
    /// List tenants with their budget use.
    List {
        #[command(flatten)]
        settings: AdminSettings,
        /// Case-insensitive prefix of id or display name.
        #[arg(long, default_value = "")]
        filter: String,
        #[command(flatten)]
        output: OutputArg,
    },
}

fn raw_settings(budget: &BudgetArgs) -> anyhow::Result<RawSettings> {
    let micros =
        usd_to_micros(budget.max_budget).context("--max-budget must be a number of dollars")?;
    Ok(RawSettings {
        max_budget_micros: micros,
        alert_threshold_percent: budget.alert_threshold,
        grace_threshold_percent: budget.grace_threshold,
        budget_duration: budget.budget_duration.as_str().to_owned(),
    })
}

fn cli_actor() -> Actor {
    Actor("cli".to_owned())
}

/// Runs one `tenant` command.
pub(super) async fn run(command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create {
            settings,
            id,
            name,
            budget,
        } => {
            let budgets = budgets(&settings.settings()).await?;
            let created = budgets
                .create_tenant(&id, &name, &raw_settings(&budget)?, &cli_actor())
                .await
                .map_err(failed)?;
            eprintln!(
                "tenant {} created; its LiteLLM key (shown once):",
                created.tenant.tenant_id
            );
            println!("{}", created.virtual_key);
            Ok(())
        }
        TenantCommand::AdoptKey {
            settings,
            id,
            name,
            key_hash,
            budget,
        } => {
            let budgets = budgets(&settings.settings()).await?;
            let (tenant, _) = budgets
                .attach_tenant(&id, &name, &key_hash, &raw_settings(&budget)?, &cli_actor())
                .await
                .map_err(failed)?;
            println!(
                "tenant {} created on the existing key {}",
                tenant.tenant_id, tenant.key_hash
            );
            Ok(())
        }
        TenantCommand::Delete { settings, id } => {
            let tenant = budgets(&settings.settings())
                .await?
                .delete_tenant(&id, &cli_actor())
                .await
                .map_err(failed)?;
            println!("tenant {} deleted", tenant.tenant_id);
            Ok(())
        }
        TenantCommand::RotateKey { settings, id } => {
            let (tenant, key) = budgets(&settings.settings())
                .await?
                .rotate_tenant_key(&id, &cli_actor())
                .await
                .map_err(failed)?;
            eprintln!(
                "tenant {} has a new LiteLLM key ({}), shown once:",
                tenant.tenant_id, tenant.key_alias
            );
            println!("{key}");
            Ok(())
        }
        TenantCommand::SwitchKey {
            settings,
            id,
            key_hash,
        } => {
            let tenant = budgets(&settings.settings())
                .await?
                .attach_tenant_key(&id, &key_hash, &cli_actor())
                .await
                .map_err(failed)?;
            println!(
                "tenant {} now uses key {} ({})",
                tenant.tenant_id, tenant.key_hash, tenant.key_alias
            );
            Ok(())
        }
        TenantCommand::Suspend {
            settings,
            id,
            reason,
        } => {
            let tenant = budgets(&settings.settings())
                .await?
                .suspend_tenant(&id, &reason, &cli_actor())
                .await
                .map_err(failed)?;
            println!("tenant {} suspended", tenant.tenant_id);
            Ok(())
        }
        TenantCommand::Resume { settings, id } => {
            let tenant = budgets(&settings.settings())
                .await?
                .resume_tenant(&id, &cli_actor())
                .await
                .map_err(failed)?;
            println!("tenant {} resumed", tenant.tenant_id);
            Ok(())
        }
        TenantCommand::Export {
            settings,
            id,
            kind,
            from,
            to,
        } => {
            let budgets = budgets(&settings.settings()).await?;
            let export = budgets
                .export(&id, Some(kind.into()), &from, &to)
                .await
                .map_err(failed)?;
            print!("{}", export.csv);
            Ok(())
        }
        TenantCommand::GrantIncrease {
            settings,
            id,
            amount,
            until,
            reason,
        } => {
            let amount_micros =
                usd_to_micros(amount).context("--amount must be a number of dollars")?;
            let until = chrono::DateTime::parse_from_rfc3339(&until)
                .context("--until must be an RFC 3339 time, e.g. 2026-12-05T00:00:00Z")?
                .with_timezone(&chrono::Utc);
            let raw = crate::domain::RawIncrease {
                amount_micros,
                expire_time: Some(until),
                reason,
            };
            let budgets = budgets(&settings.settings()).await?;
            let increase = budgets
                .grant_increase(&id, &raw, &cli_actor())
                .await
                .map_err(failed)?;
            println!(
                "tenant {id}: budget raised by {} until {}",
                crate::domain::money::format_usd(increase.amount_micros),
                increase
                    .expire_time
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            Ok(())
        }
        TenantCommand::List {
            settings,
            filter,
            output,
        } => list(&settings, &filter, output.output).await,
    }
}

/// Prints every tenant matching `filter` with its spend read live from LiteLLM (the tool is
/// for admins checking tenants now).
async fn list(settings: &AdminSettings, filter: &str, output: OutputFormat) -> anyhow::Result<()> {
    let budgets = budgets(&settings.settings()).await?;
    let mut rows = Vec::new();
    let mut token = String::new();
    loop {
        let page = budgets
            .list_tenants(None, filter, None, "tenant_id", 500, &token, false)
            .await
            .map_err(failed)?;
        for t in page.items {
            let live = budgets.status(t.tenant.tenant_id.as_str()).await;
            let settings = &t.config.settings;
            let (spend_micros, percent_used, state, error) = match live {
                Ok(s) => (
                    Some(s.spend_micros),
                    Some(s.percent_used),
                    Some(state_name(s.state)),
                    None,
                ),
                Err(e) => (None, None, None, Some(e.public_message())),
            };
            rows.push(TenantRow {
                tenant_id: t.tenant.tenant_id.to_string(),
                display_name: t.tenant.display_name,
                key_alias: t.tenant.key_alias,
                created_at: rfc3339(t.tenant.created_at),
                suspended: t.tenant.suspended_at.is_some(),
                max_budget_micros: settings.max_budget_micros,
                alert_threshold_percent: settings.alert_threshold_percent,
                grace_threshold_percent: settings.grace_threshold_percent,
                budget_duration: settings.budget_duration.as_str(),
                spend_micros,
                percent_used,
                state,
                error,
            });
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    if output == OutputFormat::Json {
        return print_json(&rows);
    }
    let dollars = |m: i64| m as f64 / MICROS_PER_USD as f64;
    println!(
        "{:<24} {:>14} {:>14} {:>8}  STATE",
        "TENANT", "SPEND $", "BUDGET $", "USED %"
    );
    for row in rows {
        let spend = row
            .spend_micros
            .map_or("-".into(), |m| format!("{:.2}", dollars(m)));
        let percent = row.percent_used.map_or("-".into(), |p| format!("{p:.1}"));
        let state = row
            .state
            .map_or_else(|| row.error.unwrap_or_default(), str::to_owned);
        println!(
            "{:<24} {:>14} {:>14.2} {:>8}  {}",
            row.tenant_id,
            spend,
            dollars(row.max_budget_micros),
            percent,
            state
        );
    }
    Ok(())
}
