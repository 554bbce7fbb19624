//! The `budget-gateway` binary: reads its config, then serves until SIGTERM or Ctrl-C.

use budget_gateway::{Config, Gateway, shutdown_signal};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let config = Config::parse();
    let gateway = Gateway::build(config).await?;
    gateway.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}
