//! The one table from [`BudgetError`] to `tonic::Status`. Causes are logged here, once;
//! callers never see SQL, upstream bodies, URLs or keys.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::BudgetError;

pub const BUDGET_DATA_UNAVAILABLE: &str = "Budget data unavailable";
pub const LITELLM_WRITE_FAILED: &str = "LiteLLM unavailable; nothing was saved";
pub const STALE_ETAG: &str =
    "This budget was changed by someone else; reload to see the latest values";

impl From<BudgetError> for Status {
    fn from(error: BudgetError) -> Status {
        match error {
            BudgetError::Shared(shared) => status_of(&shared),
            other => status_of(&other),
        }
    }
}

fn status_of(error: &BudgetError) -> Status {
    match error {
        BudgetError::InvalidArgument(violations) => {
            let mut details = ErrorDetails::new();
            for v in violations {
                details.add_bad_request_violation(v.field.clone(), v.description.clone());
            }
            let message = violations
                .iter()
                .map(|v| v.description.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            Status::with_error_details(Code::InvalidArgument, message, details)
        }
        BudgetError::TenantNotFound(id) => Status::not_found(format!("Tenant {id} not found")),
        BudgetError::TenantExists(id) => {
            Status::already_exists(format!("Tenant {id} already exists"))
        }
        BudgetError::StaleEtag => Status::aborted(STALE_ETAG),
        BudgetError::KeyUnusable { tenant, problem } => {
            Status::failed_precondition(format!("The LiteLLM key of tenant {tenant} {problem}"))
        }
        BudgetError::KeyAliasTaken(alias) => Status::failed_precondition(format!(
            "LiteLLM already has a key with alias {alias}; attach it with `budget-service tenant attach`"
        )),
        BudgetError::BudgetDataUnavailable(cause) => {
            tracing::warn!(error = %cause, "LiteLLM read failed");
            Status::unavailable(BUDGET_DATA_UNAVAILABLE)
        }
        BudgetError::LiteLlmWriteFailed(cause) => {
            tracing::warn!(error = %cause, "LiteLLM write failed; nothing saved");
            Status::unavailable(LITELLM_WRITE_FAILED)
        }
        BudgetError::DatabaseUnavailable(cause) => {
            tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "database unavailable");
            Status::unavailable("Budget database unavailable; nothing was saved")
        }
        BudgetError::Drift(cause) => {
            tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "LiteLLM and database disagree");
            Status::internal(
                "The change reached LiteLLM but could not be saved; it will be repaired automatically",
            )
        }
        BudgetError::NotSaved(cause) => {
            tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "save failed; LiteLLM restored");
            Status::internal("The budget could not be saved; nothing was changed")
        }
        BudgetError::Internal(cause) => {
            tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "internal error");
            Status::internal("Internal error")
        }
        BudgetError::Unauthenticated => {
            Status::unauthenticated("Missing, unknown or revoked token")
        }
        BudgetError::PermissionDenied(what) => Status::permission_denied(what.clone()),
        BudgetError::RateLimited { retry_after } => {
            let mut details = ErrorDetails::new();
            details.set_retry_info(Some(*retry_after));
            Status::with_error_details(
                Code::ResourceExhausted,
                format!(
                    "Too many changes; retry in {:.1} s",
                    retry_after.as_secs_f64()
                ),
                details,
            )
        }
        BudgetError::AuthThrottled { retry_after } => {
            let mut details = ErrorDetails::new();
            details.set_retry_info(Some(*retry_after));
            Status::with_error_details(
                Code::ResourceExhausted,
                format!(
                    "Too many failed authentications from this address; retry in {:.1} s",
                    retry_after.as_secs_f64()
                ),
                details,
            )
        }
        BudgetError::AuthUnavailable => Status::unavailable("Cannot check tokens right now"),
        BudgetError::Shared(inner) => status_of(inner),
    }
}
