//! The `/key/*` admin endpoints: generate, update, info, list, delete, block, unblock,
//! regenerate and reset_spend, with LiteLLM's field semantics (merge-patch updates, `budget_duration`
//! recomputing `budget_reset_at` on every update that carries it, soft budgets in a joined
//! budget row, deleted keys kept in an archive).

//!
//! One module per group of routes: `generate` (`/key/generate`, `/key/update`), `read`
//! (`/key/info`, `/key/list`), `lifecycle` (`/key/delete`, `/key/block`, `/key/unblock`) and
//! `regenerate` (`/key/regenerate`, `/key/{key}/regenerate`, `/key/{key}/reset_spend`); `patch`
//! validates and applies the fields a generate or update body carries.

mod generate;
mod lifecycle;
mod patch;
mod read;
mod regenerate;

use crate::error::ApiError;

pub(crate) use generate::{generate, update};
pub(crate) use lifecycle::{block, delete, unblock};
pub(crate) use read::{info, list};
pub(crate) use regenerate::{regenerate, regenerate_by_path, reset_spend};

fn duplicate_alias(alias: &str) -> ApiError {
    ApiError::bad_request(
        format!(
            "Key with alias '{alias}' already exists. Unique key aliases across all keys are required."
        ),
        Some("key_alias"),
    )
}

fn key_not_found_in_db() -> ApiError {
    ApiError::not_found("Key not found in database", Some("key"))
}
