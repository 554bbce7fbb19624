//! budget-service: owns each tenant's LLM budget over PostgreSQL and the LiteLLM admin API.
//!
//! Layers, each using only those to its right:
//! `main -> cli -> startup -> grpc -> service -> { store, litellm, notify } -> domain`.

pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod deliverer;
pub mod domain;
pub mod error;
pub mod evaluator;
pub mod grpc;
pub mod http;
pub mod litellm;
pub mod metrics;
pub mod notify;
pub mod paging;
pub mod panic_points;
pub mod purger;
pub mod service;
pub mod startup;
pub mod store;
pub mod supervisor;

pub use config::Settings;
pub use startup::Application;
