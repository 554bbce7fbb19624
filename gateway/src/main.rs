//! The `budget-gateway` binary: reads its config, then serves until SIGTERM or Ctrl-C.

use budget_gateway::{Config, Gateway, shutdown_signal};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `GATEWAY_LOG_FORMAT=json` gives one JSON object per line (read here, with RUST_LOG, as
    // the subscriber exists before the config is parsed).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()));
    if std::env::var("GATEWAY_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
    let config = Config::parse();
    let gateway = Gateway::build(config).await?;
    gateway.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}
