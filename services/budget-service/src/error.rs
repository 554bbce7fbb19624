//! The service's one error type and its transport-neutral vocabulary: a stable [`ErrorCode`]
//! (the reason clients branch on) and the public message callers may read. `grpc::status`
//! turns both into a `tonic::Status`; the CLI prints the public message as it is.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{FieldViolation, TenantId};
use crate::litellm::{KeyStatus, LiteLlmError};
use crate::store::StoreError;

/// What the caller of a failed save reads when LiteLLM could not be read.
pub const BUDGET_DATA_UNAVAILABLE: &str = "Budget data unavailable";
/// What the caller of a failed save reads when LiteLLM refused or missed the write.
pub const LITELLM_WRITE_FAILED: &str = "LiteLLM unavailable; nothing was saved";
/// What the caller of a save with a stale etag reads.
pub const STALE_ETAG: &str =
    "This budget was changed by someone else; reload to see the latest values";
/// The one INTERNAL text: nothing about the cause reaches the caller.
pub const INTERNAL_MESSAGE: &str = "Internal error";

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
    #[error("the LiteLLM key of tenant {tenant} {}", problem.sentence())]
    KeyUnusable {
        tenant: TenantId,
        problem: KeyProblem,
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
    RateLimited { retry_after: Duration },
    /// The caller's address made too many failed authentications; it may try again after
    /// `retry_after`.
    #[error("too many failed authentications; retry after {retry_after:?}")]
    AuthThrottled { retry_after: Duration },
    /// Tokens could not be checked (database unavailable, or its share of the pool for
    /// token checks is busy).
    #[error("token check unavailable")]
    AuthUnavailable,
    /// An error shared by callers that waited on the same cache fill.
    #[error(transparent)]
    Shared(Arc<BudgetError>),
}

/// Why a tenant's LiteLLM key cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    /// LiteLLM does not know the key at all.
    Unknown,
    /// LiteLLM reports the key deleted.
    Deleted,
    /// The key is blocked in LiteLLM (LiteLLM calls it "revoked") without our suspension.
    Revoked,
    /// The key's expiry has passed.
    Expired,
}

impl KeyProblem {
    /// The problem with a key of `status`; `None` for an active key.
    pub fn of(status: KeyStatus) -> Option<KeyProblem> {
        match status {
            KeyStatus::Active => None,
            KeyStatus::Deleted => Some(KeyProblem::Deleted),
            KeyStatus::Revoked => Some(KeyProblem::Revoked),
            KeyStatus::Expired => Some(KeyProblem::Expired),
        }
    }

    /// The end of "The LiteLLM key of tenant X ...".
    pub fn sentence(self) -> &'static str {
        match self {
            KeyProblem::Unknown => "is unknown to LiteLLM",
            KeyProblem::Deleted => "was deleted in LiteLLM",
            KeyProblem::Revoked => "is blocked (revoked) in LiteLLM",
            KeyProblem::Expired => "has expired in LiteLLM",
        }
    }

    /// The key's state as clients read it in error metadata (`key_state`).
    pub fn state(self) -> &'static str {
        match self {
            KeyProblem::Unknown => "unknown",
            KeyProblem::Deleted => "deleted",
            KeyProblem::Revoked => "revoked",
            KeyProblem::Expired => "expired",
        }
    }

    fn code(self) -> ErrorCode {
        match self {
            KeyProblem::Unknown | KeyProblem::Deleted => ErrorCode::KeyLost,
            KeyProblem::Revoked => ErrorCode::KeySuspended,
            KeyProblem::Expired => ErrorCode::KeyExpired,
        }
    }
}

/// The stable reason of an error: what clients branch on (never the message text). Its
/// [`as_str`](ErrorCode::as_str) is the `google.rpc.ErrorInfo` reason, listed in the proto
/// and the README; a reason, once published, keeps its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidArgument,
    TenantNotFound,
    TenantExists,
    EtagMismatch,
    /// The tenant's key is deleted in LiteLLM or unknown to it: attach or rotate a key.
    KeyLost,
    /// The tenant's key is blocked (revoked) in LiteLLM.
    KeySuspended,
    KeyExpired,
    KeyAliasTaken,
    LitellmUnavailable,
    LitellmWriteFailed,
    DatabaseUnavailable,
    LitellmDrift,
    NotSaved,
    Internal,
    Unauthenticated,
    PermissionDenied,
    RateLimited,
    AuthThrottled,
    AuthUnavailable,
}

impl ErrorCode {
    /// Every reason, in the order the README lists them.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::InvalidArgument,
        ErrorCode::TenantNotFound,
        ErrorCode::TenantExists,
        ErrorCode::EtagMismatch,
        ErrorCode::KeyLost,
        ErrorCode::KeySuspended,
        ErrorCode::KeyExpired,
        ErrorCode::KeyAliasTaken,
        ErrorCode::LitellmUnavailable,
        ErrorCode::LitellmWriteFailed,
        ErrorCode::DatabaseUnavailable,
        ErrorCode::LitellmDrift,
        ErrorCode::NotSaved,
        ErrorCode::Internal,
        ErrorCode::Unauthenticated,
        ErrorCode::PermissionDenied,
        ErrorCode::RateLimited,
        ErrorCode::AuthThrottled,
        ErrorCode::AuthUnavailable,
    ];

    /// The reason in UPPER_SNAKE_CASE, as `google.rpc.ErrorInfo.reason` carries it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::TenantNotFound => "TENANT_NOT_FOUND",
            ErrorCode::TenantExists => "TENANT_EXISTS",
            ErrorCode::EtagMismatch => "ETAG_MISMATCH",
            ErrorCode::KeyLost => "KEY_LOST",
            ErrorCode::KeySuspended => "KEY_SUSPENDED",
            ErrorCode::KeyExpired => "KEY_EXPIRED",
            ErrorCode::KeyAliasTaken => "KEY_ALIAS_TAKEN",
            ErrorCode::LitellmUnavailable => "LITELLM_UNAVAILABLE",
            ErrorCode::LitellmWriteFailed => "LITELLM_WRITE_FAILED",
            ErrorCode::DatabaseUnavailable => "DATABASE_UNAVAILABLE",
            ErrorCode::LitellmDrift => "LITELLM_DRIFT",
            ErrorCode::NotSaved => "NOT_SAVED",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::AuthThrottled => "AUTH_THROTTLED",
            ErrorCode::AuthUnavailable => "AUTH_UNAVAILABLE",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl BudgetError {
    /// The error itself, through any sharing between callers of one cache fill.
    fn unshared(&self) -> &BudgetError {
        match self {
            BudgetError::Shared(inner) => inner.unshared(),
            other => other,
        }
    }

    /// The stable reason.
    pub fn error_code(&self) -> ErrorCode {
        match self.unshared() {
            BudgetError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            BudgetError::TenantNotFound(_) => ErrorCode::TenantNotFound,
            BudgetError::TenantExists(_) => ErrorCode::TenantExists,
            BudgetError::StaleEtag => ErrorCode::EtagMismatch,
            BudgetError::KeyUnusable { problem, .. } => problem.code(),
            BudgetError::KeyAliasTaken(_) => ErrorCode::KeyAliasTaken,
            BudgetError::BudgetDataUnavailable(_) => ErrorCode::LitellmUnavailable,
            BudgetError::LiteLlmWriteFailed(_) => ErrorCode::LitellmWriteFailed,
            BudgetError::DatabaseUnavailable(_) => ErrorCode::DatabaseUnavailable,
            BudgetError::Drift(_) => ErrorCode::LitellmDrift,
            BudgetError::NotSaved(_) => ErrorCode::NotSaved,
            BudgetError::Internal(_) => ErrorCode::Internal,
            BudgetError::Unauthenticated => ErrorCode::Unauthenticated,
            BudgetError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            BudgetError::RateLimited { .. } => ErrorCode::RateLimited,
            BudgetError::AuthThrottled { .. } => ErrorCode::AuthThrottled,
            BudgetError::AuthUnavailable => ErrorCode::AuthUnavailable,
            BudgetError::Shared(_) => ErrorCode::Internal,
        }
    }

    /// What the caller may read: never SQL, upstream bodies, URLs or keys.
    pub fn public_message(&self) -> String {
        match self.unshared() {
            BudgetError::InvalidArgument(violations) => violations
                .iter()
                .map(|v| v.description.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            BudgetError::TenantNotFound(id) => format!("Tenant {id} not found"),
            BudgetError::TenantExists(id) => format!("Tenant {id} already exists"),
            BudgetError::StaleEtag => STALE_ETAG.to_owned(),
            BudgetError::KeyUnusable { tenant, problem } => {
                format!("The LiteLLM key of tenant {tenant} {}", problem.sentence())
            }
            BudgetError::KeyAliasTaken(alias) => format!(
                "LiteLLM already has a key with alias {alias}; adopt it with `budget-service tenant adopt-key`"
            ),
            BudgetError::BudgetDataUnavailable(_) => BUDGET_DATA_UNAVAILABLE.to_owned(),
            BudgetError::LiteLlmWriteFailed(_) => LITELLM_WRITE_FAILED.to_owned(),
            BudgetError::DatabaseUnavailable(_) => {
                "Budget database unavailable; nothing was saved".to_owned()
            }
            BudgetError::Drift(_) => {
                "The change reached LiteLLM but could not be saved; it will be repaired automatically"
                    .to_owned()
            }
            BudgetError::NotSaved(_) => {
                "The budget could not be saved; nothing was changed".to_owned()
            }
            BudgetError::Internal(_) | BudgetError::Shared(_) => INTERNAL_MESSAGE.to_owned(),
            BudgetError::Unauthenticated => "Missing, unknown or revoked token".to_owned(),
            BudgetError::PermissionDenied(what) => what.clone(),
            BudgetError::RateLimited { retry_after } => format!(
                "Too many changes; retry in {:.1} s",
                retry_after.as_secs_f64()
            ),
            BudgetError::AuthThrottled { retry_after } => format!(
                "Too many failed authentications from this address; retry in {:.1} s",
                retry_after.as_secs_f64()
            ),
            BudgetError::AuthUnavailable => "Cannot check tokens right now".to_owned(),
        }
    }

    /// The tenant the error is about, when it is about one.
    pub fn tenant(&self) -> Option<&TenantId> {
        match self.unshared() {
            BudgetError::TenantNotFound(id)
            | BudgetError::TenantExists(id)
            | BudgetError::KeyUnusable { tenant: id, .. } => Some(id),
            _ => None,
        }
    }

    /// What is wrong with the tenant's LiteLLM key, when that is the error.
    pub fn key_problem(&self) -> Option<KeyProblem> {
        match self.unshared() {
            BudgetError::KeyUnusable { problem, .. } => Some(*problem),
            _ => None,
        }
    }

    /// The LiteLLM key alias the error is about, when it is about one.
    pub fn key_alias(&self) -> Option<&str> {
        match self.unshared() {
            BudgetError::KeyAliasTaken(alias) => Some(alias),
            _ => None,
        }
    }

    /// How long the caller should wait before trying again, when the error says.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.unshared() {
            BudgetError::RateLimited { retry_after }
            | BudgetError::AuthThrottled { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The request's field violations, when the request was invalid.
    pub fn violations(&self) -> &[FieldViolation] {
        match self.unshared() {
            BudgetError::InvalidArgument(violations) => violations,
            _ => &[],
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_distinct_upper_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let reason = code.as_str();
            assert!(seen.insert(reason), "{reason} twice");
            assert!(
                reason.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{reason}"
            );
        }
    }

    #[test]
    fn every_reason_is_documented_for_clients() {
        let readme = include_str!("../../../README.md");
        let proto = include_str!("../../../proto/budget/v1/budget.proto");
        for code in ErrorCode::ALL {
            let reason = code.as_str();
            assert!(
                readme.contains(&format!("| {reason} |")),
                "README lacks {reason}"
            );
            assert!(
                proto.contains(&format!("//   {reason} ")),
                "budget.proto lacks {reason}"
            );
        }
    }

    #[test]
    fn a_shared_error_keeps_its_reason_and_message() {
        let id = TenantId::parse("acme").expect("valid id");
        let shared = BudgetError::Shared(Arc::new(BudgetError::KeyUnusable {
            tenant: id.clone(),
            problem: KeyProblem::Deleted,
        }));
        assert_eq!(shared.error_code(), ErrorCode::KeyLost);
        assert_eq!(shared.tenant(), Some(&id));
        assert_eq!(
            shared.public_message(),
            "The LiteLLM key of tenant acme was deleted in LiteLLM"
        );
    }
}
