//! The machine-readable part of budget-service's errors, on real calls over a real socket:
//! every error carries a `google.rpc.ErrorInfo` (domain `budget.v1`, a stable reason, what it
//! is about as metadata), FAILED_PRECONDITION a `PreconditionFailure`, NOT_FOUND a
//! `ResourceInfo`, INVALID_ARGUMENT its `BadRequest` and RESOURCE_EXHAUSTED a `RetryInfo`.
//! Clients branch on these, so a reworded message breaks nobody.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use budget_e2e::{Stack, StackOptions, config, field_violations, key_hash};
use budget_proto::v1 as pb;
use budget_service::domain::auth::Role;
use litellm_sim::{Fault, FaultRule};
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// The ErrorInfo every budget-service error carries: its reason and metadata.
fn error_info(status: &tonic::Status) -> (String, HashMap<String, String>) {
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo on {status:?}"));
    assert_eq!(info.domain, "budget.v1", "{status:?}");
    (info.reason, info.metadata)
}

fn details(status: &tonic::Status) -> ErrorDetails {
    status.get_error_details()
}

/// CreateTenant for `id` with default settings, failure included.
async fn create(stack: &Stack, id: &str) -> Result<pb::CreateTenantResponse, tonic::Status> {
    stack
        .client()
        .create_tenant(pb::CreateTenantRequest {
            tenant_id: id.into(),
            display_name: id.into(),
            config: Some(config(500, 80, 110, "30d")),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn an_unknown_tenant_is_a_missing_resource() {
    let stack = Stack::start().await;
    let err = stack.status("nobody").await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), "Tenant nobody not found");
    let (reason, metadata) = error_info(&err);
    assert_eq!(reason, "TENANT_NOT_FOUND");
    assert_eq!(
        metadata.get("tenant_id").map(String::as_str),
        Some("nobody")
    );
    let resource = details(&err)
        .resource_info()
        .cloned()
        .expect("ResourceInfo");
    assert_eq!(resource.resource_type, "budget.v1.Tenant");
    assert_eq!(resource.resource_name, "nobody");
    stack.stop().await;
}

#[tokio::test]
async fn a_stale_etag_is_an_etag_mismatch() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 500).await;
    let first = stack.config("acme").await.unwrap().etag;
    stack
        .update_config("acme", config(600, 80, 110, "30d"), &first)
        .await
        .unwrap();
    let err = stack
        .update_config("acme", config(900, 80, 110, "30d"), &first)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(error_info(&err).0, "ETAG_MISMATCH");

    let err = create(&stack, "acme").await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    let (reason, metadata) = error_info(&err);
    assert_eq!(reason, "TENANT_EXISTS");
    assert_eq!(metadata.get("tenant_id").map(String::as_str), Some("acme"));
    stack.stop().await;
}

#[tokio::test]
async fn a_key_deleted_in_litellm_is_a_lost_key() {
    let stack = Stack::start().await;
    let created = stack.create_tenant("acme", 500).await;
    stack.create_tenant("globex", 500).await;
    reqwest::Client::new()
        .post(format!("{}/key/delete", stack.sim.base_url()))
        .bearer_auth(budget_e2e::SIM_MASTER_KEY)
        .json(&serde_json::json!({"keys": [key_hash(&created.virtual_key)]}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    let err = stack.status("acme").await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let (reason, metadata) = error_info(&err);
    assert_eq!(reason, "KEY_LOST");
    assert_eq!(metadata.get("tenant_id").map(String::as_str), Some("acme"));
    assert_eq!(
        metadata.get("key_state").map(String::as_str),
        Some("deleted")
    );
    let failure = details(&err)
        .precondition_failure()
        .cloned()
        .expect("PreconditionFailure");
    assert_eq!(failure.violations.len(), 1);
    assert_eq!(failure.violations[0].r#type, "KEY_LOST");
    assert_eq!(failure.violations[0].subject, "tenants/acme/key");
    assert_eq!(failure.violations[0].description, err.message());

    // A key LiteLLM does not know at all is lost too, with its own state.
    stack
        .sim()
        .inject(FaultRule::new("/key/info", Fault::NotFound));
    let err = stack.status("globex").await.unwrap_err();
    let (reason, metadata) = error_info(&err);
    assert_eq!(reason, "KEY_LOST");
    assert_eq!(
        metadata.get("key_state").map(String::as_str),
        Some("unknown")
    );
    stack.stop().await;
}

#[tokio::test]
async fn litellm_down_is_unavailable_with_its_reason() {
    let stack = Stack::start_with(StackOptions {
        cache_ttl_secs: 0,
        litellm_timeout_secs: 1,
        ..StackOptions::default()
    })
    .await;
    stack.create_tenant("acme", 500).await;
    let before = stack.config("acme").await.unwrap().etag;

    stack
        .sim()
        .inject(FaultRule::new("/key/info", Fault::Status500));
    let err = stack.status("acme").await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(err.message(), "Budget data unavailable");
    assert_eq!(error_info(&err).0, "LITELLM_UNAVAILABLE");
    stack.sim().clear_faults();

    stack
        .sim()
        .inject(FaultRule::new("/key/update", Fault::Status500));
    let err = stack
        .update_config("acme", config(900, 80, 110, "30d"), &before)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(err.message(), "LiteLLM unavailable; nothing was saved");
    assert_eq!(error_info(&err).0, "LITELLM_WRITE_FAILED");
    stack.stop().await;
}

#[tokio::test]
async fn invalid_input_keeps_its_field_violations_and_gains_a_reason() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 500).await;
    let before = stack.config("acme").await.unwrap().etag;
    let err = stack
        .update_config("acme", config(0, 10, 200, "7d"), &before)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(error_info(&err).0, "INVALID_ARGUMENT");
    let violations = field_violations(&err);
    assert!(violations.len() >= 3, "{violations:?}");
    let fields: Vec<_> = violations.iter().map(|(field, _)| field.as_str()).collect();
    assert!(
        fields.contains(&"config.max_budget_micros"),
        "{violations:?}"
    );

    let err = stack.status("NOT VALID").await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(error_info(&err).0, "INVALID_ARGUMENT");
    stack.stop().await;
}

#[tokio::test]
async fn callers_the_service_refuses_learn_why_by_reason() {
    let stack = Stack::start_with(StackOptions {
        write_rate_per_sec: 0.001,
        write_burst: 1.0,
        ..StackOptions::default()
    })
    .await;
    let err = stack
        .client_with(None)
        .get_budget_status(pb::GetBudgetStatusRequest {
            tenant_id: "acme".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(error_info(&err).0, "UNAUTHENTICATED");

    let err = stack
        .client_with(Some("not-a-token"))
        .get_budget_status(pb::GetBudgetStatusRequest {
            tenant_id: "acme".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(error_info(&err).0, "UNAUTHENTICATED");

    let reader = stack.token("reader", Role::Service, None).await;
    let err = stack
        .client_with(Some(&reader))
        .create_tenant(pb::CreateTenantRequest {
            tenant_id: "acme".into(),
            display_name: "acme".into(),
            config: Some(config(500, 80, 110, "30d")),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(error_info(&err).0, "PERMISSION_DENIED");

    // The burst of one write goes to the first tenant; the second write must wait.
    stack.create_tenant("acme", 500).await;
    let err = create(&stack, "globex").await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(error_info(&err).0, "RATE_LIMITED");
    assert!(details(&err).retry_info().is_some(), "{err:?}");
    stack.stop().await;
}

#[tokio::test]
async fn a_panicking_call_still_carries_a_reason() {
    let stack = Stack::start_with(StackOptions {
        panic_points: vec![("status:panicky", 1)],
        ..StackOptions::default()
    })
    .await;
    stack.create_tenant("panicky", 500).await;
    let err = stack.status("panicky").await.unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert_eq!(err.message(), "Internal error");
    assert_eq!(error_info(&err).0, "INTERNAL");
    stack.stop().await;
}

#[tokio::test]
async fn database_down_says_which_part_is_unavailable() {
    let stack = Stack::start_with(StackOptions {
        database_via_proxy: true,
        db_acquire_timeout_secs: 1,
        ..StackOptions::default()
    })
    .await;
    stack.create_tenant("acme", 500).await;
    stack.db_proxy.as_ref().unwrap().cut();
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stack
            .client()
            .get_budget_config(pb::GetBudgetConfigRequest {
                tenant_id: "acme".into(),
            }),
    )
    .await
    .expect("an answer within the acquire timeout")
    .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    // The token check or the call itself found the database gone; either way by reason.
    let (reason, _) = error_info(&err);
    assert!(
        ["DATABASE_UNAVAILABLE", "AUTH_UNAVAILABLE"].contains(&reason.as_str()),
        "{err:?}"
    );
    stack.db_proxy.as_ref().unwrap().restore();
    stack.stop().await;
}
