//! LiteLLM's budget webhooks into budget-service's receiver: authentication by the path
//! secret, size and shape checks, and evaluation by our own rules, each alert once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use budget_e2e::{Stack, WEBHOOK_SECRET, config, key_hash};
use budget_proto::v1 as pb;
use serde_json::{Value, json};

/// A webhook body exactly as LiteLLM sends it (contract section 7).
fn event(token: &str, event: &str, spend: f64, max_budget: f64) -> Value {
    json!({
        "spend": spend, "max_budget": max_budget, "soft_budget": null, "token": token,
        "customer_id": null, "user_id": null, "team_id": null, "team_alias": null,
        "organization_id": null, "user_email": null, "key_alias": "tenant-acme",
        "projected_exceeded_date": null, "projected_spend": null, "event_group": "key",
        "alert_emails": null, "max_budget_alert_emails": null, "event": event,
        "event_message": "Key Budget: 15% or less of budget remaining"
    })
}

async fn post(stack: &Stack, secret: &str, body: Vec<u8>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{}/hooks/litellm/{secret}", stack.http_addr))
        .header("content-type", "application/json")
        .header("user-agent", "litellm/1.108.7")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bad_requests_are_refused_without_500_and_change_nothing() {
    let stack = Stack::start().await;
    let key = stack.create_tenant("acme", 100).await.virtual_key;
    stack.sim().set_spend(&key, 120.0).unwrap();
    let body = serde_json::to_vec(&event(&key_hash(&key), "budget_crossed", 120.0, 110.0)).unwrap();

    assert_eq!(post(&stack, "wrong-secret", body.clone()).await.0, 401);
    assert_eq!(post(&stack, "", body.clone()).await.0, 404);
    assert_eq!(
        post(&stack, WEBHOOK_SECRET, b"{not json".to_vec()).await.0,
        400
    );
    assert_eq!(post(&stack, WEBHOOK_SECRET, b"{}".to_vec()).await.0, 400);
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_eq!(post(&stack, WEBHOOK_SECRET, random).await.0, 400);
    let mut huge = serde_json::to_vec(&event(&key_hash(&key), "budget_crossed", 1.0, 1.0)).unwrap();
    huge.extend(std::iter::repeat_n(b' ', 70 * 1024));
    assert_eq!(post(&stack, WEBHOOK_SECRET, huge).await.0, 413);
    assert!(
        stack.alert_types("acme").await.is_empty(),
        "nothing was evaluated"
    );

    let (status, answer) = post(
        &stack,
        WEBHOOK_SECRET,
        serde_json::to_vec(&event(&"ab".repeat(32), "budget_crossed", 1.0, 1.0)).unwrap(),
    )
    .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("ignored")),
        "unknown token"
    );
    let mut team = event(&key_hash(&key), "budget_crossed", 120.0, 110.0);
    team["event_group"] = json!("team");
    let (status, answer) = post(&stack, WEBHOOK_SECRET, serde_json::to_vec(&team).unwrap()).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("ignored")),
        "team event"
    );
    assert!(stack.alert_types("acme").await.is_empty());

    let (status, answer) = post(&stack, WEBHOOK_SECRET, body).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("evaluated"))
    );
    assert_eq!(
        stack.alert_types("acme").await.len(),
        3,
        "our rules: threshold, exceeded, blocked"
    );
    stack.stop().await;
}

#[tokio::test]
async fn every_event_shape_is_accepted_and_our_thresholds_decide() {
    let stack = Stack::start().await;
    // LiteLLM's key max_budget is our block amount ($110): its 85 % alert comes at $93.50.
    let strict = stack
        .create_tenant_with("strict", config(100, 95, 110, "30d"))
        .await
        .virtual_key;
    let usual = stack
        .create_tenant_with("usual", config(100, 80, 110, "30d"))
        .await
        .virtual_key;
    for key in [&strict, &usual] {
        stack.sim().set_spend(key, 93.5).unwrap();
    }
    for (key, id, want) in [(&strict, "strict", 0), (&usual, "usual", 1)] {
        let body = event(&key_hash(key), "threshold_crossed", 93.5, 110.0);
        assert_eq!(
            post(&stack, WEBHOOK_SECRET, serde_json::to_vec(&body).unwrap())
                .await
                .0,
            200
        );
        assert_eq!(
            stack.alert_types(id).await.len(),
            want,
            "{id}: THRESHOLD only past the tenant's own threshold"
        );
    }
    for name in [
        "budget_crossed",
        "max_budget_alert",
        "soft_budget_crossed",
        "threshold_crossed",
        "projected_limit_exceeded",
        "key_created",
        "key_rotated",
        "internal_user_created",
        "spend_tracked",
    ] {
        let body = event(&key_hash(&usual), name, 93.5, 110.0);
        assert_eq!(
            post(&stack, WEBHOOK_SECRET, serde_json::to_vec(&body).unwrap())
                .await
                .0,
            200,
            "{name}"
        );
    }
    assert_eq!(
        stack.alert_types("usual").await,
        vec![pb::AlertType::Threshold]
    );
    stack.stop().await;
}

#[tokio::test]
async fn the_same_webhook_a_hundred_times_at_once_records_each_alert_once() {
    let stack = Stack::start().await;
    let key = stack.create_tenant("acme", 100).await.virtual_key;
    stack.sim().set_spend(&key, 111.0).unwrap();
    let body = serde_json::to_vec(&event(&key_hash(&key), "budget_crossed", 111.0, 110.0)).unwrap();
    let sends = (0..100).map(|_| post(&stack, WEBHOOK_SECRET, body.clone()));
    let answers = futures::future::join_all(sends).await;
    assert!(answers.iter().all(|(status, _)| *status == 200));
    let mut types = stack.alert_types("acme").await;
    types.sort_by_key(|t| *t as i32);
    assert_eq!(
        types,
        vec![
            pb::AlertType::Threshold,
            pb::AlertType::BudgetExceeded,
            pb::AlertType::Blocked
        ]
    );
    stack.stop().await;
}

#[tokio::test]
async fn litellm_sims_own_webhooks_drive_evaluation_end_to_end() {
    let stack = Stack::start().await;
    let key = stack.create_tenant("acme", 1).await.virtual_key;
    let sim = stack.sim();
    sim.set_webhook_url(Some(format!(
        "http://{}/hooks/litellm/{WEBHOOK_SECRET}",
        stack.http_addr
    )));
    sim.set_chat_cost(Some(0.1));
    let http = reqwest::Client::new();
    // $1 budget: LiteLLM's key max_budget is $1.10; chat calls of $0.10 push spend past it.
    for _ in 0..13 {
        http.post(format!("{}/chat/completions", stack.sim.base_url()))
            .bearer_auth(&key)
            .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
    }
    let sent = sim
        .settled_webhooks(std::time::Duration::from_secs(5))
        .await;
    assert!(
        sent.iter().any(|w| w.body["event"] == "budget_crossed"),
        "{sent:?}"
    );
    assert!(
        sent.iter().all(|w| w.status == Some(200)),
        "our receiver accepted every webhook: {sent:?}"
    );
    let mut types = stack.alert_types("acme").await;
    types.sort_by_key(|t| *t as i32);
    assert_eq!(
        types,
        vec![
            pb::AlertType::Threshold,
            pb::AlertType::BudgetExceeded,
            pb::AlertType::Blocked
        ],
        "recorded without any evaluator pass"
    );
    stack.stop().await;
}
