//! Who may call what: every role x every RPC x own / other tenant, asserted against the
//! role table; tokens revoked, unknown or missing; the write rate limit; audit actors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use budget_e2e::{AuthedClient, Stack, StackOptions, config};
use budget_proto::v1 as pb;
use budget_service::domain::auth::Role;
use tonic::Code;

/// Calls one RPC for `tenant` and returns its status code (OK included). Every request is
/// valid, so only authentication and authorisation decide.
async fn call(client: &mut AuthedClient, rpc: &str, tenant: &str) -> Code {
    let t = || tenant.to_owned();
    let result = match rpc {
        "WhoAmI" => client.who_am_i(pb::WhoAmIRequest {}).await.map(|_| ()),
        "GetBudgetStatus" => client
            .get_budget_status(pb::GetBudgetStatusRequest { tenant_id: t() })
            .await
            .map(|_| ()),
        "GetBudgetConfig" => client
            .get_budget_config(pb::GetBudgetConfigRequest { tenant_id: t() })
            .await
            .map(|_| ()),
        "ListAlerts" => client
            .list_alerts(pb::ListAlertsRequest {
                tenant_id: t(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "GetSpendHistory" => client
            .get_spend_history(pb::GetSpendHistoryRequest {
                tenant_id: t(),
                days: 7,
            })
            .await
            .map(|_| ()),
        "ListAuditEvents" => client
            .list_audit_events(pb::ListAuditEventsRequest {
                tenant_id: t(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "ListNotificationTargets" => client
            .list_notification_targets(pb::ListNotificationTargetsRequest { tenant_id: t() })
            .await
            .map(|_| ()),
        "PreviewBudgetConfig" => client
            .preview_budget_config(pb::PreviewBudgetConfigRequest {
                tenant_id: t(),
                config: Some(config(400, 80, 110, "30d")),
                update_mask: None,
            })
            .await
            .map(|_| ()),
        "ListTenants" => client
            .list_tenants(pb::ListTenantsRequest::default())
            .await
            .map(|_| ()),
        "UpdateBudgetConfig" => client
            .update_budget_config(pb::UpdateBudgetConfigRequest {
                tenant_id: t(),
                config: Some(config(500, 80, 110, "30d")),
                etag: String::new(),
                update_mask: None,
            })
            .await
            .map(|_| ()),
        "SetNotificationTargets" => client
            .set_notification_targets(pb::SetNotificationTargetsRequest {
                tenant_id: t(),
                targets: vec![],
            })
            .await
            .map(|_| ()),
        "CreateTenant" => client
            .create_tenant(pb::CreateTenantRequest {
                tenant_id: format!(
                    "{tenant}-new-{}",
                    uuid::Uuid::new_v4()
                        .simple()
                        .to_string()
                        .get(..8)
                        .unwrap_or("x")
                ),
                display_name: String::new(),
                config: Some(config(10, 80, 110, "30d")),
            })
            .await
            .map(|_| ()),
        other => panic!("unknown rpc {other}"),
    };
    result.err().map_or(Code::Ok, |status| status.code())
}

const READS: [&str; 7] = [
    "GetBudgetStatus",
    "GetBudgetConfig",
    "PreviewBudgetConfig",
    "ListAlerts",
    "GetSpendHistory",
    "ListAuditEvents",
    "ListNotificationTargets",
];
const WRITES: [&str; 2] = ["UpdateBudgetConfig", "SetNotificationTargets"];

#[tokio::test]
async fn every_role_every_rpc_own_and_other_tenant() {
    let stack = Stack::start().await;
    stack.create_tenant("own", 500).await;
    stack.create_tenant("other", 500).await;
    let platform = stack.client_with(Some(
        &stack.token("platform", Role::PlatformAdmin, None).await,
    ));
    let tenant_admin = stack.client_with(Some(
        &stack
            .token("own-admin", Role::TenantAdmin, Some("own"))
            .await,
    ));
    let service_all = stack.client_with(Some(&stack.token("reader", Role::Service, None).await));
    let service_one = stack.client_with(Some(
        &stack.token("own-reader", Role::Service, Some("own")).await,
    ));

    use Code::{Ok as Allowed, PermissionDenied as Denied};
    // (client, role name, reads own, reads other, writes own, writes other, creates)
    let table = [
        (
            platform,
            "platform_admin",
            Allowed,
            Allowed,
            Allowed,
            Allowed,
            Allowed,
        ),
        (
            tenant_admin,
            "tenant_admin",
            Allowed,
            Denied,
            Allowed,
            Denied,
            Denied,
        ),
        (
            service_all,
            "service (all)",
            Allowed,
            Allowed,
            Denied,
            Denied,
            Denied,
        ),
        (
            service_one,
            "service (own)",
            Allowed,
            Denied,
            Denied,
            Denied,
            Denied,
        ),
    ];
    for (mut client, role, read_own, read_other, write_own, write_other, create) in table {
        assert_eq!(
            call(&mut client, "WhoAmI", "").await,
            Allowed,
            "{role} WhoAmI"
        );
        assert_eq!(
            call(&mut client, "ListTenants", "").await,
            Allowed,
            "{role} ListTenants"
        );
        for rpc in READS {
            assert_eq!(
                call(&mut client, rpc, "own").await,
                read_own,
                "{role} {rpc} own"
            );
            assert_eq!(
                call(&mut client, rpc, "other").await,
                read_other,
                "{role} {rpc} other"
            );
        }
        for rpc in WRITES {
            assert_eq!(
                call(&mut client, rpc, "own").await,
                write_own,
                "{role} {rpc} own"
            );
            assert_eq!(
                call(&mut client, rpc, "other").await,
                write_other,
                "{role} {rpc} other"
            );
        }
        assert_eq!(
            call(&mut client, "CreateTenant", "own").await,
            create,
            "{role} CreateTenant"
        );
    }

    // Anonymous, unknown and revoked tokens: UNAUTHENTICATED everywhere.
    let mut anonymous = stack.client_with(None);
    let mut unknown = stack.client_with(Some("bgt_not_a_real_token"));
    for rpc in READS
        .iter()
        .chain(WRITES.iter())
        .chain(["WhoAmI", "ListTenants", "CreateTenant"].iter())
    {
        assert_eq!(
            call(&mut anonymous, rpc, "own").await,
            Code::Unauthenticated,
            "anonymous {rpc}"
        );
        assert_eq!(
            call(&mut unknown, rpc, "own").await,
            Code::Unauthenticated,
            "unknown {rpc}"
        );
    }
    stack.stop().await;
}

#[tokio::test]
async fn scoped_tokens_list_only_their_tenant_and_whoami_says_who() {
    let stack = Stack::start().await;
    for id in ["acme", "globex", "initech"] {
        stack.create_tenant(id, 100).await;
    }
    let token = stack
        .token("acme-admin", Role::TenantAdmin, Some("acme"))
        .await;
    let mut client = stack.client_with(Some(&token));
    let me = client
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (me.name.as_str(), me.role(), me.tenant_id.as_str()),
        ("acme-admin", pb::Role::TenantAdmin, "acme")
    );
    let listed = client
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tenants;
    assert_eq!(
        listed
            .iter()
            .map(|t| t.tenant_id.as_str())
            .collect::<Vec<_>>(),
        vec!["acme"]
    );

    // Changes are audited with the token's name.
    client
        .update_budget_config(pb::UpdateBudgetConfigRequest {
            tenant_id: "acme".into(),
            config: Some(config(150, 80, 110, "30d")),
            etag: String::new(),
            update_mask: None,
        })
        .await
        .unwrap();
    let events = client
        .list_audit_events(pb::ListAuditEventsRequest {
            tenant_id: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events[0].actor, "acme-admin");
    let admin = stack
        .client()
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (admin.name.as_str(), admin.role()),
        ("bootstrap", pb::Role::PlatformAdmin)
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_revoked_token_stops_working_within_the_cache_lifetime() {
    let stack = Stack::start().await;
    let token = stack.token("short-lived", Role::Service, None).await;
    let mut client = stack.client_with(Some(&token));
    assert!(client.who_am_i(pb::WhoAmIRequest {}).await.is_ok());
    stack
        .authenticator
        .revoke_token("test", "short-lived")
        .await
        .unwrap();
    // BUDGET_TOKEN_CACHE_SECS defaults to 5.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let err = client.who_am_i(pb::WhoAmIRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let stored: Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> =
        sqlx::query_as("SELECT token_hash, last_used_at FROM api_tokens")
            .fetch_all(stack.store.pool())
            .await
            .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].0, token, "only the hash is stored");
    assert!(stored[0].1.is_some(), "last use recorded");
    stack.stop().await;
}

#[tokio::test]
async fn writes_are_rate_limited_per_token_with_a_retry_delay() {
    let stack = Stack::start_with(StackOptions {
        write_rate_per_sec: 1.0,
        write_burst: 3.0,
        ..Default::default()
    })
    .await;
    stack.create_tenant("acme", 100).await;
    let fast = stack.token("fast", Role::TenantAdmin, Some("acme")).await;
    let other = stack.token("other", Role::TenantAdmin, Some("acme")).await;
    let update = |token: String| {
        let mut client = stack.client_with(Some(&token));
        async move {
            client
                .update_budget_config(pb::UpdateBudgetConfigRequest {
                    tenant_id: "acme".into(),
                    config: Some(config(100, 80, 110, "30d")),
                    etag: String::new(),
                    update_mask: None,
                })
                .await
        }
    };
    for _ in 0..3 {
        update(fast.clone()).await.unwrap();
    }
    let limited = update(fast.clone()).await.unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted);
    use tonic_types::StatusExt;
    let retry = limited
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .unwrap();
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(1),
        "{retry:?}"
    );
    update(other)
        .await
        .expect("another token has its own budget");
    tokio::time::sleep(retry + Duration::from_millis(50)).await;
    update(fast).await.expect("allowed again after the delay");
    // Reads are never limited.
    let mut reader = stack.client();
    for _ in 0..20 {
        reader
            .get_budget_config(pb::GetBudgetConfigRequest {
                tenant_id: "acme".into(),
            })
            .await
            .unwrap();
    }
    stack.stop().await;
}

/// The RetryInfo delay of a status, if any.
fn retry_delay(status: &tonic::Status) -> Option<Duration> {
    use tonic_types::StatusExt;
    status.get_details_retry_info().and_then(|r| r.retry_delay)
}

#[tokio::test]
async fn failed_authentications_are_throttled_per_address_with_a_retry_delay() {
    let stack = Stack::start_with(StackOptions {
        auth_failure_burst: 3,
        auth_failures_per_min: 60,
        ..Default::default()
    })
    .await;
    let token = stack.token("svc", Role::Service, None).await;
    let mut valid = stack.client_with(Some(&token));
    // Successes never count, however many.
    for _ in 0..50 {
        valid.who_am_i(pb::WhoAmIRequest {}).await.unwrap();
    }
    let mut missing = stack.client_with(None);
    let err = missing.who_am_i(pb::WhoAmIRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    for n in 0..2 {
        let mut made_up = stack.client_with(Some(&format!("bgt_made_up_{n}")));
        let err = made_up.who_am_i(pb::WhoAmIRequest {}).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
    }
    let mut made_up = stack.client_with(Some("bgt_made_up_again"));
    let throttled = made_up.who_am_i(pb::WhoAmIRequest {}).await.unwrap_err();
    assert_eq!(throttled.code(), Code::ResourceExhausted, "{throttled:?}");
    let retry = retry_delay(&throttled).expect("a RetryInfo delay");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(1),
        "{retry:?}"
    );
    // The throttled address keeps working with tokens already seen valid (and the bootstrap
    // token); a token it never used waits like any unknown one, without reaching the database.
    valid.who_am_i(pb::WhoAmIRequest {}).await.unwrap();
    stack.client().who_am_i(pb::WhoAmIRequest {}).await.unwrap();
    let fresh = stack.token("fresh", Role::Service, None).await;
    let err = stack
        .client_with(Some(&fresh))
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    tokio::time::sleep(retry + Duration::from_millis(50)).await;
    let err = made_up.who_am_i(pb::WhoAmIRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "allowed to try again");
    stack.stop().await;
}

/// Unknown tokens may hold at most a quarter of the pool: with every token lookup stuck behind
/// a lock, a signed-in caller still gets a connection for its own query.
#[tokio::test]
async fn unknown_tokens_never_hold_more_than_their_share_of_the_pool() {
    use sqlx::Connection;
    let stack = Stack::start_with(StackOptions {
        db_max_connections: 4,
        db_acquire_timeout_secs: 2,
        ..Default::default()
    })
    .await;
    stack.create_tenant("acme", 100).await;
    // Every token lookup now waits for this lock, holding its connection.
    let mut locker = sqlx::PgConnection::connect(&stack.db.url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    let flood: Vec<_> = (0..40)
        .map(|n| {
            let mut client = stack.client_with(Some(&format!("bgt_flood_{n}")));
            tokio::spawn(async move { client.who_am_i(pb::WhoAmIRequest {}).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (stuck,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock' \
         AND query LIKE '%api_tokens%'",
    )
    .fetch_one(&mut locker)
    .await
    .unwrap();
    assert!(
        stuck <= 1,
        "{stuck} token lookups hold connections (pool of 4)"
    );
    // The platform admin's call finds a connection at once.
    let started = std::time::Instant::now();
    stack
        .client()
        .get_budget_config(pb::GetBudgetConfigRequest {
            tenant_id: "acme".into(),
        })
        .await
        .expect("a connection for a signed-in caller");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    sqlx::raw_sql("COMMIT").execute(&mut locker).await.unwrap();
    for call in flood {
        let code = call.await.unwrap().unwrap_err().code();
        assert!(
            matches!(code, Code::Unauthenticated | Code::Unavailable),
            "{code:?}"
        );
    }
    stack.stop().await;
}
