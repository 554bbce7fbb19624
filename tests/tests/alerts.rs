//! The alert evaluator against litellm-sim and PostgreSQL: one alert of each type per budget
//! period, a fresh set after LiteLLM resets the period, a raised budget alerting again, two
//! evaluators without duplicates, the fleet status table, and drift repair.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use budget_e2e::{SIM_MASTER_KEY, Stack, config};
use budget_proto::v1 as pb;
use budget_service::service::{Budgets, SystemClock};
use budget_service::store::Store;
use chrono::{Days, Utc};

/// Oldest first.
async fn alert_types(stack: &Stack, id: &str) -> Vec<pb::AlertType> {
    let mut types = stack.alert_types(id).await;
    types.reverse();
    types
}

#[tokio::test]
async fn each_threshold_fires_once_per_period_and_again_after_the_reset() {
    use pb::AlertType::{Blocked, BudgetExceeded, Threshold};
    let stack = Stack::start().await;
    let key = stack.create_tenant("acme", 100).await.virtual_key;
    let sim = stack.sim();

    for (spend, want) in [
        (50.0, vec![]),
        (79.99, vec![]),
        (80.0, vec![Threshold]),
        (95.0, vec![Threshold]),
        (100.0, vec![Threshold, BudgetExceeded]),
        (109.0, vec![Threshold, BudgetExceeded]),
        (110.0, vec![Threshold, BudgetExceeded, Blocked]),
        (130.0, vec![Threshold, BudgetExceeded, Blocked]),
    ] {
        sim.set_spend(&key, spend).unwrap();
        stack.evaluate().await;
        stack.evaluate().await; // a second pass never repeats an alert
        assert_eq!(alert_types(&stack, "acme").await, want, "at ${spend}");
    }
    let threshold = budget_e2e::first_alerts(&stack.client(), "acme")
        .await
        .into_iter()
        .find(|a| a.r#type() == Threshold)
        .unwrap();
    assert_eq!(
        (threshold.threshold_percent, threshold.max_budget_micros),
        (80, 100_000_000)
    );
    assert_eq!(threshold.spend_micros, 80_000_000);
    assert!(
        threshold.message.contains("80% of the $100.00 budget"),
        "{}",
        threshold.message
    );

    // LiteLLM resets the period: spend goes to 0 and the next crossings alert again.
    let reset = sim.key(&key).unwrap().budget_reset_at.unwrap();
    sim.set_clock(reset + chrono::Duration::hours(1));
    assert_eq!(sim.key(&key).unwrap().spend, 0.0);
    stack.evaluate().await;
    assert_eq!(
        alert_types(&stack, "acme").await.len(),
        3,
        "nothing new at 0 %"
    );
    sim.set_spend(&key, 111.0).unwrap();
    stack.evaluate().await;
    assert_eq!(
        alert_types(&stack, "acme").await,
        vec![
            Threshold,
            BudgetExceeded,
            Blocked,
            Threshold,
            BudgetExceeded,
            Blocked
        ]
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_budget_raised_mid_period_alerts_again_at_the_new_threshold() {
    let stack = Stack::start().await;
    let key = stack.create_tenant("acme", 100).await.virtual_key;
    stack.sim().set_spend(&key, 85.0).unwrap();
    stack.evaluate().await;
    assert_eq!(
        alert_types(&stack, "acme").await,
        vec![pb::AlertType::Threshold]
    );

    stack
        .client()
        .update_budget_config(pb::UpdateBudgetConfigRequest {
            tenant_id: "acme".into(),
            config: Some(config(200, 80, 110, "30d")),
            etag: String::new(),
            update_mask: None,
        })
        .await
        .unwrap();
    stack.evaluate().await;
    assert_eq!(
        alert_types(&stack, "acme").await.len(),
        1,
        "85 of 200 is below the new threshold"
    );
    stack.sim().set_spend(&key, 161.0).unwrap();
    stack.evaluate().await;
    assert_eq!(
        alert_types(&stack, "acme").await,
        vec![pb::AlertType::Threshold, pb::AlertType::Threshold]
    );
    stack.stop().await;
}

#[tokio::test]
async fn two_evaluators_on_one_database_record_each_alert_once() {
    let stack = Stack::start().await;
    for id in ["a", "b", "c", "d"] {
        let key = stack.create_tenant(id, 100).await.virtual_key;
        stack.sim().set_spend(&key, 120.0).unwrap();
    }
    let other_store = Store::connect(&stack.db.url, 5, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let litellm = budget_service::litellm::LiteLlmClient::new(
        &stack.sim.base_url(),
        SIM_MASTER_KEY,
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let other = Arc::new(Budgets::new(
        other_store,
        litellm,
        Arc::new(SystemClock),
        std::time::Duration::from_secs(60),
        Arc::new(budget_service::metrics::Metrics::new()),
    ));
    let (_keep, stop) = tokio::sync::watch::channel(false);
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            stack.budgets.evaluation_pass(&stop),
            other.evaluation_pass(&stop)
        );
        a.unwrap();
        b.unwrap();
    }
    for id in ["a", "b", "c", "d"] {
        assert_eq!(alert_types(&stack, id).await.len(), 3, "tenant {id}");
    }
    stack.stop().await;
}

#[tokio::test]
async fn projected_limit_fires_while_spend_is_under_budget() {
    let stack = Stack::start().await;
    let key = stack
        .create_tenant_with("acme", config(100, 80, 110, "90d"))
        .await
        .virtual_key;
    let today = Utc::now().date_naive();
    for back in 1..=7u64 {
        stack
            .sim()
            .set_daily_spend(&key, today.checked_sub_days(Days::new(back)).unwrap(), 10.0)
            .unwrap();
    }
    stack.sim().set_spend(&key, 70.0).unwrap();
    stack.evaluate().await;
    let alerts = stack
        .client()
        .list_alerts(pb::ListAlertsRequest {
            tenant_id: "acme".into(),
            page_size: 10,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .alerts;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].r#type(), pb::AlertType::ProjectedLimit);
    assert_eq!(alerts[0].threshold_percent, 100);
    // $10/day for ~90 days on top of $70; runs out in 3 days.
    let runs_out = (today + Days::new(3)).format("%Y-%m-%d").to_string();
    assert!(
        alerts[0].message.contains(&runs_out),
        "{}",
        alerts[0].message
    );
    stack.stop().await;
}

#[tokio::test]
async fn the_fleet_view_reads_the_evaluators_status_table_by_percent() {
    let stack = Stack::start().await;
    for (id, spend) in [
        ("acme", 42.0),
        ("globex", 88.0),
        ("initech", 104.0),
        ("umbrella", 116.0),
        ("hooli", 3.0),
    ] {
        let key = stack.create_tenant(id, 100).await.virtual_key;
        stack.sim().set_spend(&key, spend).unwrap();
    }
    stack.create_tenant("newco", 100).await;
    let report = stack.evaluate().await;
    assert_eq!((report.tenants, report.evaluated, report.failed), (6, 6, 0));
    stack.sim().reset_calls();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = stack
            .client()
            .list_tenants(pb::ListTenantsRequest {
                page_size: 2,
                page_token: token,
                filter: String::new(),
                order_by: "percent_used desc".into(),
                include_deleted: false,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(
            page.tenants
                .iter()
                .map(|t| (t.tenant_id.clone(), t.state())),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    use pb::BudgetState::*;
    assert_eq!(
        seen,
        vec![
            ("umbrella".to_owned(), Blocked),
            ("initech".to_owned(), Grace),
            ("globex".to_owned(), Warning),
            ("acme".to_owned(), Ok),
            ("hooli".to_owned(), Ok),
            ("newco".to_owned(), Ok),
        ]
    );
    assert!(
        stack.sim().all_calls().is_empty(),
        "listing made LiteLLM calls: {:?}",
        stack.sim().all_calls()
    );
    let bad = stack
        .client()
        .list_tenants(pb::ListTenantsRequest {
            order_by: "spend".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(budget_e2e::field_violations(&bad)[0].0, "order_by");
    stack.stop().await;
}

#[tokio::test]
async fn a_key_changed_behind_our_back_is_repaired_and_audited() {
    let stack = Stack::start().await;
    let key = stack
        .create_tenant_with("acme", config(500, 80, 110, "60d"))
        .await
        .virtual_key;
    let reset_before = stack.sim().key(&key).unwrap().budget_reset_at;
    stack.sim().advance_clock(chrono::Duration::days(1));
    reqwest::Client::new()
        .post(format!("{}/key/update", stack.sim.base_url()))
        .bearer_auth(SIM_MASTER_KEY)
        .json(&serde_json::json!({"key": key, "max_budget": 9999.0, "soft_budget": 1.0}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let report = stack.evaluate().await;
    assert_eq!(report.keys_repaired, 1);
    let repaired = stack.sim().key(&key).unwrap();
    assert_eq!(
        (repaired.max_budget, repaired.soft_budget),
        (Some(550.0), Some(400.0))
    );
    assert_eq!(
        repaired.budget_reset_at, reset_before,
        "an unchanged period is not resent"
    );
    let events = stack
        .client()
        .list_audit_events(pb::ListAuditEventsRequest {
            tenant_id: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events[0].action, "litellm_key_repaired");
    assert_eq!(
        stack.evaluate().await.keys_repaired,
        0,
        "nothing left to repair"
    );
    stack.stop().await;
}

#[tokio::test]
async fn history_is_kept_while_litellm_is_down() {
    use litellm_sim::{Fault, FaultRule};
    let stack = Stack::start().await;
    let key = stack.create_tenant("acme", 100).await.virtual_key;
    let today = Utc::now().date_naive();
    stack
        .sim()
        .set_daily_spend(&key, today.checked_sub_days(Days::new(2)).unwrap(), 4.0)
        .unwrap();
    stack.evaluate().await;
    stack.sim().set_daily_spend(&key, today, 1.5).unwrap();
    stack.evaluate().await;
    stack.sim().inject(FaultRule::new("/", Fault::Status500));
    let history = stack
        .client()
        .get_spend_history(pb::GetSpendHistoryRequest {
            tenant_id: "acme".into(),
            days: 7,
        })
        .await
        .unwrap()
        .into_inner();
    let spends: Vec<i64> = history.days.iter().map(|d| d.spend_micros).collect();
    assert_eq!(spends, vec![0, 0, 0, 0, 4_000_000, 0, 1_500_000]);
    stack.stop().await;
}
