//! The `budget-gateway` binary: with no subcommand it reads its config and serves until
//! SIGTERM or Ctrl-C; `budget-gateway health` checks a running gateway and exits.

use std::process::ExitCode;
use std::time::Duration;

use budget_gateway::{Config, Gateway, shutdown_signal};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// `budget-gateway [FLAGS]` serves (as before subcommands existed); `budget-gateway health`
/// probes one.
#[derive(Parser)]
#[command(
    name = "budget-gateway",
    version,
    about = "Serves the budget dashboard and forwards its calls to budget-service",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<GatewayCommand>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum GatewayCommand {
    /// GET /healthz of a running gateway: exit 0 on HTTP 200, 1 with a one-line reason
    /// otherwise. For container health checks and exec probes.
    Health {
        /// The gateway's address: host:port or http://host:port.
        #[arg(long, env = "GATEWAY_ADDR", default_value = "127.0.0.1:8080")]
        addr: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=60))]
        timeout_secs: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(GatewayCommand::Health { addr, timeout_secs }) = cli.command {
        return match budget_gateway::probe::check(&addr, Duration::from_secs(timeout_secs)).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(reason) => {
                eprintln!("error: {reason}");
                ExitCode::FAILURE
            }
        };
    }
    // `GATEWAY_LOG_FORMAT=json` gives one JSON object per line (read here, with RUST_LOG, as
    // the subscriber exists before the config is parsed).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()));
    if std::env::var("GATEWAY_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
    match serve(cli.config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:?}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let gateway = Gateway::build(config).await?;
    gateway.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}
