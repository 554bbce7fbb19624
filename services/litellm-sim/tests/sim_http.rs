//! The `/sim/*` HTTP controls, and that they need the master key.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{call, call_as, chat, client, generate, info, start};
use serde_json::json;

#[tokio::test]
async fn sim_routes_need_the_master_key() {
    let server = start().await;
    let (raw, _) = generate(&server, json!({})).await;
    let none = client()
        .get(format!("{}/sim/health", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        call_as(&server, "sk-wrong", "GET", "/sim/health", None)
            .await
            .0,
        401
    );
    assert_eq!(
        call_as(&server, &raw, "GET", "/sim/health", None).await.0,
        401
    );
    assert_eq!(
        call_as(
            &server,
            &raw,
            "POST",
            "/sim/faults",
            Some(json!({"path_prefix": "/", "fault": "hang"}))
        )
        .await
        .0,
        401
    );
    assert!(server.control().faults().is_empty());
    let (status, health) = call(&server, "GET", "/sim/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    server.shutdown().await;
}

#[tokio::test]
async fn keys_spend_and_daily_history_over_http() {
    let server = start().await;
    let (raw, token) = generate(&server, json!({"key_alias": "tenant-h", "max_budget": 10.0, "soft_budget": 8.0, "budget_duration": "30d", "metadata": {"tenant_id": "h"}})).await;
    let (status, snapshot) = call(&server, "GET", "/sim/keys/tenant-h", None).await;
    assert_eq!(status, 200);
    assert_eq!(snapshot["token"], token);
    assert_eq!(snapshot["max_budget"], 10.0);
    assert_eq!(snapshot["soft_budget"], 8.0);
    assert_eq!(snapshot["budget_duration"], "30d");
    assert_eq!(snapshot["status"], "active");
    assert_eq!(snapshot["metadata"]["tenant_id"], "h");
    assert!(snapshot["budget_reset_at"].is_string());
    assert_eq!(call(&server, "GET", "/sim/keys/nobody", None).await.0, 404);

    let (status, after) = call(
        &server,
        "POST",
        &format!("/sim/keys/{raw}/spend"),
        Some(json!({"spend": 10.0})),
    )
    .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["spend"], 10.0);
    assert_eq!(info(&server, &token).await["spend"], 10.0);
    assert_eq!(chat(&server, &raw).await.0, 422);

    let (status, _) = call(
        &server,
        "POST",
        &format!("/sim/keys/{token}/daily_spend"),
        Some(json!({"date": "2026-11-20", "spend": 1.5})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, seeded) = call(
        &server,
        "POST",
        "/sim/keys/tenant-h/daily_history",
        Some(json!({"last_day": "2026-11-28", "spend": [0.25, 0.5, 0.75]})),
    )
    .await;
    assert_eq!(status, 200, "{seeded}");
    let (_, activity) = call(&server, "GET", &format!("/user/daily/activity/aggregated?start_date=2026-11-01&end_date=2026-11-30&api_key={token}"), None).await;
    let rows: Vec<(String, f64)> = activity["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["date"].as_str().unwrap().to_string(),
                r["metrics"]["spend"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("2026-11-28".into(), 0.75),
            ("2026-11-27".into(), 0.5),
            ("2026-11-26".into(), 0.25),
            ("2026-11-20".into(), 1.5)
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn faults_calls_clock_and_chat_cost_over_http() {
    let server = start().await;
    let (raw, token) = generate(&server, json!({"budget_duration": "1d", "max_budget": 1.0})).await;
    let (status, rule) = call(
        &server,
        "POST",
        "/sim/faults",
        Some(json!({"path_prefix": "/key/info", "fault": "status_500", "times": 1})),
    )
    .await;
    assert_eq!(status, 200, "{rule}");
    let (_, listed) = call(&server, "GET", "/sim/faults", None).await;
    assert_eq!(
        listed["faults"],
        json!([{"path_prefix": "/key/info", "fault": "status_500", "delay_ms": null, "times": 1}])
    );
    assert_eq!(
        call(&server, "GET", &format!("/key/info?key={raw}"), None)
            .await
            .0,
        500
    );
    assert_eq!(
        call(&server, "GET", &format!("/key/info?key={raw}"), None)
            .await
            .0,
        200
    );

    call(
        &server,
        "POST",
        "/sim/faults",
        Some(json!({"path_prefix": "/key/info", "fault": "slow", "delay_ms": 300})),
    )
    .await;
    let started = Instant::now();
    assert_eq!(
        call(&server, "GET", &format!("/key/info?key={raw}"), None)
            .await
            .0,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(call(&server, "DELETE", "/sim/faults", None).await.0, 200);
    assert_eq!(
        call(
            &server,
            "POST",
            "/sim/faults",
            Some(json!({"path_prefix": "/", "fault": "explode"}))
        )
        .await
        .0,
        400
    );

    let (_, count) = call(&server, "GET", "/sim/calls?path=/key/info", None).await;
    assert_eq!(count, json!({"path": "/key/info", "count": 3}));
    let (_, all) = call(&server, "GET", "/sim/calls", None).await;
    assert_eq!(all["calls"]["/key/generate"], 1);
    call(&server, "DELETE", "/sim/calls", None).await;
    let (_, all) = call(&server, "GET", "/sim/calls", None).await;
    assert_eq!(all["calls"], json!({}));

    let (status, cost) = call(&server, "POST", "/sim/chat_cost", Some(json!({"usd": 0.6}))).await;
    assert_eq!(status, 200, "{cost}");
    assert_eq!(chat(&server, &raw).await.0, 200);
    assert_eq!(chat(&server, &raw).await.0, 200);
    assert_eq!(
        chat(&server, &raw).await.1["error"]["type"],
        "budget_exceeded"
    );

    let (_, before) = call(&server, "GET", "/sim/clock", None).await;
    let (status, moved) = call(
        &server,
        "POST",
        "/sim/clock/advance",
        Some(json!({"seconds": 2 * 86_400})),
    )
    .await;
    assert_eq!(status, 200);
    let parse =
        |v: &serde_json::Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(parse(&moved["now"]) - parse(&before["now"]) >= chrono::Duration::days(2));
    assert_eq!(
        info(&server, &token).await["spend"],
        0.0,
        "the daily window reset"
    );
    assert_eq!(chat(&server, &raw).await.0, 200);

    let (status, set) = call(
        &server,
        "POST",
        "/sim/clock/set",
        Some(json!({"now": "2030-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        set["now"]
            .as_str()
            .unwrap()
            .starts_with("2030-01-01T00:00:0")
    );
    server.shutdown().await;
}
