//! budget-service: owns each tenant's LLM budget over PostgreSQL and the LiteLLM admin API.
//!
//! Layers, each using only those to its right:
//! `main -> cli -> startup -> grpc -> service -> { store, litellm, notify } -> domain`.
//!
//! Only what the binary, the demo and the cross-crate tests use is public; everything else
//! is `pub(crate)` or private, so the compiler reports what nothing uses.

#![warn(unreachable_pub)]

pub mod cli;
pub mod clock;
mod cluster;
pub mod config;
mod deliverer;
pub mod domain;
pub mod error;
mod evaluator;
pub mod grpc;
mod http;
pub mod litellm;
pub mod metrics;
mod notify;
mod paging;
pub mod panic_points;
mod purger;
pub mod service;
pub mod startup;
pub mod store;
mod supervisor;

pub use config::Settings;
pub use startup::Application;
