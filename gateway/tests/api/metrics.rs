//! `/metrics` and the request id given to every forwarded call.

use budget_proto::v1::*;
use tonic::Code;

use crate::helpers::{TestGateway, Wire, spawn_fake_budget_service};

fn status_request() -> GetBudgetStatusRequest {
    GetBudgetStatusRequest {
        tenant_id: "acme".to_owned(),
    }
}

/// The value of one series line (`name{labels} value`), if present.
fn series(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
}

async fn scrape(gateway: &TestGateway) -> String {
    let response = gateway.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn a_sane_incoming_request_id_reaches_budget_service_and_comes_back() {
    let gateway = TestGateway::signed_in().await;

    let reply = gateway
        .grpc_web_call(
            "GetBudgetStatus",
            &status_request(),
            Wire::Binary,
            &[("x-request-id", "req-abc.123")],
        )
        .await;

    assert_eq!(reply.code(), Code::Ok, "{reply:?}");
    assert_eq!(reply.headers["x-request-id"], "req-abc.123");
    assert_eq!(reply.headers["x-echo-request-id"], "req-abc.123");
}

#[tokio::test]
async fn a_missing_or_insane_request_id_is_replaced_by_a_generated_one() {
    let gateway = TestGateway::signed_in().await;

    for extra in [&[][..], &[("x-request-id", "no spaces allowed")][..]] {
        let reply = gateway
            .grpc_web_call("GetBudgetStatus", &status_request(), Wire::Text, extra)
            .await;

        assert_eq!(reply.code(), Code::Ok, "{reply:?}");
        let sent = reply.headers["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(sent.len(), 32, "{sent}");
        assert!(sent.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(reply.headers["x-echo-request-id"], sent.as_str());
    }
}

#[tokio::test]
async fn metrics_count_grpc_web_calls_by_method_and_code_and_pages_by_status() {
    let gateway = TestGateway::signed_in().await;
    for _ in 0..2 {
        let ok = gateway
            .grpc_web_call("GetBudgetStatus", &status_request(), Wire::Binary, &[])
            .await;
        assert_eq!(ok.code(), Code::Ok);
    }
    let other_tenant = GetBudgetStatusRequest {
        tenant_id: "globex".to_owned(),
    };
    let signed_out = TestGateway::spawn(spawn_fake_budget_service().await).await;
    let denied = signed_out
        .grpc_web_call("GetBudgetStatus", &other_tenant, Wire::Binary, &[])
        .await;
    assert_eq!(denied.code(), Code::Unauthenticated);
    assert_eq!(gateway.get("/assets/missing.js").await.status(), 404);

    let text = scrape(&gateway).await;

    assert_eq!(
        series(
            &text,
            "gateway_grpc_web_requests_total{code=\"OK\",method=\"GetBudgetStatus\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        series(
            &text,
            "gateway_grpc_web_request_duration_seconds_count{code=\"OK\",method=\"GetBudgetStatus\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        series(
            &text,
            "gateway_http_requests_total{kind=\"asset\",status=\"404\"}"
        ),
        Some(1.0),
        "{text}"
    );
    // The other gateway's calls are its own: one registry per gateway.
    assert!(!text.contains("UNAUTHENTICATED"), "{text}");
    let other = scrape(&signed_out).await;
    assert_eq!(
        series(
            &other,
            "gateway_grpc_web_requests_total{code=\"UNAUTHENTICATED\",method=\"GetBudgetStatus\"}"
        ),
        Some(1.0),
        "{other}"
    );
}
