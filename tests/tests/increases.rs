//! Temporary budget increases: the key's limits and the status follow the effective budget
//! while it lasts, validation and the role check, audit, UpdateBudgetConfig and drift repair
//! during an increase, and the evaluator reverting it at expiry, also after a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration as StdDuration;

use budget_e2e::{SIM_MASTER_KEY, Stack, config, field_violations};
use budget_proto::v1 as pb;
use budget_service::domain::auth::Role;
use chrono::{Duration, Utc};
use litellm_sim::{Fault, FaultRule};
use tonic::Code;

fn ts(at: chrono::DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

fn grant_request(
    id: &str,
    amount_usd: i64,
    expire: Option<chrono::DateTime<Utc>>,
    reason: &str,
) -> pb::GrantTemporaryIncreaseRequest {
    pb::GrantTemporaryIncreaseRequest {
        tenant_id: id.into(),
        amount_micros: amount_usd * 1_000_000,
        expire_time: expire.map(ts),
        reason: reason.into(),
    }
}

async fn status(stack: &Stack, id: &str) -> pb::BudgetStatus {
    stack
        .client()
        .get_budget_status(pb::GetBudgetStatusRequest {
            tenant_id: id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap()
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

fn limits(stack: &Stack, key: &str) -> (Option<f64>, Option<f64>) {
    let k = stack.sim().key(key).unwrap();
    (k.max_budget, k.soft_budget)
}

#[tokio::test]
async fn grant_raises_the_key_limits_and_the_status_uses_the_effective_budget() {
    let stack = Stack::start().await;
    let key = stack.create_tenant("acme", 500).await.virtual_key;
    let sim = stack.sim();
    sim.set_spend(&key, 600.0).unwrap();
    let before = sim.key(&key).unwrap();
    assert_eq!(
        status(&stack, "acme").await.state(),
        pb::BudgetState::Blocked
    );

    let expire = Utc::now() + Duration::days(7);
    let granted = stack
        .client()
        .grant_temporary_increase(grant_request("acme", 200, Some(expire), " launch "))
        .await
        .unwrap()
        .into_inner()
        .increase
        .unwrap();
    assert_eq!(granted.amount_micros, 200_000_000);
    assert_eq!(granted.expire_time.unwrap().seconds, expire.timestamp());
    assert_eq!(granted.reason, "launch");

    // (500 + 200) x 110 % and x 80 %; the period was not resent, so it did not restart.
    assert_eq!(limits(&stack, &key), (Some(770.0), Some(560.0)));
    let after = sim.key(&key).unwrap();
    assert_eq!(after.budget_duration.as_deref(), Some("30d"));
    assert_eq!(after.budget_reset_at, before.budget_reset_at);

    let s = status(&stack, "acme").await;
    assert_eq!(s.max_budget_micros, 700_000_000);
    assert_eq!(s.base_budget_micros, 500_000_000);
    assert_eq!(s.block_at_micros, 770_000_000);
    assert_eq!(s.alert_at_micros, 560_000_000);
    assert!(
        (s.percent_used - 600.0 / 700.0 * 100.0).abs() < 1e-9,
        "{}",
        s.percent_used
    );
    assert_eq!(s.state(), pb::BudgetState::Warning);
    let shown = s.temporary_increase.unwrap();
    assert_eq!(
        (shown.amount_micros, shown.reason.as_str()),
        (200_000_000, "launch")
    );

    let events = audit(&stack, "acme").await;
    let event = &events[0];
    assert_eq!(event.action, "temporary_increase_granted");
    assert!(event.detail.contains("$200.00"), "{}", event.detail);
    assert!(event.detail.contains("launch"), "{}", event.detail);
    assert_eq!(
        event.new_config.as_ref().unwrap().max_budget_micros,
        700_000_000
    );

    // The evaluator's drift repair compares against the effective limits: nothing to repair.
    let report = stack.evaluate().await;
    assert_eq!((report.keys_repaired, report.increases_expired), (0, 0));
    assert_eq!(limits(&stack, &key), (Some(770.0), Some(560.0)));
    stack
        .client()
        .update_budget_config(pb::UpdateBudgetConfigRequest {
            tenant_id: "acme".into(),
            config: Some(config(1000, 80, 110, "30d")),
            etag: String::new(),
            update_mask: None,
        })
        .await
        .unwrap();
    // UpdateBudgetConfig during the increase pushes (1000 + 200) x 110 % / x 80 %.
    assert_eq!(limits(&stack, &key), (Some(1320.0), Some(960.0)));
    assert_eq!(
        sim.key(&key).unwrap().budget_reset_at,
        before.budget_reset_at
    );
    let s = status(&stack, "acme").await;
    assert_eq!(
        (s.max_budget_micros, s.base_budget_micros),
        (1_200_000_000, 1_000_000_000)
    );

    // Granting again replaces the increase in force.
    stack
        .client()
        .grant_temporary_increase(grant_request("acme", 50, Some(expire), "smaller"))
        .await
        .unwrap();
    assert_eq!(limits(&stack, &key), (Some(1155.0), Some(840.0)));
    let s = status(&stack, "acme").await;
    assert_eq!(s.max_budget_micros, 1_050_000_000);
    assert_eq!(s.temporary_increase.unwrap().reason, "smaller");
    let report = stack.evaluate().await;
    assert_eq!(report.keys_repaired, 0);
    stack.stop().await;
}

#[tokio::test]
async fn drift_during_an_increase_is_repaired_to_the_effective_limits() {
    let stack = Stack::start().await;
    let key = stack.create_tenant("acme", 100).await.virtual_key;
    stack
        .client()
        .grant_temporary_increase(grant_request(
            "acme",
            100,
            Some(Utc::now() + Duration::days(1)),
            "launch",
        ))
        .await
        .unwrap();
    assert_eq!(limits(&stack, &key), (Some(220.0), Some(160.0)));
    // Someone sets the key's limits in LiteLLM directly.
    let http = reqwest::Client::new();
    http.post(format!("{}/key/update", stack.sim.base_url()))
        .bearer_auth(SIM_MASTER_KEY)
        .json(&serde_json::json!({"key": key, "max_budget": 5.0, "soft_budget": 1.0}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    assert_eq!(limits(&stack, &key), (Some(5.0), Some(1.0)));
    let report = stack.evaluate().await;
    assert_eq!(report.keys_repaired, 1);
    assert_eq!(limits(&stack, &key), (Some(220.0), Some(160.0)));
    stack.stop().await;
}

#[tokio::test]
async fn invalid_grants_name_each_bad_field_and_only_platform_admins_may_grant() {
    let stack = Stack::start().await;
    let key = stack.create_tenant("acme", 500).await.virtual_key;
    let week = Some(Utc::now() + Duration::days(7));
    let cases: Vec<(pb::GrantTemporaryIncreaseRequest, Vec<(&str, &str)>)> = vec![
        (
            grant_request("acme", 0, None, ""),
            vec![
                ("amount_micros", "Amount must be greater than $0"),
                ("expire_time", "Expiry time is required"),
                ("reason", "Reason is required"),
            ],
        ),
        (
            grant_request("acme", 10_000_001, week, "x"),
            vec![("amount_micros", "Amount must be at most $10,000,000")],
        ),
        (
            grant_request("acme", 1, Some(Utc::now() - Duration::minutes(1)), "x"),
            vec![("expire_time", "Expiry time must be in the future")],
        ),
        (
            grant_request("acme", 1, Some(Utc::now() + Duration::days(91)), "x"),
            vec![("expire_time", "Expiry time must be at most 90 days ahead")],
        ),
        (
            grant_request("acme", 1, week, &"r".repeat(201)),
            vec![(
                "reason",
                "Reason must be at most 200 characters, without control characters",
            )],
        ),
        (
            grant_request("Not An Id", 1, week, "x"),
            vec![("tenant_id", budget_service::domain::tenant::TENANT_ID_RULE)],
        ),
    ];
    for (request, want) in cases {
        let err = stack
            .client()
            .grant_temporary_increase(request.clone())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{request:?}");
        let want: Vec<(String, String)> = want
            .into_iter()
            .map(|(f, d)| (f.to_owned(), d.to_owned()))
            .collect();
        assert_eq!(field_violations(&err), want, "{request:?}");
    }
    // At the edges: $10,000,000 and 200 characters are fine.
    stack
        .client()
        .grant_temporary_increase(grant_request("acme", 10_000_000, week, &"r".repeat(200)))
        .await
        .unwrap();

    // Only platform admins: a tenant admin of acme and a service token are refused.
    let tenant_admin = stack
        .token("acme-admin", Role::TenantAdmin, Some("acme"))
        .await;
    let service = stack.token("reader", Role::Service, None).await;
    for token in [tenant_admin, service] {
        let err = stack
            .client_with(Some(&token))
            .grant_temporary_increase(grant_request("acme", 1, week, "sneaky"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
    }
    // An unknown tenant.
    let err = stack
        .client()
        .grant_temporary_increase(grant_request("nobody", 1, week, "x"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // Refused grants changed nothing.
    let granted: Vec<_> = audit(&stack, "acme")
        .await
        .into_iter()
        .filter(|e| e.action == "temporary_increase_granted")
        .collect();
    assert_eq!(granted.len(), 1);
    assert_eq!(limits(&stack, &key).0, Some(11_000_550.0));
    stack.stop().await;
}

#[tokio::test]
async fn a_grant_litellm_refuses_saves_nothing() {
    let stack = Stack::start().await;
    let key = stack.create_tenant("acme", 500).await.virtual_key;
    stack
        .sim()
        .inject(FaultRule::new("/key/update", Fault::Status500).times(1));
    let err = stack
        .client()
        .grant_temporary_increase(grant_request(
            "acme",
            200,
            Some(Utc::now() + Duration::days(1)),
            "launch",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(limits(&stack, &key), (Some(550.0), Some(400.0)));
    let s = status(&stack, "acme").await;
    assert_eq!(s.max_budget_micros, 500_000_000);
    assert!(s.temporary_increase.is_none());
    assert!(
        audit(&stack, "acme")
            .await
            .iter()
            .all(|e| e.action != "temporary_increase_granted")
    );
    stack.stop().await;
}

#[tokio::test]
async fn an_increase_expires_by_itself_even_across_a_restart() {
    let mut stack = Stack::start().await;
    let key = stack.create_tenant("acme", 100).await.virtual_key;
    let reset_at = stack.sim().key(&key).unwrap().budget_reset_at;
    stack.sim().set_spend(&key, 150.0).unwrap();
    let expire = Utc::now() + Duration::seconds(2);
    stack
        .client()
        .grant_temporary_increase(pb::GrantTemporaryIncreaseRequest {
            tenant_id: "acme".into(),
            amount_micros: 100_000_000,
            expire_time: Some(prost_types::Timestamp {
                seconds: expire.timestamp(),
                nanos: i32::try_from(expire.timestamp_subsec_nanos()).unwrap(),
            }),
            reason: "launch".into(),
        })
        .await
        .unwrap();
    assert_eq!(limits(&stack, &key), (Some(220.0), Some(160.0)));
    // Before the expiry a pass changes nothing.
    assert_eq!(stack.evaluate().await.increases_expired, 0);

    // The service stops; a new instance starts on the same database after the expiry.
    stack.begin_shutdown();
    let wait = (expire - Utc::now()).to_std().unwrap_or_default() + StdDuration::from_millis(300);
    tokio::time::sleep(wait).await;
    let mut settings =
        budget_service::Settings::new(&stack.db.url, &stack.sim.base_url(), SIM_MASTER_KEY);
    settings.grpc_addr = "127.0.0.1:0".parse().unwrap();
    settings.http_addr = "127.0.0.1:0".parse().unwrap();
    settings.eval_interval_secs = 0;
    settings.delivery_poll_ms = 0;
    let app = budget_service::Application::build(settings)
        .await
        .expect("second instance builds");
    let budgets = app.budgets();
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let report = budgets.evaluation_pass(&stop).await.unwrap();
    assert_eq!(report.increases_expired, 1);
    assert_eq!(report.keys_repaired, 0);

    assert_eq!(limits(&stack, &key), (Some(110.0), Some(80.0)));
    assert_eq!(stack.sim().key(&key).unwrap().budget_reset_at, reset_at);
    let events = budgets.list_audit("acme", 50, "").await.unwrap().items;
    let expired = events
        .iter()
        .find(|e| e.action == "temporary_increase_expired")
        .expect("expiry audited");
    assert_eq!(expired.actor, "budget-evaluator");
    assert_eq!(expired.new.unwrap().max_budget_micros, 100_000_000);
    assert_eq!(expired.old.unwrap().max_budget_micros, 200_000_000);

    let s = budgets.status("acme").await.unwrap();
    assert_eq!(s.settings.max_budget_micros, 100_000_000);
    assert_eq!(s.base_budget_micros, 100_000_000);
    assert!(s.temporary_increase.is_none());
    assert_eq!(s.state, budget_service::domain::BudgetState::Blocked);

    // Once is enough: the next pass finds nothing to revert or repair.
    let again = budgets.evaluation_pass(&stop).await.unwrap();
    assert_eq!((again.increases_expired, again.keys_repaired), (0, 0));
    drop(budgets);
    drop(app);
    stack.stop().await;
}
