//! budget-gateway: serves the embedded budget dashboard and forwards its gRPC-web calls to
//! budget-service as gRPC. It knows the API only through `budget-proto`, so it deploys on its own.
//!
//! ```no_run
//! # async fn run(config: budget_gateway::Config) -> anyhow::Result<()> {
//! let gateway = budget_gateway::Gateway::build(config).await?;
//! gateway.run_until_stopped(budget_gateway::shutdown_signal()).await?;
//! # Ok(())
//! # }
//! ```

mod app;
mod assets;
mod config;
mod grpc_proxy;
mod shutdown;
mod startup;

pub use config::Config;
pub use shutdown::shutdown_signal;
pub use startup::{BuildError, Gateway};
