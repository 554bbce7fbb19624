//! The command line: `serve`, `migrate` and `tenant create|attach|list|export|grant-increase`.
//! Amounts on the command line are dollars (`--max-budget 500`); inside, micros.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::clock::SystemClock;
use crate::config::{DatabaseUrl, LogSettings, Settings};
use crate::domain::RawSettings;
use crate::domain::auth::Role;
use crate::domain::money::{MICROS_PER_USD, usd_to_micros};
use crate::error::BudgetError;
use crate::metrics::Metrics;
use crate::service::auth::Authenticator;
use crate::service::{Actor, Budgets};
use crate::startup::{self, Application, shutdown_signal};

#[derive(Parser, Debug)]
#[command(
    name = "budget-service",
    version,
    about = "LLM budget enforcement for multi-tenant platforms (gRPC)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the gRPC API (applies migrations first unless --no-migrate).
    Serve {
        #[command(flatten)]
        settings: Settings,
        /// Do not apply migrations at startup.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply the database migrations and exit.
    Migrate {
        #[command(flatten)]
        database: DatabaseUrl,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage API tokens (who may call budget-service).
    Token {
        #[command(flatten)]
        database: DatabaseUrl,
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a token; prints only the token, shown this once.
    Create {
        /// platform_admin, tenant_admin or service.
        #[arg(long)]
        role: String,
        /// The one tenant the token is limited to (required for tenant_admin).
        #[arg(long)]
        tenant: Option<String>,
        /// A unique name; audit events name the token's changes by it.
        #[arg(long)]
        name: String,
    },
    /// List tokens (never their values).
    List,
    /// Revoke a token by name; takes effect within BUDGET_TOKEN_CACHE_SECS.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

#[derive(clap::Args, Debug)]
struct BudgetArgs {
    /// Budget per period in dollars, e.g. 500 or 123.45.
    #[arg(long, default_value_t = 500.0)]
    max_budget: f64,
    /// Alert threshold in percent (50-100).
    #[arg(long, default_value_t = 80)]
    alert_threshold: i32,
    /// Grace threshold in percent (100-150).
    #[arg(long, default_value_t = 110)]
    grace_threshold: i32,
    /// Budget period: 30d (monthly, resets on the 1st), 60d or 90d.
    #[arg(long, default_value = "30d")]
    budget_duration: String,
}

#[derive(Subcommand, Debug)]
enum TenantCommand {
    /// Create a tenant and its LiteLLM key; prints the raw key once.
    Create {
        #[command(flatten)]
        settings: Settings,
        /// Tenant id: lowercase letters, digits and dashes.
        #[arg(long)]
        id: String,
        /// Display name (defaults to the id).
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        budget: BudgetArgs,
    },
    /// Make an existing LiteLLM key (by its sha256 hash) a new tenant's key.
    Attach {
        #[command(flatten)]
        settings: Settings,
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
        settings: Settings,
        #[arg(long)]
        id: String,
        /// daily-spend, alerts or audit-events.
        #[arg(long)]
        kind: String,
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
        settings: Settings,
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
        settings: Settings,
        #[arg(long)]
        id: String,
    },
    /// Replace a tenant's LiteLLM key; prints only the new key, shown once.
    RotateKey {
        #[command(flatten)]
        settings: Settings,
        #[arg(long)]
        id: String,
    },
    /// Point an existing tenant at another LiteLLM key (by its sha256 hash).
    AttachKey {
        #[command(flatten)]
        settings: Settings,
        #[arg(long)]
        id: String,
        /// sha256 hash of the key (LiteLLM's `token`).
        #[arg(long)]
        key_hash: String,
    },
    /// Emergency stop: block a tenant's LiteLLM key.
    Suspend {
        #[command(flatten)]
        settings: Settings,
        #[arg(long)]
        id: String,
        /// Why, recorded in the audit trail.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Unblock a suspended tenant's LiteLLM key.
    Resume {
        #[command(flatten)]
        settings: Settings,
        #[arg(long)]
        id: String,
    },
    /// List tenants with their budget use.
    List {
        #[command(flatten)]
        settings: Settings,
        /// Case-insensitive prefix of id or display name.
        #[arg(long, default_value = "")]
        filter: String,
    },
}

/// Runs the command line; errors are printed as one line each, never a panic.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    startup::init_tracing(&LogSettings::from_env());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A failed use case as the command prints it: the public message callers of the API read
/// (the reason stays out of the line); the cause, which callers never see, goes to the log.
fn failed(error: BudgetError) -> anyhow::Error {
    if let Some(cause) = std::error::Error::source(&error) {
        tracing::warn!(error = %error, cause = %cause, "command failed");
    }
    anyhow::anyhow!(error.public_message())
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            mut settings,
            no_migrate,
        } => {
            settings.migrate = !no_migrate;
            let app = Application::build(settings).await?;
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::Migrate { database } => {
            startup::database(&database.settings()).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Tenant { command } => tenant(command).await,
        Command::Token { database, command } => token(&database, command).await,
    }
}

/// The use cases for a one-off command, wired as `serve` wires them.
async fn budgets(settings: &Settings) -> anyhow::Result<Arc<Budgets>> {
    settings.validate().map_err(anyhow::Error::msg)?;
    let store = startup::database(&settings.command_database()).await?;
    let budgets = startup::budgets(
        settings,
        store,
        Arc::new(SystemClock),
        Arc::new(Metrics::new()),
    )?;
    Ok(Arc::new(budgets))
}

async fn token(database: &DatabaseUrl, command: TokenCommand) -> anyhow::Result<()> {
    let store = startup::database(&database.settings()).await?;
    let settings = Settings::new(&database.database_url, "http://unused", "unused").auth();
    let auth = Authenticator::new(store, &settings);
    match command {
        TokenCommand::Create { role, tenant, name } => {
            let role = Role::parse(&role)
                .context("--role must be platform_admin, tenant_admin or service")?;
            let token = auth
                .create_token("cli", &name, role, tenant.as_deref())
                .await
                .map_err(failed)?;
            println!("{token}");
        }
        TokenCommand::List => {
            println!(
                "{:<32} {:<15} {:<20} {:<20} STATUS",
                "NAME", "ROLE", "TENANT", "LAST USED"
            );
            for t in auth.list_tokens().await.map_err(failed)? {
                let tenant = t
                    .tenant
                    .as_ref()
                    .map_or("*".to_owned(), ToString::to_string);
                let used = t.last_used_at.map_or("never".to_owned(), |at| {
                    at.format("%Y-%m-%d %H:%M").to_string()
                });
                let status = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "live"
                };
                println!(
                    "{:<32} {:<15} {:<20} {:<20} {status}",
                    t.name,
                    t.role.as_str(),
                    tenant,
                    used
                );
            }
        }
        TokenCommand::Revoke { name } => {
            auth.revoke_token("cli", &name).await.map_err(failed)?;
            eprintln!("token {name} revoked");
        }
    }
    Ok(())
}

fn raw_settings(budget: &BudgetArgs) -> anyhow::Result<RawSettings> {
    let micros =
        usd_to_micros(budget.max_budget).context("--max-budget must be a number of dollars")?;
    Ok(RawSettings {
        max_budget_micros: micros,
        alert_threshold_percent: budget.alert_threshold,
        grace_threshold_percent: budget.grace_threshold,
        budget_duration: budget.budget_duration.clone(),
    })
}

fn cli_actor() -> Actor {
    Actor("cli".to_owned())
}

async fn tenant(command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create {
            settings,
            id,
            name,
            budget,
        } => {
            let budgets = budgets(&settings).await?;
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
        TenantCommand::Attach {
            settings,
            id,
            name,
            key_hash,
            budget,
        } => {
            let budgets = budgets(&settings).await?;
            let (tenant, _) = budgets
                .attach_tenant(&id, &name, &key_hash, &raw_settings(&budget)?, &cli_actor())
                .await
                .map_err(failed)?;
            println!(
                "tenant {} attached to key {}",
                tenant.tenant_id, tenant.key_hash
            );
            Ok(())
        }
        TenantCommand::Delete { settings, id } => {
            let tenant = budgets(&settings)
                .await?
                .delete_tenant(&id, &cli_actor())
                .await
                .map_err(failed)?;
            println!("tenant {} deleted", tenant.tenant_id);
            Ok(())
        }
        TenantCommand::RotateKey { settings, id } => {
            let (tenant, key) = budgets(&settings)
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
        TenantCommand::AttachKey {
            settings,
            id,
            key_hash,
        } => {
            let tenant = budgets(&settings)
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
            let tenant = budgets(&settings)
                .await?
                .suspend_tenant(&id, &reason, &cli_actor())
                .await
                .map_err(failed)?;
            println!("tenant {} suspended", tenant.tenant_id);
            Ok(())
        }
        TenantCommand::Resume { settings, id } => {
            let tenant = budgets(&settings)
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
            let kind = crate::domain::export::ExportKind::parse(&kind)
                .context("--kind must be daily-spend, alerts or audit-events")?;
            let budgets = budgets(&settings).await?;
            let export = budgets
                .export(&id, Some(kind), &from, &to)
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
            let budgets = budgets(&settings).await?;
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
        TenantCommand::List { settings, filter } => {
            let budgets = budgets(&settings).await?;
            let mut token = String::new();
            println!(
                "{:<24} {:>14} {:>14} {:>8}  STATE",
                "TENANT", "SPEND $", "BUDGET $", "USED %"
            );
            loop {
                let page = budgets
                    .list_tenants(None, &filter, "tenant_id", 500, &token, false)
                    .await
                    .map_err(failed)?;
                for t in &page.items {
                    let dollars = |m: i64| m as f64 / MICROS_PER_USD as f64;
                    // Read live from LiteLLM: the tool is for admins checking a tenant now.
                    let live = budgets.status(t.tenant.tenant_id.as_str()).await;
                    let (spend, percent, state) = match live {
                        Ok(s) => (
                            format!("{:.2}", dollars(s.spend_micros)),
                            format!("{:.1}", s.percent_used),
                            format!("{:?}", s.state),
                        ),
                        Err(e) => ("-".into(), "-".into(), e.public_message()),
                    };
                    println!(
                        "{:<24} {:>14} {:>14.2} {:>8}  {}",
                        t.tenant.tenant_id,
                        spend,
                        dollars(t.config.settings.max_budget_micros),
                        percent,
                        state
                    );
                }
                if page.next_page_token.is_empty() {
                    return Ok(());
                }
                token = page.next_page_token;
            }
        }
    }
}
