//! litellm-sim: a stand-in for a LiteLLM proxy (1.108.7 / 1.110.2) with virtual keys, built from
//! `shared/reference/litellm-contract.md`, for tests and the demo.
//!
//! It serves LiteLLM's admin API (`/key/generate`, `/key/update`, `/key/info`, `/key/list`,
//! `/key/delete`, `/key/block`, `/key/unblock`, `/key/{key}/reset_spend`), spend history
//! (`/user/daily/activity/aggregated`, `/user/daily/activity`) and `/chat/completions` with the
//! same paths, JSON shapes, status codes and error envelope as the real proxy, and enforces
//! budgets the same way (`spend >= max_budget` → 422 `budget_exceeded`; budget windows reset
//! at snapped `budget_reset_at` boundaries, see [`periods`] and the `store` module).
//!
//! The state lives in memory. Tests drive the sim through [`SimControl`] (in-process) or the
//! `/sim/*` routes (over HTTP, master key required): set spend and daily history, read a key,
//! inject faults ([`FaultRule`]), count calls per path, and move the clock.
//!
//! With a `WEBHOOK_URL` it sends LiteLLM's budget-alert webhooks (`budget_crossed`,
//! `threshold_crossed`, `soft_budget_crossed`, `projected_limit_exceeded`) when a virtual key
//! makes an LLM call, with the same body, 24 h dedupe and timing as the real proxy, and records
//! each attempt ([`SentWebhook`], [`SimControl::webhooks`]); see the `webhooks` module.
//!
//! `tests/tests/litellm_differential.rs` (crate budget-e2e) compares it with the real proxy
//! 1.108.7 on every path budget-service uses.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let server = litellm_sim::SimServer::start("127.0.0.1:0", "sk-test").await?;
//! let control = server.control();
//! control.advance_clock(chrono::Duration::days(31));
//! server.shutdown().await;
//! # Ok(()) }
//! ```

#![recursion_limit = "256"]

mod activity;
mod auth;
mod chat;
mod clock;
mod control;
mod error;
mod faults;
mod key_table;
mod keys;
mod middleware;
pub mod periods;
mod records;
mod request;
mod server;
mod sim;
mod store;
mod util;
mod webhooks;

pub use control::{KeySnapshot, SimControl};
pub use faults::{Fault, FaultRule};
pub use records::KeyStatus;
pub use server::{SimConfig, SimServer};
pub use util::hash_token;
pub use webhooks::{SentWebhook, WEBHOOK_USER_AGENT};
