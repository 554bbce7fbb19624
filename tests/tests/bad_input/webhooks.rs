//! The webhook receiver: random bodies get 4xx or 200 and store nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;

use budget_e2e::WEBHOOK_SECRET;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

use crate::generators::text;
use crate::harness::Harness;

/// Bodies of odd but valid shapes.
pub(crate) const ODD_WEBHOOKS: &[&str] = &[
    "{",
    "[]",
    "null",
    "{}",
    "\"key\"",
    "{\"event_group\":\"key\"}",
    "{\"event_group\":\"key\",\"token\":null}",
    "{\"event_group\":\"key\",\"token\":\"sk-unknown\",\"spend\":\"NaN\"}",
];

/// Bodies LiteLLM could plausibly send, and ones it never would.
pub(crate) fn webhook_body() -> BoxedStrategy<Vec<u8>> {
    let json_value = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        text().prop_map(serde_json::Value::from),
        Just(serde_json::json!({"nested": [1, {"a": null}]})),
    ];
    let event = prop_oneof![
        Just("budget_crossed".to_owned()),
        Just("threshold_crossed".to_owned()),
        Just("projected_limit_exceeded".to_owned()),
        text(),
    ];
    let group = prop_oneof![
        Just("key".to_owned()),
        Just("user".to_owned()),
        Just("team".to_owned()),
        text()
    ];
    let token = prop_oneof![
        Just(String::new()),
        "[0-9a-f]{64}",
        Just("sk-abc".to_owned()),
        text()
    ];
    let shaped = (
        event,
        group,
        token,
        json_value.clone(),
        json_value.clone(),
        json_value,
    )
        .prop_map(|(event, group, token, spend, max_budget, extra)| {
            serde_json::to_vec(&serde_json::json!({
                "event": event,
                "event_group": group,
                "token": token,
                "spend": spend,
                "max_budget": max_budget,
                "user_id": extra,
                "event_message": "Budget Crossed",
            }))
            .unwrap()
        });
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..2048),
        1 => text().prop_map(String::into_bytes),
        3 => shaped,
        1 => prop::sample::select(ODD_WEBHOOKS).prop_map(|b| b.as_bytes().to_vec()),
    ]
    .boxed()
}

#[test]
fn webhook_bodies_of_random_bytes_get_4xx_or_200_and_store_nothing() {
    let h = Harness::start();
    let url = format!(
        "http://{}/hooks/litellm/{WEBHOOK_SECRET}",
        h.stack().http_addr
    );
    let stored = |h: &Harness| {
        let pool = h.stack().store.pool().clone();
        async move {
            let (alerts, days, deliveries): (i64, i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM budget_alert_history),
                        (SELECT count(*) FROM daily_spend),
                        (SELECT count(*) FROM notification_deliveries)",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            (alerts, days, deliveries)
        }
    };
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let answers = Mutex::new(BTreeMap::new());
    let result = runner.run(&(webhook_body(), any::<bool>()), |(body, json_type)| {
        h.rt.block_on(async {
            let before = (h.snapshot().await, stored(&h).await);
            let mut request = h.http.post(&url).body(body);
            if json_type {
                request = request.header("content-type", "application/json");
            }
            let response = request.send().await.unwrap();
            let code = response.status().as_u16();
            *answers.lock().unwrap().entry(code).or_insert(0) += 1;
            prop_assert!(
                code == 200 || code == 400 || code == 413,
                "webhook answered {}",
                code
            );
            // No tenant's key token was sent, so nothing may be recorded.
            let after = (h.snapshot().await, stored(&h).await);
            prop_assert!(before == after, "a webhook stored something");
            let health = h
                .http
                .get(format!("http://{}/healthz", h.stack().http_addr))
                .send()
                .await
                .unwrap();
            prop_assert_eq!(health.status().as_u16(), 200);
            Ok(())
        })
    });
    // Oversized bodies are refused before they are read.
    let big = h.rt.block_on(async {
        h.http
            .post(&url)
            .body(vec![b'{'; 64 * 1024 + 1])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    h.stop();
    if let Err(failure) = result {
        panic!("{failure}");
    }
    assert_eq!(big, 413);
    // Both refused and accepted-but-ignored bodies were among the cases.
    let answers = answers.into_inner().unwrap();
    println!("webhook answers: {answers:?}");
    assert!(
        answers.contains_key(&400) && answers.contains_key(&200),
        "{answers:?}"
    );
}
