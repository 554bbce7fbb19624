//! The service's one error type; `grpc::status` maps it to `tonic::Status` in one table.

use std::sync::Arc;

use crate::domain::{FieldViolation, TenantId};
use crate::litellm::LiteLlmError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error("invalid request: {0:?}")]
    InvalidArgument(Vec<FieldViolation>),
    #[error("tenant {0} not found")]
    TenantNotFound(TenantId),
    #[error("tenant {0} already exists")]
    TenantExists(TenantId),
    #[error("the budget was changed by someone else")]
    StaleEtag,
    /// LiteLLM reports the tenant's key deleted, revoked or expired, or does not know it.
    #[error("the LiteLLM key of tenant {tenant} {problem}")]
    KeyUnusable {
        tenant: TenantId,
        problem: &'static str,
    },
    #[error("LiteLLM already has a key with alias {0}")]
    KeyAliasTaken(String),
    /// A read from LiteLLM failed.
    #[error("budget data unavailable")]
    BudgetDataUnavailable(#[source] LiteLlmError),
    /// A write to LiteLLM failed; nothing was saved anywhere.
    #[error("LiteLLM write failed; nothing was saved")]
    LiteLlmWriteFailed(#[source] LiteLlmError),
    #[error("database unavailable")]
    DatabaseUnavailable(#[source] StoreError),
    /// Our write failed after LiteLLM accepted, and putting LiteLLM back failed too.
    #[error("saved in LiteLLM but not in our database, and LiteLLM could not be restored")]
    Drift(#[source] StoreError),
    /// Our write failed after LiteLLM accepted; LiteLLM was put back, so nothing changed.
    #[error("the change could not be saved; LiteLLM was restored")]
    NotSaved(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] StoreError),
    /// No token, or one that is unknown or revoked.
    #[error("missing or invalid token")]
    Unauthenticated,
    /// The caller's role or tenant scope does not allow the call.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The caller made too many changes too fast.
    #[error("too many changes; retry after {retry_after:?}")]
    RateLimited { retry_after: std::time::Duration },
    /// The caller's address made too many failed authentications; it may try again after
    /// `retry_after`.
    #[error("too many failed authentications; retry after {retry_after:?}")]
    AuthThrottled { retry_after: std::time::Duration },
    /// Tokens could not be checked (database unavailable, or its share of the pool for
    /// token checks is busy).
    #[error("token check unavailable")]
    AuthUnavailable,
    /// An error shared by callers that waited on the same cache fill.
    #[error(transparent)]
    Shared(Arc<BudgetError>),
}

impl From<StoreError> for BudgetError {
    fn from(error: StoreError) -> BudgetError {
        match error {
            StoreError::Unavailable(_) => BudgetError::DatabaseUnavailable(error),
            _ => BudgetError::Internal(error),
        }
    }
}

impl From<FieldViolation> for BudgetError {
    fn from(violation: FieldViolation) -> BudgetError {
        BudgetError::InvalidArgument(vec![violation])
    }
}
