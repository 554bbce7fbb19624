//! budget-gateway: serves the embedded budget dashboard to signed-in people and forwards its
//! gRPC-web calls to budget-service as gRPC, with the token of their session. It knows the API
//! only through `budget-proto`, so it deploys on its own.
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
mod connect;
mod cross_site;
mod export;
mod grpc_proxy;
mod metrics;
mod session;
mod shutdown;
mod signin;
mod startup;
mod state;

pub use config::Config;
pub use session::{InvalidSessionKey, RandomSourceError, SessionKey};
pub use shutdown::shutdown_signal;
pub use startup::{BuildError, Gateway};
