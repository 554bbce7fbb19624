//! Tenant lifecycle end to end against PostgreSQL and litellm-sim: DeleteTenant,
//! RotateTenantKey, AttachTenantKey, SuspendTenant and ResumeTenant — the LiteLLM key after
//! each, the audit trail, the role table, and what the rest of the API sees afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use budget_e2e::{AuthedClient, Stack, config, field_violations, key_hash};
use budget_proto::v1 as pb;
use budget_service::domain::auth::Role;
use litellm_sim::KeyStatus;
use serde_json::json;
use tonic::Code;

async fn status(client: &mut AuthedClient, id: &str) -> Result<pb::BudgetStatus, tonic::Status> {
    client
        .get_budget_status(pb::GetBudgetStatusRequest {
            tenant_id: id.into(),
        })
        .await
        .map(|r| r.into_inner().status.unwrap())
}

async fn audit(stack: &Stack, id: &str) -> Vec<pb::AuditEvent> {
    stack
        .client()
        .list_audit_events(pb::ListAuditEventsRequest {
            tenant_id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events
}

async fn list(stack: &Stack, include_deleted: bool) -> Vec<pb::TenantSummary> {
    stack
        .client()
        .list_tenants(pb::ListTenantsRequest {
            include_deleted,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tenants
}

/// The sim's key hash of a tenant, as stored by budget-service.
async fn stored_hash(stack: &Stack, id: &str) -> String {
    let id = budget_service::domain::TenantId::parse(id).unwrap();
    let (tenant, _) = stack.store.tenant_config(&id).await.unwrap().unwrap();
    tenant.key_hash
}

/// One chat call with a raw key; returns the HTTP status.
async fn chat(stack: &Stack, raw_key: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/chat/completions", stack.sim.base_url()))
        .bearer_auth(raw_key)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn delete_tenant_deletes_its_key_and_answers_not_found_afterwards() {
    let stack = Stack::start().await;
    let acme = stack.create_tenant("acme", 100).await;
    stack.create_tenant("globex", 100).await;
    let hash = key_hash(&acme.virtual_key);
    let mut client = stack.client();

    let deleted = client
        .delete_tenant(pb::DeleteTenantRequest {
            tenant_id: "acme".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    assert_eq!(deleted.tenant_id, "acme");
    assert!(deleted.delete_time.is_some());
    assert_eq!(stack.sim().key(&hash).unwrap().status, KeyStatus::Deleted);
    assert_ne!(chat(&stack, &acme.virtual_key).await, 200);

    assert_eq!(
        status(&mut client, "acme").await.unwrap_err().code(),
        Code::NotFound
    );
    let config_err = client
        .get_budget_config(pb::GetBudgetConfigRequest {
            tenant_id: "acme".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(config_err.code(), Code::NotFound);
    let update_err = client
        .update_budget_config(pb::UpdateBudgetConfigRequest {
            tenant_id: "acme".into(),
            config: Some(config(200, 80, 110, "30d")),
            etag: String::new(),
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(update_err.code(), Code::NotFound);
    for code in [
        client
            .list_alerts(pb::ListAlertsRequest {
                tenant_id: "acme".into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        client
            .suspend_tenant(pb::SuspendTenantRequest {
                tenant_id: "acme".into(),
                reason: String::new(),
            })
            .await
            .map(|_| ()),
        client
            .rotate_tenant_key(pb::RotateTenantKeyRequest {
                tenant_id: "acme".into(),
            })
            .await
            .map(|_| ()),
        client
            .delete_tenant(pb::DeleteTenantRequest {
                tenant_id: "acme".into(),
            })
            .await
            .map(|_| ()),
    ] {
        assert_eq!(code.unwrap_err().code(), Code::NotFound);
    }

    // Listing: hidden by default, in the archive with include_deleted.
    let ids: Vec<_> = list(&stack, false)
        .await
        .into_iter()
        .map(|t| t.tenant_id)
        .collect();
    assert_eq!(ids, ["globex"]);
    let all = list(&stack, true).await;
    let ids: Vec<_> = all.iter().map(|t| t.tenant_id.as_str()).collect();
    assert_eq!(ids, ["acme", "globex"]);
    assert!(all[0].delete_time.is_some() && all[1].delete_time.is_none());

    // The id is not reused.
    let again = client
        .create_tenant(pb::CreateTenantRequest {
            tenant_id: "acme".into(),
            display_name: String::new(),
            config: Some(config(100, 80, 110, "30d")),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);

    // The audit trail is kept and records the deletion.
    let events = audit(&stack, "acme").await;
    assert_eq!(events[0].action, "tenant_deleted");
    assert_eq!(events[0].actor, "bootstrap");
    stack.stop().await;
}

#[tokio::test]
async fn the_evaluator_skips_deleted_tenants() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 100).await;
    stack.create_tenant("globex", 100).await;
    assert_eq!(stack.evaluate().await.tenants, 2);
    stack
        .client()
        .delete_tenant(pb::DeleteTenantRequest {
            tenant_id: "globex".into(),
        })
        .await
        .unwrap();
    let report = stack.evaluate().await;
    assert_eq!(report.tenants, 1);
    stack.stop().await;
}

#[tokio::test]
async fn rotate_replaces_the_key_and_carries_the_spend_over() {
    let stack = Stack::start().await;
    let acme = stack.create_tenant("acme", 100).await;
    let old_hash = key_hash(&acme.virtual_key);
    stack.sim().set_spend(&old_hash, 12.5).unwrap();
    let mut client = stack.client();

    let rotated = client
        .rotate_tenant_key(pb::RotateTenantKeyRequest {
            tenant_id: "acme".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let new_hash = key_hash(&rotated.virtual_key);
    assert_eq!(rotated.tenant.unwrap().key_alias, "tenant-acme-1");
    assert_eq!(stored_hash(&stack, "acme").await, new_hash);

    let old = stack.sim().key(&old_hash).unwrap();
    assert_eq!(old.status, KeyStatus::Deleted);
    let new = stack.sim().key(&new_hash).unwrap();
    assert_eq!(new.status, KeyStatus::Active);
    assert_eq!(new.key_alias.as_deref(), Some("tenant-acme-1"));
    assert_eq!(new.max_budget, old.max_budget);
    assert_eq!(new.soft_budget, old.soft_budget);
    assert_eq!(new.max_budget, Some(110.0));
    assert_eq!(new.soft_budget, Some(80.0));
    assert_eq!(new.budget_duration.as_deref(), Some("30d"));
    assert_eq!(new.spend, 12.5);
    assert_eq!(new.metadata.get("tenant_id"), Some(&json!("acme")));
    assert_eq!(chat(&stack, &rotated.virtual_key).await, 200);
    assert_ne!(chat(&stack, &acme.virtual_key).await, 200);

    // The status reads the new key.
    stack.sim().set_spend(&new_hash, 20.0).unwrap();
    assert_eq!(
        status(&mut client, "acme").await.unwrap().spend_micros,
        20_000_000
    );

    let events = audit(&stack, "acme").await;
    assert_eq!(events[0].action, "tenant_key_rotated");
    assert_eq!(events[0].actor, "bootstrap");

    // A second rotation counts on.
    let second = client
        .rotate_tenant_key(pb::RotateTenantKeyRequest {
            tenant_id: "acme".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.tenant.unwrap().key_alias, "tenant-acme-2");
    assert_eq!(
        stack.sim().key(&new_hash).unwrap().status,
        KeyStatus::Deleted
    );
    assert_eq!(
        stack
            .sim()
            .key(&key_hash(&second.virtual_key))
            .unwrap()
            .spend,
        20.0
    );
    stack.stop().await;
}

/// A key made outside budget-service, straight in LiteLLM; returns its raw value.
async fn outside_key(stack: &Stack, alias: &str, duration: Option<&str>) -> String {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/key/generate", stack.sim.base_url()))
        .bearer_auth(budget_e2e::SIM_MASTER_KEY)
        .json(&json!({"key_alias": alias, "max_budget": 1.0, "budget_duration": duration}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn attach_key_points_the_tenant_at_an_existing_key() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 100).await;
    let raw = outside_key(&stack, "made-elsewhere", Some("30d")).await;
    let hash = key_hash(&raw);
    stack.sim().set_spend(&hash, 7.0).unwrap();
    let reset_before = stack.sim().key(&hash).unwrap().budget_reset_at;
    let mut client = stack.client();

    let tenant = client
        .attach_tenant_key(pb::AttachTenantKeyRequest {
            tenant_id: "acme".into(),
            key_hash: hash.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    assert_eq!(tenant.key_alias, "made-elsewhere");
    assert_eq!(stored_hash(&stack, "acme").await, hash);
    let key = stack.sim().key(&hash).unwrap();
    assert_eq!(key.max_budget, Some(110.0));
    assert_eq!(key.soft_budget, Some(80.0));
    // Same period already: budget_duration not sent, so the period was not restarted.
    assert_eq!(key.budget_reset_at, reset_before);
    assert_eq!(
        status(&mut client, "acme").await.unwrap().spend_micros,
        7_000_000
    );

    let events = audit(&stack, "acme").await;
    assert_eq!(events[0].action, "tenant_key_attached");

    // A key that is unknown, malformed or another tenant's is refused per field.
    stack.create_tenant("globex", 100).await;
    for bad in [
        "0".repeat(64),
        "not-a-hash".into(),
        stored_hash(&stack, "globex").await,
    ] {
        let err = client
            .attach_tenant_key(pb::AttachTenantKeyRequest {
                tenant_id: "acme".into(),
                key_hash: bad,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(field_violations(&err)[0].0, "key_hash");
    }
    // A deleted key is refused.
    let gone = outside_key(&stack, "gone", None).await;
    reqwest::Client::new()
        .post(format!("{}/key/delete", stack.sim.base_url()))
        .bearer_auth(budget_e2e::SIM_MASTER_KEY)
        .json(&json!({"keys": [key_hash(&gone)]}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let err = client
        .attach_tenant_key(pb::AttachTenantKeyRequest {
            tenant_id: "acme".into(),
            key_hash: key_hash(&gone),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(stored_hash(&stack, "acme").await, hash);
    stack.stop().await;
}

#[tokio::test]
async fn suspend_blocks_the_key_and_resume_unblocks_it() {
    let stack = Stack::start().await;
    let acme = stack.create_tenant("acme", 100).await;
    let hash = key_hash(&acme.virtual_key);
    stack.sim().set_spend(&hash, 5.0).unwrap();
    let mut client = stack.client();

    let tenant = client
        .suspend_tenant(pb::SuspendTenantRequest {
            tenant_id: "acme".into(),
            reason: "runaway batch job".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    assert!(tenant.suspended);
    let key = stack.sim().key(&hash).unwrap();
    assert!(key.blocked);
    assert_eq!(key.status, KeyStatus::Revoked);
    assert_ne!(chat(&stack, &acme.virtual_key).await, 200);

    let suspended = status(&mut client, "acme").await.unwrap();
    assert!(suspended.suspended);
    assert_eq!(suspended.spend_micros, 5_000_000);
    // The evaluator keeps evaluating it, and the fleet view shows it suspended.
    assert_eq!(stack.evaluate().await.tenants, 1);
    let fleet = list(&stack, false).await;
    assert!(fleet[0].suspended && fleet[0].status_available);
    assert!(status(&mut client, "acme").await.unwrap().suspended);

    let events = audit(&stack, "acme").await;
    assert_eq!(events[0].action, "tenant_suspended");
    assert!(
        events[0].detail.contains("runaway batch job"),
        "{:?}",
        events[0]
    );

    let resumed = client
        .resume_tenant(pb::ResumeTenantRequest {
            tenant_id: "acme".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    assert!(!resumed.suspended);
    let key = stack.sim().key(&hash).unwrap();
    assert!(!key.blocked);
    assert_eq!(key.status, KeyStatus::Active);
    assert_eq!(chat(&stack, &acme.virtual_key).await, 200);
    assert!(!status(&mut client, "acme").await.unwrap().suspended);
    assert_eq!(audit(&stack, "acme").await[0].action, "tenant_resumed");
    stack.stop().await;
}

#[tokio::test]
async fn a_rotated_key_of_a_suspended_tenant_stays_blocked() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 100).await;
    let mut client = stack.client();
    client
        .suspend_tenant(pb::SuspendTenantRequest {
            tenant_id: "acme".into(),
            reason: String::new(),
        })
        .await
        .unwrap();
    let rotated = client
        .rotate_tenant_key(pb::RotateTenantKeyRequest {
            tenant_id: "acme".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        stack
            .sim()
            .key(&key_hash(&rotated.virtual_key))
            .unwrap()
            .blocked
    );
    assert!(status(&mut client, "acme").await.unwrap().suspended);
    stack.stop().await;
}

#[tokio::test]
async fn lifecycle_rpcs_follow_the_role_table() {
    let stack = Stack::start().await;
    let acme = stack.create_tenant("acme", 100).await;
    stack.create_tenant("globex", 100).await;
    let admin_token = stack
        .token("acme-admin", Role::TenantAdmin, Some("acme"))
        .await;
    let service_token = stack.token("reader", Role::Service, None).await;
    let mut tenant_admin = stack.client_with(Some(&admin_token));
    let mut service = stack.client_with(Some(&service_token));
    let other_hash = key_hash(&outside_key(&stack, "spare", None).await);

    let suspend = |id: &str| pb::SuspendTenantRequest {
        tenant_id: id.into(),
        reason: "oops".into(),
    };
    let denied = |r: Result<(), tonic::Status>| {
        assert_eq!(r.unwrap_err().code(), Code::PermissionDenied);
    };
    denied(service.suspend_tenant(suspend("acme")).await.map(|_| ()));
    denied(
        tenant_admin
            .suspend_tenant(suspend("globex"))
            .await
            .map(|_| ()),
    );
    denied(
        tenant_admin
            .suspend_tenant(suspend("nope"))
            .await
            .map(|_| ()),
    );
    for id in ["acme", "globex"] {
        denied(
            tenant_admin
                .delete_tenant(pb::DeleteTenantRequest {
                    tenant_id: id.into(),
                })
                .await
                .map(|_| ()),
        );
        denied(
            tenant_admin
                .rotate_tenant_key(pb::RotateTenantKeyRequest {
                    tenant_id: id.into(),
                })
                .await
                .map(|_| ()),
        );
        denied(
            tenant_admin
                .attach_tenant_key(pb::AttachTenantKeyRequest {
                    tenant_id: id.into(),
                    key_hash: other_hash.clone(),
                })
                .await
                .map(|_| ()),
        );
        denied(
            service
                .delete_tenant(pb::DeleteTenantRequest {
                    tenant_id: id.into(),
                })
                .await
                .map(|_| ()),
        );
    }

    // A tenant admin may pull the emergency stop on its own tenant, not release it.
    let tenant = tenant_admin
        .suspend_tenant(suspend("acme"))
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    assert!(tenant.suspended);
    assert!(
        stack
            .sim()
            .key(&key_hash(&acme.virtual_key))
            .unwrap()
            .blocked
    );
    assert_eq!(audit(&stack, "acme").await[0].actor, "acme-admin");
    denied(
        tenant_admin
            .resume_tenant(pb::ResumeTenantRequest {
                tenant_id: "acme".into(),
            })
            .await
            .map(|_| ()),
    );
    denied(
        service
            .resume_tenant(pb::ResumeTenantRequest {
                tenant_id: "acme".into(),
            })
            .await
            .map(|_| ()),
    );
    assert!(
        stack
            .sim()
            .key(&key_hash(&acme.virtual_key))
            .unwrap()
            .blocked
    );
    // Without a token: UNAUTHENTICATED first.
    let err = stack
        .client_with(None)
        .delete_tenant(pb::DeleteTenantRequest {
            tenant_id: "acme".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    stack.stop().await;
}

#[tokio::test]
async fn lifecycle_requests_are_validated() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 100).await;
    let mut client = stack.client();
    let err = client
        .delete_tenant(pb::DeleteTenantRequest {
            tenant_id: "Not An Id".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&err)[0].0, "tenant_id");
    let err = client
        .suspend_tenant(pb::SuspendTenantRequest {
            tenant_id: "acme".into(),
            reason: "x".repeat(501),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&err)[0].0, "reason");
    let err = client
        .attach_tenant_key(pb::AttachTenantKeyRequest {
            tenant_id: "BAD".into(),
            key_hash: "xyz".into(),
        })
        .await
        .unwrap_err();
    let fields: Vec<_> = field_violations(&err).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["tenant_id", "key_hash"]);
    let err = client
        .resume_tenant(pb::ResumeTenantRequest {
            tenant_id: "missing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(!stack.sim().key("tenant-acme").unwrap().blocked);
    stack.stop().await;
}

#[tokio::test]
async fn with_litellm_enterprise_rotation_uses_key_regenerate() {
    let stack = Stack::start_with(budget_e2e::StackOptions {
        litellm_enterprise: true,
        ..Default::default()
    })
    .await;
    // The proxy has the licence too (litellm-sim, like LiteLLM, refuses /key/regenerate
    // without it).
    stack.sim().set_enterprise(true);
    let acme = stack.create_tenant("acme", 100).await;
    let old_hash = key_hash(&acme.virtual_key);
    stack.sim().set_spend(&old_hash, 12.5).unwrap();
    let reset_before = stack.sim().key(&old_hash).unwrap().budget_reset_at;
    stack.sim().reset_calls();
    let rotated = stack
        .client()
        .rotate_tenant_key(pb::RotateTenantKeyRequest {
            tenant_id: "acme".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stack.sim().calls("/key/regenerate"), 1);
    assert_eq!(stack.sim().calls("/key/generate"), 0);
    let new_hash = key_hash(&rotated.virtual_key);
    assert_eq!(stored_hash(&stack, "acme").await, new_hash);
    // Regenerated in place: the old value is gone, spend and period kept.
    assert!(stack.sim().key(&old_hash).is_none());
    let new = stack.sim().key(&new_hash).unwrap();
    assert_eq!(new.key_alias.as_deref(), Some("tenant-acme-1"));
    assert_eq!(new.spend, 12.5);
    assert_eq!(new.max_budget, Some(110.0));
    assert_eq!(new.budget_reset_at, reset_before);
    assert_eq!(
        status(&mut stack.client(), "acme")
            .await
            .unwrap()
            .spend_micros,
        12_500_000
    );
    assert_eq!(chat(&stack, &rotated.virtual_key).await, 200);
    assert_ne!(chat(&stack, &acme.virtual_key).await, 200);
    assert_eq!(audit(&stack, "acme").await[0].action, "tenant_key_rotated");
    stack.stop().await;
}
