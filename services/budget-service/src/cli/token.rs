//! `budget-service token ...`: create, list and revoke the API tokens callers present.

use clap::Subcommand;

use super::args::{OutputArg, OutputFormat, RoleArg};
use super::failed;
use super::output::{TokenRow, print_json, rfc3339};
use crate::config::{DatabaseUrl, Settings};
use crate::service::auth::Authenticator;
use crate::startup;

#[derive(Subcommand, Debug)]
pub(super) enum TokenCommand {
    /// Create a token; prints only the token, shown this once.
    Create {
        /// What the token may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The one tenant the token is limited to (required for tenant_admin).
        #[arg(long)]
        tenant: Option<String>,
        /// A unique name; audit events name the token's changes by it.
        #[arg(long)]
        name: String,
    },
    /// List tokens (never their values).
    List {
        #[command(flatten)]
        output: OutputArg,
    },
    /// Revoke a token by name; takes effect within BUDGET_TOKEN_CACHE_SECS.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

/// Runs one `token` command on a schema this binary can use (never migrating).
pub(super) async fn run(database: &DatabaseUrl, command: TokenCommand) -> anyhow::Result<()> {
    let store = startup::database(&database.settings(false)).await?;
    let settings = Settings::new(&database.database_url, "http://unused", "unused").auth();
    let auth = Authenticator::new(store, &settings);
    match command {
        TokenCommand::Create { role, tenant, name } => {
            let token = auth
                .create_token("cli", &name, role.into(), tenant.as_deref())
                .await
                .map_err(failed)?;
            println!("{token}");
        }
        TokenCommand::List { output } => {
            let rows: Vec<TokenRow> = auth
                .list_tokens()
                .await
                .map_err(failed)?
                .into_iter()
                .map(|t| TokenRow {
                    name: t.name,
                    role: t.role.as_str(),
                    tenant_id: t.tenant.as_ref().map(ToString::to_string),
                    created_at: rfc3339(t.created_at),
                    last_used_at: t.last_used_at.map(rfc3339),
                    revoked_at: t.revoked_at.map(rfc3339),
                    status: if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "live"
                    },
                })
                .collect();
            if output.output == OutputFormat::Json {
                return print_json(&rows);
            }
            println!(
                "{:<32} {:<15} {:<20} {:<20} STATUS",
                "NAME", "ROLE", "TENANT", "LAST USED"
            );
            for t in rows {
                let used = t
                    .last_used_at
                    .map_or("never".to_owned(), |at| at.replacen('T', " ", 1));
                println!(
                    "{:<32} {:<15} {:<20} {:<20} {}",
                    t.name,
                    t.role,
                    t.tenant_id.as_deref().unwrap_or("*"),
                    used,
                    t.status
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
