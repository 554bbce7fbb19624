//! The demo's data: five tenants in the promised states, spend that adds up, umbrella
//! refused by LiteLLM, alerts recorded by the evaluator, and the whole stack reachable.
//! The story must hold on every day of a period, so the demo runs under an injected clock
//! at the days where calendars go wrong: the 1st, the 2nd, mid-month, the 28th to the 31st,
//! a leap day and the last half hour of a year.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use budget_demo::{RunningStack, StackConfig};
use budget_e2e::{SIM_MASTER_KEY, TestDatabase, WEBHOOK_SECRET};
use budget_proto::v1 as pb;
use chrono::{DateTime, Datelike, Days, Utc};

macro_rules! demo_on {
    ($($name:ident: $at:literal,)*) => {$(
        #[tokio::test]
        async fn $name() {
            the_demo_seeds_one_tenant_per_state_with_consistent_spend($at.parse().unwrap()).await;
        }
    )*};
}

demo_on! {
    on_the_1st_of_a_year: "2027-01-01T09:00:00Z",
    on_the_2nd: "2027-03-02T00:30:00Z",
    mid_month: "2027-04-15T12:00:00Z",
    on_the_28th_of_february: "2027-02-28T18:00:00Z",
    on_a_leap_day: "2028-02-29T08:00:00Z",
    on_the_30th_of_a_30_day_month: "2027-04-30T23:00:00Z",
    on_the_31st: "2027-05-31T06:00:00Z",
    in_the_last_half_hour_of_a_year: "2027-12-31T23:30:00Z",
}

async fn the_demo_seeds_one_tenant_per_state_with_consistent_spend(at: DateTime<Utc>) {
    let db = TestDatabase::create().await;
    let stack = RunningStack::start(&StackConfig {
        database_url: db.url.clone(),
        sim_addr: "127.0.0.1:0".into(),
        sim_master_key: SIM_MASTER_KEY.into(),
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        webhook_secret: WEBHOOK_SECRET.into(),
        gateway_addr: "127.0.0.1:0".parse().unwrap(),
        cache_ttl_secs: 60,
        eval_interval_secs: 0,
        notification_receiver: true,
        bootstrap_token: budget_e2e::ADMIN_TOKEN.into(),
        start_at: Some(at),
        traces: Default::default(),
    })
    .await
    .unwrap();
    let today = stack.sim().now().date_naive();
    assert_eq!(
        today,
        at.date_naive(),
        "the stack runs at the injected date"
    );
    let keys = stack.seed_demo(WEBHOOK_SECRET).await.unwrap();
    let mut client = stack.client.clone();
    use pb::BudgetState::*;
    for (id, budget, percent, state) in [
        ("acme", 500, 42.0, Ok),
        ("globex", 1000, 88.0, Warning),
        ("initech", 200, 104.0, Grace),
        ("umbrella", 300, 116.0, Blocked),
        ("hooli", 500, 3.0, Ok),
    ] {
        let status = client
            .get_budget_status(pb::GetBudgetStatusRequest {
                tenant_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status
            .unwrap();
        assert_eq!(status.max_budget_micros, budget * 1_000_000, "{id}");
        assert!(
            (status.percent_used - percent).abs() < 1e-6,
            "{id}: {}",
            status.percent_used
        );
        assert_eq!(status.state(), state, "{id}");

        // The key's current-period spend is the sum of its daily spend since the 1st.
        let history = client
            .get_spend_history(pb::GetSpendHistoryRequest {
                tenant_id: id.into(),
                days: 90,
            })
            .await
            .unwrap()
            .into_inner();
        let first = today.with_day(1).unwrap().format("%Y-%m-%d").to_string();
        let period: i64 = history
            .days
            .iter()
            .filter(|d| d.date >= first)
            .map(|d| d.spend_micros)
            .sum();
        assert_eq!(period, status.spend_micros, "{id}");
        let want_days = if id == "hooli" { 3 } else { 45 };
        let before = today
            .checked_sub_days(Days::new(want_days))
            .unwrap()
            .format("%Y-%m-%d")
            .to_string();
        assert!(
            history
                .days
                .iter()
                .filter(|d| d.date <= before)
                .all(|d| d.spend_micros == 0),
            "{id}: {want_days} days of history"
        );
    }
    let hooli = client
        .get_spend_history(pb::GetSpendHistoryRequest {
            tenant_id: "hooli".into(),
            days: 30,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hooli.days_with_data, 3);

    // The evaluator recorded the alerts the states call for.
    let alerts = |id: &'static str| {
        let client = stack.client.clone();
        async move { budget_e2e::first_alerts(&client, id).await.len() }
    };
    assert_eq!(
        (
            alerts("acme").await,
            alerts("globex").await,
            alerts("initech").await,
            alerts("umbrella").await,
            alerts("hooli").await,
        ),
        (0, 1, 2, 3, 0),
        "alerts of acme, globex, initech, umbrella, hooli on {at}"
    );

    // Each alert reaches the demo's receiver (allowed through BUDGET_NOTIFY_ALLOW_HOSTS),
    // signed both ways: X-Budget-Signature and Standard Webhooks.
    let receiver = stack.receiver.as_ref().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while receiver.received().len() < 6 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let received = receiver.received();
    assert_eq!(received.len(), 6, "{received:?}");
    assert!(
        received
            .iter()
            .all(|r| r.signature_valid && r.standard_signature_valid),
        "{received:?}"
    );

    // umbrella's chat calls are refused by LiteLLM; acme's work.
    let http = reqwest::Client::new();
    let chat = |key: String| {
        let http = http.clone();
        let url = format!("{}/chat/completions", stack.sim.base_url());
        async move {
            http.post(url)
                .bearer_auth(key)
                .json(&serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let key_of = |id: &str| keys.iter().find(|(t, _)| t == id).unwrap().1.clone();
    assert_eq!(chat(key_of("umbrella")).await, 422);
    assert_eq!(chat(key_of("acme")).await, 200);

    let page = http
        .get(format!("http://{}/tenants/acme", stack.gateway_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    stack.stop().await;
    db.drop_database().await;
}
