//! The command line: `serve`, `migrate`, `health`, `completions`, `tenant ...` and `token ...`.
//! Amounts on the command line are dollars (`--max-budget 500`); inside, micros. Only `serve`
//! (unless `--no-migrate`) and `migrate` apply migrations; every other command refuses a
//! schema that is behind, changing nothing.

mod args;
mod output;
mod tenant;
mod token;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};

use crate::clock::SystemClock;
use crate::config::{DatabaseUrl, LogSettings, Settings};
use crate::error::BudgetError;
use crate::metrics::Metrics;
use crate::service::Budgets;
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
    /// Serve the gRPC API. Applies pending migrations first unless --no-migrate; with it,
    /// refuses to start while any are pending.
    Serve {
        #[command(flatten)]
        settings: Box<Settings>,
        /// Do not apply migrations; refuse to start if any are pending (run `migrate` first).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations and exit (safe to run from several places at once:
    /// it holds PostgreSQL's advisory lock while it works).
    Migrate {
        #[command(flatten)]
        database: DatabaseUrl,
    },
    /// Ask a running budget-service whether it is SERVING (grpc.health.v1); exit 0 when it
    /// is, 1 with a one-line reason otherwise. For container health checks and exec probes.
    Health {
        /// The server's gRPC address: http://host:port (plain HTTP/2), host:port likewise, or
        /// https://host:port (TLS, with --ca-file).
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        addr: String,
        /// PEM CA certificate the server's certificate must chain to (for an https:// --addr).
        #[arg(long)]
        ca_file: Option<std::path::PathBuf>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=60))]
        timeout_secs: u64,
    },
    /// Print a shell completion script, e.g. `budget-service completions bash > /etc/bash_completion.d/budget-service`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: tenant::TenantCommand,
    },
    /// Manage API tokens (who may call budget-service).
    Token {
        #[command(flatten)]
        database: DatabaseUrl,
        #[command(subcommand)]
        command: token::TokenCommand,
    },
}

/// Runs the command line; errors are printed as one line each, never a panic.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "budget-service",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
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
            let app = Application::build(*settings).await?;
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::Migrate { database } => {
            startup::database(&database.settings(true)).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Health {
            addr,
            ca_file,
            timeout_secs,
        } => {
            let ca = match ca_file {
                Some(path) => Some(
                    std::fs::read(&path)
                        .with_context(|| format!("reading --ca-file {}", path.display()))?,
                ),
                None => None,
            };
            // A bare host:port is taken as plain HTTP/2.
            let addr = if addr.contains("://") {
                addr
            } else {
                format!("http://{addr}")
            };
            crate::grpc::probe::check(&addr, ca.as_deref(), Duration::from_secs(timeout_secs))
                .await
                .map_err(anyhow::Error::msg)
        }
        Command::Completions { .. } => Ok(()),
        Command::Tenant { command } => tenant::run(command).await,
        Command::Token { database, command } => token::run(&database, command).await,
    }
}

/// The use cases for a one-off command, wired as `serve` wires them, on a schema this binary
/// can use (never migrating).
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
