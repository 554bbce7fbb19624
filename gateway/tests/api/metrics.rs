//! `/metrics` and the request id given to every forwarded call.

use budget_proto::v1::*;
use tonic::Code;

use crate::helpers::{TestGateway, Wire, spawn_fake_budget_service};
use budget_proto::wire::BUDGET_SERVICE_METHODS;

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

/// `/metrics` from the gateway's metrics port.
async fn scrape(gateway: &TestGateway) -> String {
    let response = gateway
        .client
        .get(format!("http://{}/metrics", gateway.metrics_addr))
        .send()
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

#[tokio::test]
async fn metrics_are_served_on_their_own_port_only() {
    let gateway = TestGateway::signed_in().await;
    assert_ne!(gateway.metrics_addr.port(), gateway.addr.port());
    let ok = gateway
        .grpc_web_call("GetBudgetStatus", &status_request(), Wire::Binary, &[])
        .await;
    assert_eq!(ok.code(), Code::Ok);
    assert!(
        scrape(&gateway)
            .await
            .contains("gateway_grpc_web_requests_total")
    );
    // On the public port /metrics is just another dashboard path: the page signed in, the
    // sign-in redirect signed out; never the metrics.
    let signed_in = gateway.get("/metrics").await;
    assert!(
        signed_in.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(!signed_in.text().await.unwrap().contains("gateway_grpc"));
    let signed_out = gateway
        .client
        .get(gateway.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);
    assert!(!signed_out.text().await.unwrap().contains("gateway_grpc"));
}

#[tokio::test]
async fn made_up_methods_share_one_label_signed_in_or_not() {
    let signed_out = TestGateway::spawn(spawn_fake_budget_service().await).await;
    let signed_in = TestGateway::signed_in().await;
    for gateway in [&signed_out, &signed_in] {
        for n in 0..20 {
            let reply = gateway
                .grpc_web_call(
                    &format!("Random{n:04}"),
                    &status_request(),
                    Wire::Binary,
                    &[],
                )
                .await;
            assert!(
                matches!(reply.code(), Code::Unauthenticated | Code::Unimplemented),
                "{reply:?}"
            );
        }
        let text = scrape(gateway).await;
        assert!(!text.contains("Random"), "{text}");
        let methods: std::collections::BTreeSet<&str> = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split("method=\"").nth(1)?.split('"').next())
            .collect();
        assert!(methods.contains("unknown"), "{text}");
        for method in methods {
            assert!(
                method == "unknown" || BUDGET_SERVICE_METHODS.contains(&method),
                "{method}"
            );
        }
    }
}
