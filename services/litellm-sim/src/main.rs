//! The `litellm-sim` binary: serves the LiteLLM stand-in until Ctrl-C or SIGTERM.

use clap::Parser;
use litellm_sim::{SimConfig, SimServer};

/// A stand-in for a LiteLLM proxy with virtual keys (tests and the demo).
#[derive(Debug, Parser)]
#[command(name = "litellm-sim", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "LITELLM_SIM_ADDR", default_value = "127.0.0.1:4000")]
    addr: String,
    /// The proxy's master key (admin routes and /sim/*).
    #[arg(
        long,
        env = "LITELLM_SIM_MASTER_KEY",
        default_value = "sk-sim-master",
        hide_env_values = true
    )]
    master_key: String,
    /// Where budget-alert webhooks go (LiteLLM's `WEBHOOK_URL`); also settable at runtime with
    /// `POST /sim/webhook_url`. It carries budget-service's webhook secret, so `--help` never
    /// shows its value.
    #[arg(long, env = "WEBHOOK_URL", hide_env_values = true)]
    webhook_url: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let server = SimServer::start_with(SimConfig {
        addr: args.addr,
        master_key: args.master_key,
        webhook_url: args.webhook_url,
    })
    .await?;
    tracing::info!(base_url = %server.base_url(), webhook_url = ?server.control().webhook_url(), "litellm-sim listening");
    wait_for_stop().await;
    tracing::info!("litellm-sim stopping");
    server.shutdown().await;
    Ok(())
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
