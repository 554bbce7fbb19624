//! gRPC-web in, gRPC to budget-service out, and the answer back unchanged (for a signed-in
//! browser; see `sessions.rs` for the others).

use std::time::{Duration, Instant};

use budget_proto::v1::*;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{
    ADMIN_TOKEN, TestGateway, Wire, admin_cookie, fixed_status, frame, invalid_config_status,
    spawn_fake_budget_service, unreachable_url,
};

fn status_request() -> GetBudgetStatusRequest {
    GetBudgetStatusRequest {
        tenant_id: "acme".to_owned(),
    }
}

#[tokio::test]
async fn binary_grpc_web_call_returns_the_upstream_message() {
    let gateway = TestGateway::signed_in().await;

    let reply = gateway
        .grpc_web_call("GetBudgetStatus", &status_request(), Wire::Binary, &[])
        .await;

    assert_eq!(reply.http_status, 200);
    assert_eq!(
        reply.headers["content-type"],
        Wire::Binary.response_content_type()
    );
    assert_eq!(reply.code(), Code::Ok, "{reply:?}");
    let response: GetBudgetStatusResponse = reply.only_message().expect("one message");
    assert_eq!(response.status, Some(fixed_status("acme")));
}

#[tokio::test]
async fn explicit_proto_content_type_is_accepted_too() {
    let gateway = TestGateway::signed_in().await;

    let response = gateway
        .client
        .post(gateway.url("/budget.v1.BudgetService/GetBudgetStatus"))
        .header("content-type", "application/grpc-web+proto")
        .header("cookie", gateway.cookie.as_deref().unwrap())
        .body(frame(
            0x00,
            &prost::Message::encode_to_vec(&status_request()),
        ))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/grpc-web+proto"
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(body[0], 0x00, "a data frame comes first");
    let trailer = String::from_utf8_lossy(&body[..]);
    assert!(trailer.contains("grpc-status:0\r\n"), "{trailer}");
}

#[tokio::test]
async fn text_grpc_web_call_returns_the_upstream_message() {
    let gateway = TestGateway::signed_in().await;

    let reply = gateway
        .grpc_web_call("GetBudgetStatus", &status_request(), Wire::Text, &[])
        .await;

    assert_eq!(reply.http_status, 200);
    assert_eq!(
        reply.headers["content-type"],
        Wire::Text.response_content_type()
    );
    assert_eq!(reply.code(), Code::Ok, "{reply:?}");
    let response: GetBudgetStatusResponse = reply.only_message().expect("one message");
    assert_eq!(response.status, Some(fixed_status("acme")));
}

#[tokio::test]
async fn error_status_message_and_details_arrive_unchanged() {
    let gateway = TestGateway::signed_in().await;
    let expected = invalid_config_status();

    for wire in [Wire::Binary, Wire::Text] {
        let reply = gateway
            .grpc_web_call(
                "UpdateBudgetConfig",
                &UpdateBudgetConfigRequest::default(),
                wire,
                &[],
            )
            .await;

        assert_eq!(reply.http_status, 200);
        let status = reply.status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), expected.message());
        assert_eq!(
            status.details(),
            expected.details(),
            "details are byte-identical"
        );
        let bad_request = status.get_details_bad_request().expect("a BadRequest");
        let fields: Vec<_> = bad_request
            .field_violations
            .iter()
            .map(|violation| (violation.field.as_str(), violation.description.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                (
                    "config.alert_threshold_percent",
                    "must be between 50 and 100, got 120"
                ),
                ("config.budget_duration", "must be one of 30d, 60d, 90d"),
            ]
        );
    }
}

#[tokio::test]
async fn upstream_unimplemented_passes_through() {
    let gateway = TestGateway::signed_in().await;

    let reply = gateway
        .grpc_web_call(
            "ListTenants",
            &ListTenantsRequest::default(),
            Wire::Binary,
            &[],
        )
        .await;
    assert_eq!(reply.code(), Code::Unimplemented);
    assert_eq!(reply.status().message(), "not in the fake");

    // A method the service does not have: budget-service itself answers UNIMPLEMENTED.
    let reply = gateway
        .grpc_web_call(
            "DeleteEverything",
            &ListTenantsRequest::default(),
            Wire::Binary,
            &[],
        )
        .await;
    assert_eq!(reply.code(), Code::Unimplemented);
}

#[tokio::test]
async fn paths_outside_the_budget_service_are_not_forwarded() {
    // Server reflection is answered by the gateway itself (see `grpc.rs`).
    let gateway = TestGateway::signed_in().await;

    for path in [
        "/grpc.health.v1.Health/Check",
        "/grpc.reflection.v1.ServerReflection/Other",
        "/budget.v1.OtherService/GetBudgetStatus",
        "/budget.v1.BudgetService/GetBudgetStatus/extra",
        "/budget.v1.BudgetService",
    ] {
        let response = gateway
            .client
            .post(gateway.url(path))
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .body(frame(0x00, &[]))
            .send()
            .await
            .unwrap();
        // Forwarded, budget-service would have answered HTTP 200 with grpc-status 12.
        assert_eq!(response.status(), 404, "{path}");
        assert!(response.headers().get("grpc-status").is_none(), "{path}");
    }
}

#[tokio::test]
async fn unreachable_upstream_is_unavailable() {
    let mut gateway = TestGateway::spawn(unreachable_url().await).await;
    gateway.cookie = Some(admin_cookie().await);

    for wire in [Wire::Binary, Wire::Text] {
        let reply = gateway
            .grpc_web_call("GetBudgetStatus", &status_request(), wire, &[])
            .await;
        assert_eq!(
            reply.http_status, 200,
            "a gRPC status, not an HTTP error page"
        );
        assert_eq!(reply.headers["content-type"], wire.response_content_type());
        assert_eq!(reply.code(), Code::Unavailable, "{reply:?}");
        assert_eq!(reply.status().message(), "budget-service is unavailable");
    }
}

#[tokio::test]
async fn a_deadline_is_sent_upstream_when_the_browser_sets_none() {
    let mut gateway =
        TestGateway::spawn_with_timeout(spawn_fake_budget_service().await, Duration::from_secs(7))
            .await;
    gateway.sign_in_as(ADMIN_TOKEN).await;
    let request = GetBudgetConfigRequest {
        tenant_id: "acme".to_owned(),
    };

    let reply = gateway
        .grpc_web_call("GetBudgetConfig", &request, Wire::Binary, &[])
        .await;
    let echoed = reply
        .only_message::<GetBudgetConfigResponse>()
        .expect("one message")
        .config
        .unwrap()
        .etag;
    assert_eq!(echoed, "7S");

    let reply = gateway
        .grpc_web_call(
            "GetBudgetConfig",
            &request,
            Wire::Binary,
            &[("grpc-timeout", "1500m")],
        )
        .await;
    let echoed = reply
        .only_message::<GetBudgetConfigResponse>()
        .expect("one message")
        .config
        .unwrap()
        .etag;
    assert_eq!(echoed, "1500m", "the browser's own deadline is kept");
}

#[tokio::test]
async fn the_gateway_waits_no_longer_than_its_upstream_timeout() {
    let mut gateway =
        TestGateway::spawn_with_timeout(spawn_fake_budget_service().await, Duration::from_secs(1))
            .await;
    gateway.sign_in_as(ADMIN_TOKEN).await;
    // The fake sleeps page_size milliseconds; the browser asks for a much longer deadline.
    let slow = ListAlertsRequest {
        page_size: 5_000,
        ..Default::default()
    };

    let started = Instant::now();
    let reply = gateway
        .grpc_web_call(
            "ListAlerts",
            &slow,
            Wire::Binary,
            &[("grpc-timeout", "30S")],
        )
        .await;

    assert_eq!(reply.code(), Code::DeadlineExceeded, "{reply:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
