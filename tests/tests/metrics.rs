//! budget-service's Prometheus `/metrics` on BUDGET_HTTP_ADDR after real calls, and the
//! `x-request-id` of each RPC.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use budget_e2e::Stack;
use budget_proto::v1 as pb;
use litellm_sim::{Fault, FaultRule};
use tonic::Code;

async fn scrape(stack: &Stack) -> String {
    let response = reqwest::get(format!("http://{}/metrics", stack.http_addr))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    response.text().await.unwrap()
}

/// The value of the series `name{labels}` (labels in Prometheus' sorted order); 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

const STATUS: &str = "budget.v1.BudgetService/GetBudgetStatus";

fn status_request(id: &str) -> pb::GetBudgetStatusRequest {
    pb::GetBudgetStatusRequest {
        tenant_id: id.into(),
    }
}

#[tokio::test]
async fn rpcs_cache_and_litellm_calls_are_counted_by_label() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 100).await;
    let before = scrape(&stack).await;

    for _ in 0..3 {
        stack
            .client()
            .get_budget_status(status_request("acme"))
            .await
            .unwrap();
    }
    let missing = stack
        .client()
        .get_budget_status(status_request("ghost"))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    let after = scrape(&stack).await;
    let delta = |series: &str| value(&after, series) - value(&before, series);
    let ok = format!("{{code=\"OK\",method=\"{STATUS}\"}}");
    let not_found = format!("{{code=\"NOT_FOUND\",method=\"{STATUS}\"}}");
    assert_eq!(
        delta(&format!("budget_grpc_requests_total{ok}")),
        3.0,
        "{after}"
    );
    assert_eq!(
        delta(&format!("budget_grpc_requests_total{not_found}")),
        1.0,
        "{after}"
    );
    assert_eq!(
        delta(&format!("budget_grpc_request_duration_seconds_count{ok}")),
        3.0,
        "{after}"
    );
    // CreateTenant was counted too, before the first scrape.
    assert_eq!(
        value(
            &before,
            "budget_grpc_requests_total{code=\"OK\",method=\"budget.v1.BudgetService/CreateTenant\"}"
        ),
        1.0,
        "{before}"
    );
    // Four reads: acme's first is a miss, the ghost's too (errors are not cached); a
    // notification of the creation may have emptied acme's entry once more.
    let hits = delta("budget_status_cache_requests_total{result=\"hit\"}");
    let misses = delta("budget_status_cache_requests_total{result=\"miss\"}");
    assert_eq!(hits + misses, 4.0, "{after}");
    assert!(hits >= 1.0 && misses >= 2.0, "{after}");
    assert!(
        value(
            &after,
            "budget_litellm_request_duration_seconds_count{endpoint=\"/key/info\"}"
        ) >= 1.0,
        "{after}"
    );
    assert!(
        value(
            &after,
            "budget_litellm_request_duration_seconds_count{endpoint=\"/key/generate\"}"
        ) >= 1.0,
        "{after}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn litellm_errors_are_counted_by_endpoint_and_kind() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 100).await;
    stack
        .sim()
        .inject(FaultRule::new("/key/info", Fault::Status500).times(1));

    let _ = stack
        .client()
        .get_budget_status(status_request("acme"))
        .await;

    let text = scrape(&stack).await;
    assert_eq!(
        value(
            &text,
            "budget_litellm_errors_total{endpoint=\"/key/info\",kind=\"upstream\"}"
        ),
        1.0,
        "{text}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn evaluation_passes_and_alerts_are_counted() {
    let stack = Stack::start().await;
    let key = stack.create_tenant("acme", 100).await.virtual_key;
    stack.sim().set_spend(&key, 85.0).unwrap();

    stack.evaluate().await;
    stack.evaluate().await; // the second pass records nothing new

    let text = scrape(&stack).await;
    assert_eq!(
        value(&text, "budget_evaluation_pass_duration_seconds_count"),
        2.0,
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "budget_evaluation_passes_total{outcome=\"completed\"}"
        ),
        2.0,
        "{text}"
    );
    assert_eq!(
        value(&text, "budget_alerts_recorded_total{type=\"threshold\"}"),
        1.0,
        "{text}"
    );
    let lag = text
        .lines()
        .find_map(|line| line.strip_prefix("budget_evaluation_lag_seconds "))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("a lag gauge");
    assert!((0.0..30.0).contains(&lag), "{lag}");
    stack.stop().await;
}

#[tokio::test]
async fn every_rpc_answers_with_a_request_id_kept_from_the_caller_or_made() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 100).await;

    let mut request = tonic::Request::new(status_request("acme"));
    request
        .metadata_mut()
        .insert("x-request-id", "e2e-req.42".parse().unwrap());
    let answer = stack.client().get_budget_status(request).await.unwrap();
    assert_eq!(answer.metadata().get("x-request-id").unwrap(), "e2e-req.42");

    let mut request = tonic::Request::new(status_request("ghost"));
    request
        .metadata_mut()
        .insert("x-request-id", "not sane!".parse().unwrap());
    let error = stack.client().get_budget_status(request).await.unwrap_err();
    let made = error
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(made.len(), 32, "{made}");
    assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
    stack.stop().await;
}

/// Calls to paths nobody routes, without a token, must not add a label each: a caller could
/// otherwise grow the metrics (and the memory behind them) without limit.
#[tokio::test]
async fn paths_nobody_routes_share_one_method_label() {
    let stack = Stack::start().await;
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let paths = [
        "budget.v1.BudgetService/Random0a1b",
        "budget.v1.BudgetService/Random2c3d",
        "grpc.health.v1.Health/Random4e5f",
        "nobody.Service/Random6a7b",
    ];
    for path in paths {
        let answer = h2c
            .post(format!("http://{}/{path}", stack.addr))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(vec![0u8; 5])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.headers()["grpc-status"], "12", "{path}");
    }
    let text = scrape(&stack).await;
    assert!(!text.contains("Random"), "{text}");
    assert!(
        value(
            &text,
            "budget_grpc_requests_total{code=\"UNIMPLEMENTED\",method=\"unknown\"}"
        ) >= 4.0,
        "{text}"
    );
    let methods: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split("method=\"").nth(1)?.split('"').next())
        .collect();
    for method in methods {
        assert!(
            method == "unknown"
                || budget_proto::wire::BUDGET_SERVICE_PATHS.contains(&method)
                || method.starts_with("grpc.health.v1.Health/Check"),
            "{method}"
        );
    }
    stack.stop().await;
}
