//! The Connect protocol at the gateway, as an API caller with its own bearer token (curl,
//! connect-node) and as a browser with its session cookie: JSON and binary unary calls, GET for
//! methods without side effects, Connect's error bodies with the service's details, limits.

use std::sync::atomic::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use budget_proto::v1::*;
use prost::Message;
use serde_json::{Value, json};
use tonic_types::pb::{BadRequest, ErrorInfo, RetryInfo};

use crate::helpers::{
    ADMIN_TOKEN, TENANT_TOKEN, TestGateway, fixed_status, spawn_counting_fake_budget_service,
    spawn_fake_budget_service,
};

const STATUS_PATH: &str = "/budget.v1.BudgetService/GetBudgetStatus";

/// A Connect unary POST: `content_type`, the body, and headers as given.
async fn post(
    gateway: &TestGateway,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = gateway
        .client
        .post(gateway.url(path))
        .header("content-type", content_type)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A JSON POST as the admin API caller.
async fn post_json(gateway: &TestGateway, method: &str, body: &str) -> reqwest::Response {
    let authorization = bearer(ADMIN_TOKEN);
    post(
        gateway,
        &format!("/budget.v1.BudgetService/{method}"),
        "application/json",
        body.to_owned(),
        &[("authorization", &authorization)],
    )
    .await
}

async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}: {text}"))
}

/// The README's example: `curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type:
/// application/json' -d '{"tenantId":"acme"}' …/GetBudgetStatus`.
#[tokio::test]
async fn a_json_post_with_a_bearer_token_answers_proto3_json() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    let response = post_json(&gateway, "GetBudgetStatus", r#"{"tenantId":"acme"}"#).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["x-request-id"].len(), 32);
    // Upstream's response metadata comes back as headers.
    assert_eq!(
        response.headers()["x-echo-request-id"],
        response.headers()["x-request-id"]
    );
    let body = json_of(response).await;
    assert_eq!(
        body,
        json!({"status": {
            "tenantId": "acme",
            "spendMicros": "42500000",
            "maxBudgetMicros": "100000000",
            "percentUsed": 42.5,
            "alertThresholdPercent": 80,
            "graceThresholdPercent": 110,
            "blockAtMicros": "110000000",
            "state": "BUDGET_STATE_OK",
            "resetTime": "2026-01-01T00:00:00Z",
            "daysUntilReset": 12,
            "budgetDuration": "30d",
        }})
    );
}

#[tokio::test]
async fn a_binary_post_answers_the_binary_message() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    let request = GetBudgetStatusRequest {
        tenant_id: "acme".to_owned(),
    };
    let authorization = bearer(ADMIN_TOKEN);
    let response = post(
        &gateway,
        STATUS_PATH,
        "application/proto",
        request.encode_to_vec(),
        &[
            ("authorization", &authorization),
            ("connect-protocol-version", "1"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/proto");
    let answer = GetBudgetStatusResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(answer.status, Some(fixed_status("acme")));
}

#[tokio::test]
async fn get_serves_methods_without_side_effects_only() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    let authorization = bearer(ADMIN_TOKEN);
    let get = |query: String| {
        gateway
            .client
            .get(gateway.url(&format!("{STATUS_PATH}?{query}")))
            .header("authorization", &authorization)
            .send()
    };

    let json_message = "%7B%22tenantId%22%3A%22acme%22%7D";
    let response = get(format!("connect=v1&encoding=json&message={json_message}"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(json_of(response).await["status"]["tenantId"], "acme");

    let binary = GetBudgetStatusRequest {
        tenant_id: "acme".to_owned(),
    }
    .encode_to_vec();
    let query = format!(
        "connect=v1&encoding=proto&base64=1&compression=identity&message={}",
        URL_SAFE_NO_PAD.encode(&binary)
    );
    let response = get(query).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/proto");
    let answer = GetBudgetStatusResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(answer.status, Some(fixed_status("acme")));

    let response = get("connect=v1&encoding=yaml&message=x".to_owned())
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(response).await["code"], "invalid_argument");

    // UpdateBudgetConfig changes state: POST only.
    let response = gateway
        .client
        .get(gateway.url(&format!(
            "/budget.v1.BudgetService/UpdateBudgetConfig?connect=v1&encoding=json&message={}",
            "%7B%7D"
        )))
        .header("authorization", &authorization)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

/// The `value` of a Connect error detail, decoded.
fn detail<M: Message + Default>(body: &Value, type_name: &str) -> (M, Value) {
    let details = body["details"].as_array().unwrap();
    let detail = details
        .iter()
        .find(|detail| detail["type"] == type_name)
        .unwrap_or_else(|| panic!("no {type_name} in {body}"));
    let bytes = STANDARD_NO_PAD
        .decode(detail["value"].as_str().unwrap())
        .unwrap();
    (
        M::decode(bytes.as_slice()).unwrap(),
        detail["debug"].clone(),
    )
}

#[tokio::test]
async fn errors_are_connect_json_with_the_services_details() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;

    let response = post_json(
        &gateway,
        "UpdateBudgetConfig",
        r#"{"config":{"tenantId":"acme"}}"#,
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = json_of(response).await;
    assert_eq!(body["code"], "invalid_argument");
    assert_eq!(
        body["message"],
        "the budget configuration is invalid: 2 fields, see details"
    );
    let (bad_request, debug) = detail::<BadRequest>(&body, "google.rpc.BadRequest");
    assert_eq!(bad_request.field_violations.len(), 2);
    assert_eq!(
        bad_request.field_violations[0].field,
        "config.alert_threshold_percent"
    );
    assert_eq!(
        debug["fieldViolations"][1]["field"],
        "config.budget_duration"
    );

    let response = post_json(
        &gateway,
        "ExportTenantData",
        r#"{"tenantId":"nobody","kind":"EXPORT_KIND_ALERTS"}"#,
    )
    .await;
    assert_eq!(response.status(), 404);
    let body = json_of(response).await;
    assert_eq!(body["code"], "not_found");
    let (info, debug) = detail::<ErrorInfo>(&body, "google.rpc.ErrorInfo");
    assert_eq!(info.reason, "TENANT_NOT_FOUND");
    assert_eq!(info.metadata["tenant_id"], "nobody");
    assert_eq!(debug["domain"], "budget.v1");

    let response = post(
        &gateway,
        STATUS_PATH,
        "application/json",
        r#"{"tenantId":"acme"}"#,
        &[("authorization", "Bearer throttled-by-service")],
    )
    .await;
    assert_eq!(response.status(), 429);
    let body = json_of(response).await;
    assert_eq!(body["code"], "resource_exhausted");
    let (retry, debug) = detail::<RetryInfo>(&body, "google.rpc.RetryInfo");
    assert_eq!(retry.retry_delay.unwrap().nanos, 500_000_000);
    assert_eq!(debug["retryDelay"], "7.500s");
}

#[tokio::test]
async fn without_credentials_calls_are_unauthenticated_and_not_forwarded() {
    let (url, calls) = spawn_counting_fake_budget_service().await;
    let gateway = TestGateway::spawn(url).await;
    let response = post(
        &gateway,
        STATUS_PATH,
        "application/json",
        r#"{"tenantId":"acme"}"#,
        &[],
    )
    .await;
    assert_eq!(response.status(), 401);
    let body = json_of(response).await;
    assert_eq!(body["code"], "unauthenticated");
    assert!(
        body["message"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cookies_from_other_sites_are_refused_and_bearer_callers_are_not() {
    let mut gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    gateway.sign_in_as(TENANT_TOKEN).await;
    let cookie = gateway.cookie.clone().unwrap();
    let admin = bearer(ADMIN_TOKEN);
    let body = r#"{"tenantId":"acme"}"#;
    let path = "/budget.v1.BudgetService/GetBudgetConfig";

    // The browser's session, from its own pages, then from another site's.
    let origin = gateway.origin();
    let own = post(
        &gateway,
        path,
        "application/json",
        body,
        &[("cookie", &cookie), ("origin", &origin)],
    )
    .await;
    assert_eq!(own.status(), 200);
    assert_eq!(
        json_of(own).await["config"]["budgetDuration"],
        "Bearer good-tenant"
    );
    let evil = [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ];
    let refused = post(
        &gateway,
        path,
        "application/json",
        body,
        &[("cookie", &cookie), evil[0], evil[1]],
    )
    .await;
    assert_eq!(refused.status(), 403);

    // An API caller's bearer token works from anywhere: no page can make a browser send one.
    let api = post(
        &gateway,
        path,
        "application/json",
        body,
        &[("authorization", &admin), evil[0]],
    )
    .await;
    assert_eq!(api.status(), 200);
    assert_eq!(
        json_of(api).await["config"]["budgetDuration"],
        "Bearer good-admin"
    );

    // Both: still refused from another site; from the gateway's own pages the explicit token
    // is the caller, never added to the session's (the fake refuses two).
    let both = post(
        &gateway,
        path,
        "application/json",
        body,
        &[("cookie", &cookie), ("authorization", &admin), evil[0]],
    )
    .await;
    assert_eq!(both.status(), 403);
    let both = post(
        &gateway,
        path,
        "application/json",
        body,
        &[
            ("cookie", &cookie),
            ("authorization", &admin),
            ("origin", &origin),
        ],
    )
    .await;
    assert_eq!(both.status(), 200);
    assert_eq!(
        json_of(both).await["config"]["budgetDuration"],
        "Bearer good-admin"
    );
}

#[tokio::test]
async fn malformed_requests_get_clear_connect_errors() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    for (body, says) in [
        (r#"{"tenantId":"#, "not valid JSON"),
        (r#"{"tenant":"acme"}"#, "tenant"),
        (r#"{"tenantId":7}"#, "expected a string"),
        (r#"[1]"#, "not valid JSON"),
    ] {
        let response = post_json(&gateway, "GetBudgetStatus", body).await;
        assert_eq!(response.status(), 400, "{body}");
        let error = json_of(response).await;
        assert_eq!(error["code"], "invalid_argument", "{body}");
        assert!(
            error["message"].as_str().unwrap().contains(says),
            "{body}: {error}"
        );
    }

    let response = post_json(&gateway, "NoSuchMethod", "{}").await;
    assert_eq!(response.status(), 404);
    assert_eq!(json_of(response).await["code"], "unimplemented");

    let response = post(
        &gateway,
        STATUS_PATH,
        "text/plain",
        "{}",
        &[("authorization", "Bearer good-admin")],
    )
    .await;
    assert_eq!(response.status(), 415);

    let response = post(
        &gateway,
        STATUS_PATH,
        "application/json",
        "{}",
        &[
            ("authorization", "Bearer good-admin"),
            ("content-encoding", "br"),
        ],
    )
    .await;
    assert_eq!(response.status(), 501);
    assert_eq!(json_of(response).await["code"], "unimplemented");
}

#[tokio::test]
async fn gzip_request_bodies_are_accepted() {
    use std::io::Write as _;
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(br#"{"tenantId":"acme"}"#).unwrap();
    let response = post(
        &gateway,
        STATUS_PATH,
        "application/json",
        encoder.finish().unwrap(),
        &[
            ("authorization", "Bearer good-admin"),
            ("content-encoding", "gzip"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["status"]["tenantId"], "acme");
}

#[tokio::test]
async fn oversized_requests_are_resource_exhausted_and_not_forwarded() {
    let (url, calls) = spawn_counting_fake_budget_service().await;
    let gateway = TestGateway::spawn(url).await;
    // One larger than the body limit, one within it whose message is over the message limit.
    for size in [300 * 1024, 100 * 1024] {
        let body = format!(r#"{{"tenantId":"{}"}}"#, "a".repeat(size));
        let response = post_json(&gateway, "GetBudgetStatus", &body).await;
        assert_eq!(response.status(), 429, "{size}");
        let error = json_of(response).await;
        assert_eq!(error["code"], "resource_exhausted");
        assert!(
            error["message"].as_str().unwrap().contains("65536 bytes"),
            "{error}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn connect_timeout_ms_is_the_upstream_deadline_within_the_gateways_own() {
    let gateway = TestGateway::spawn_with_timeout(
        spawn_fake_budget_service().await,
        std::time::Duration::from_secs(1),
    )
    .await;
    let authorization = bearer(ADMIN_TOKEN);
    // The fake echoes the grpc-timeout it received in the etag.
    let response = post(
        &gateway,
        "/budget.v1.BudgetService/GetBudgetConfig",
        "application/json",
        r#"{"tenantId":"acme"}"#,
        &[
            ("authorization", &authorization),
            ("connect-timeout-ms", "1500"),
        ],
    )
    .await;
    assert_eq!(json_of(response).await["config"]["etag"], "1500m");

    // The fake sleeps page_size milliseconds: past the caller's deadline.
    let response = post(
        &gateway,
        "/budget.v1.BudgetService/ListAlerts",
        "application/json",
        r#"{"tenantId":"acme","pageSize":3000}"#,
        &[
            ("authorization", &authorization),
            ("connect-timeout-ms", "200"),
        ],
    )
    .await;
    assert_eq!(response.status(), 504);
    assert_eq!(json_of(response).await["code"], "deadline_exceeded");

    // A longer deadline than the gateway's own still ends at the gateway's.
    let response = post(
        &gateway,
        "/budget.v1.BudgetService/ListAlerts",
        "application/json",
        r#"{"tenantId":"acme","pageSize":3000}"#,
        &[
            ("authorization", &authorization),
            ("connect-timeout-ms", "60000"),
        ],
    )
    .await;
    assert_eq!(response.status(), 504);

    let response = post(
        &gateway,
        STATUS_PATH,
        "application/json",
        r#"{"tenantId":"acme"}"#,
        &[
            ("authorization", &authorization),
            ("connect-timeout-ms", "soon"),
        ],
    )
    .await;
    assert_eq!(response.status(), 400);
}
