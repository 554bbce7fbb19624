//! The one table from [`BudgetError`] to `tonic::Status`. Causes are logged here, once;
//! callers never see SQL, upstream bodies, URLs or keys.
//!
//! Every Status the service answers carries a `google.rpc.ErrorInfo` (domain [`DOMAIN`], the
//! error's stable reason, and what it is about as metadata), so clients branch on the reason
//! and never on the message. FAILED_PRECONDITION adds a `PreconditionFailure`, NOT_FOUND a
//! `ResourceInfo`, INVALID_ARGUMENT a `BadRequest` and RESOURCE_EXHAUSTED a `RetryInfo`.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub use crate::error::{BUDGET_DATA_UNAVAILABLE, LITELLM_WRITE_FAILED, STALE_ETAG};
use crate::error::{BudgetError, ErrorCode};

/// The `google.rpc.ErrorInfo` domain of every error the service answers.
pub const DOMAIN: &str = "budget.v1";

/// The resource type `google.rpc.ResourceInfo` names for a missing tenant.
pub const TENANT_RESOURCE: &str = "budget.v1.Tenant";

impl From<BudgetError> for Status {
    fn from(error: BudgetError) -> Status {
        log_cause(&error);
        status_of(&error)
    }
}

/// The gRPC code each reason is answered with.
pub fn code_of(reason: ErrorCode) -> Code {
    match reason {
        ErrorCode::InvalidArgument => Code::InvalidArgument,
        ErrorCode::TenantNotFound => Code::NotFound,
        ErrorCode::TenantExists => Code::AlreadyExists,
        ErrorCode::EtagMismatch => Code::Aborted,
        ErrorCode::KeyLost
        | ErrorCode::KeySuspended
        | ErrorCode::KeyExpired
        | ErrorCode::KeyAliasTaken => Code::FailedPrecondition,
        ErrorCode::LitellmUnavailable
        | ErrorCode::LitellmWriteFailed
        | ErrorCode::DatabaseUnavailable
        | ErrorCode::AuthUnavailable => Code::Unavailable,
        ErrorCode::LitellmDrift | ErrorCode::NotSaved | ErrorCode::Internal => Code::Internal,
        ErrorCode::Unauthenticated => Code::Unauthenticated,
        ErrorCode::PermissionDenied => Code::PermissionDenied,
        ErrorCode::RateLimited | ErrorCode::AuthThrottled => Code::ResourceExhausted,
    }
}

/// A Status built outside the table (by a tower layer: a panic, an oversized request) with
/// the same `ErrorInfo` as the table's, so clients read a reason on every error.
pub fn with_reason(reason: ErrorCode, message: impl Into<String>) -> Status {
    let details = ErrorDetails::with_error_info(reason.as_str(), DOMAIN, HashMap::new());
    Status::with_error_details(code_of(reason), message, details)
}

fn status_of(error: &BudgetError) -> Status {
    let reason = error.error_code();
    let message = error.public_message();
    let mut metadata = HashMap::new();
    if let Some(tenant) = error.tenant() {
        metadata.insert("tenant_id".to_owned(), tenant.to_string());
    }
    if let Some(problem) = error.key_problem() {
        metadata.insert("key_state".to_owned(), problem.state().to_owned());
    }
    if let Some(alias) = error.key_alias() {
        metadata.insert("key_alias".to_owned(), alias.to_owned());
    }
    let mut details = ErrorDetails::with_error_info(reason.as_str(), DOMAIN, metadata);
    for v in error.violations() {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    if let Some(retry_after) = error.retry_after() {
        details.set_retry_info(Some(retry_after));
    }
    let code = code_of(reason);
    if code == Code::FailedPrecondition {
        let subject = match (error.tenant(), error.key_alias()) {
            (Some(tenant), _) => format!("tenants/{tenant}/key"),
            (None, Some(alias)) => format!("key_aliases/{alias}"),
            (None, None) => String::new(),
        };
        details.add_precondition_failure_violation(reason.as_str(), subject, message.clone());
    }
    if code == Code::NotFound
        && let Some(tenant) = error.tenant()
    {
        details.set_resource_info(TENANT_RESOURCE, tenant.to_string(), "", message.clone());
    }
    Status::with_error_details(code, message, details)
}

/// Logs what the caller is not told: the cause of an unavailable or internal answer.
fn log_cause(error: &BudgetError) {
    match error {
        BudgetError::Shared(inner) => log_cause(inner),
        BudgetError::BudgetDataUnavailable(cause) => {
            tracing::warn!(error = %cause, "LiteLLM read failed");
        }
        BudgetError::LiteLlmWriteFailed(cause) => {
            tracing::warn!(error = %cause, "LiteLLM write failed; nothing saved");
        }
        BudgetError::DatabaseUnavailable(cause) => {
            tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "database unavailable");
        }
        BudgetError::Drift(cause) => {
            tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "LiteLLM and database disagree");
        }
        BudgetError::NotSaved(cause) => {
            tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "save failed; LiteLLM restored");
        }
        BudgetError::Internal(cause) => {
            tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "internal error");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{FieldViolation, TenantId};
    use crate::error::KeyProblem;

    fn acme() -> TenantId {
        TenantId::parse("acme").expect("valid id")
    }

    #[test]
    fn a_lost_key_names_its_tenant_and_state() {
        let status = Status::from(BudgetError::KeyUnusable {
            tenant: acme(),
            problem: KeyProblem::Unknown,
        });
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.message(),
            "The LiteLLM key of tenant acme is unknown to LiteLLM"
        );
        let details = status.get_error_details();
        let info = details.error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "KEY_LOST");
        assert_eq!(info.domain, DOMAIN);
        assert_eq!(info.metadata["tenant_id"], "acme");
        assert_eq!(info.metadata["key_state"], "unknown");
        let failure = details.precondition_failure().expect("PreconditionFailure");
        assert_eq!(failure.violations[0].r#type, "KEY_LOST");
        assert_eq!(failure.violations[0].subject, "tenants/acme/key");
    }

    #[test]
    fn a_missing_tenant_is_a_resource() {
        let status = Status::from(BudgetError::TenantNotFound(acme()));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "Tenant acme not found");
        let details = status.get_error_details();
        assert_eq!(
            details.error_info().expect("ErrorInfo").reason,
            "TENANT_NOT_FOUND"
        );
        let resource = details.resource_info().expect("ResourceInfo");
        assert_eq!(resource.resource_type, TENANT_RESOURCE);
        assert_eq!(resource.resource_name, "acme");
    }

    #[test]
    fn invalid_input_keeps_its_field_violations() {
        let status = Status::from(BudgetError::InvalidArgument(vec![
            FieldViolation {
                field: "a".into(),
                description: "A is wrong".into(),
            },
            FieldViolation {
                field: "b".into(),
                description: "B is wrong".into(),
            },
        ]));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "A is wrong; B is wrong");
        let details = status.get_error_details();
        assert_eq!(
            details
                .bad_request()
                .expect("BadRequest")
                .field_violations
                .len(),
            2
        );
        assert_eq!(
            details.error_info().expect("ErrorInfo").reason,
            "INVALID_ARGUMENT"
        );
    }

    #[test]
    fn a_rate_limit_says_when_to_retry() {
        let status = Status::from(BudgetError::RateLimited {
            retry_after: std::time::Duration::from_millis(1500),
        });
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(status.message(), "Too many changes; retry in 1.5 s");
        let details = status.get_error_details();
        assert!(details.retry_info().is_some());
        assert_eq!(
            details.error_info().expect("ErrorInfo").reason,
            "RATE_LIMITED"
        );
    }

    #[test]
    fn every_reason_has_a_code() {
        for reason in ErrorCode::ALL {
            let status = with_reason(reason, "x");
            assert_ne!(status.code(), Code::Ok);
            assert_eq!(
                status
                    .get_error_details()
                    .error_info()
                    .expect("ErrorInfo")
                    .reason,
                reason.as_str()
            );
        }
    }
}
