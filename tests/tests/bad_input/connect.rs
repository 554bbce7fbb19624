//! The gateway's Connect protocol: generated JSON, binary and GET requests with an API
//! caller's bearer token. Each answer is OK or Connect's JSON error with a client error's code,
//! never an HTTP 5xx; nothing is stored by a refused call; the gateway keeps serving.

use std::collections::BTreeMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use budget_e2e::ADMIN_TOKEN;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Value, json};

use crate::gateway::{METHODS, start_gateway};
use crate::harness::Harness;

/// Field names the requests have (camelCase and proto names), and others.
const FIELDS: &[&str] = &[
    "tenantId",
    "tenant_id",
    "config",
    "maxBudgetMicros",
    "alertThresholdPercent",
    "budgetDuration",
    "etag",
    "updateMask",
    "pageSize",
    "pageToken",
    "kind",
    "startDate",
    "endDate",
    "targets",
    "amountMicros",
    "expireTime",
    "nope",
    "",
];

fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!("9223372036854775808")),
        Just(json!("EXPORT_KIND_ALERTS")),
        Just(json!("2026-13-45T99:00:00Z")),
        Just(json!("acme")),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(FIELDS), inner, 0..5).prop_map(
                |map| Value::Object(map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            ),
        ]
    })
    .boxed()
}

/// A request: the content type (or GET), the body or query, extra headers.
#[derive(Debug, Clone)]
enum ConnectRequest {
    Post {
        content_type: &'static str,
        body: Vec<u8>,
        timeout: Option<String>,
    },
    Get {
        query: String,
    },
}

fn connect_request() -> impl Strategy<Value = ConnectRequest> {
    let json_body = json_value()
        .prop_map(|value| value.to_string().into_bytes())
        .boxed();
    let bytes = prop::collection::vec(any::<u8>(), 0..256);
    let timeout = prop::option::of(prop_oneof![
        Just("0".to_owned()),
        Just("99999999999".to_owned()),
        "[0-9a-z-]{0,12}",
    ]);
    prop_oneof![
        (json_body.clone(), timeout.clone()).prop_map(|(body, timeout)| ConnectRequest::Post {
            content_type: "application/json",
            body,
            timeout,
        }),
        (bytes.clone(), timeout).prop_map(|(body, timeout)| ConnectRequest::Post {
            content_type: "application/proto",
            body,
            timeout,
        }),
        (
            json_body,
            prop::sample::select(&["json", "proto", "xml", ""][..]),
            any::<bool>()
        )
            .prop_map(|(message, encoding, base64)| {
                let message = if base64 {
                    URL_SAFE_NO_PAD.encode(&message)
                } else {
                    message.iter().map(|b| format!("%{b:02X}")).collect()
                };
                let flag = if base64 { "&base64=1" } else { "" };
                ConnectRequest::Get {
                    query: format!("connect=v1&encoding={encoding}&message={message}{flag}"),
                }
            }),
        "[a-z=&%0-9]{0,60}".prop_map(|query| ConnectRequest::Get { query }),
    ]
}

/// Connect's names of the codes a caller may get for bad input (and OK).
const ACCEPTABLE: &[&str] = &[
    "invalid_argument",
    "not_found",
    "failed_precondition",
    "aborted",
    "already_exists",
    "permission_denied",
    "out_of_range",
    "unimplemented",
    "resource_exhausted",
    "deadline_exceeded",
];

#[test]
fn malformed_connect_requests_get_clear_errors() {
    let h = Harness::start();
    let gw = h.rt.block_on(start_gateway(h.stack(), &h.http));
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    });
    let strategy = (connect_request(), prop::sample::select(METHODS));
    let codes = Mutex::new(BTreeMap::new());
    let authorization = format!("Bearer {ADMIN_TOKEN}");
    let result = runner.run(&strategy, |(request, method)| {
        h.rt.block_on(async {
            let before = h.snapshot().await;
            let url = format!("http://{}/budget.v1.BudgetService/{method}", gw.addr);
            let builder = match &request {
                ConnectRequest::Post {
                    content_type,
                    body,
                    timeout,
                } => {
                    let mut builder = h
                        .http
                        .post(&url)
                        .header("content-type", *content_type)
                        .body(body.clone());
                    if let Some(timeout) = timeout {
                        builder = builder.header("connect-timeout-ms", timeout);
                    }
                    builder
                }
                ConnectRequest::Get { query } => h.http.get(format!("{url}?{query}")),
            };
            let response = builder
                .header("authorization", &authorization)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = response.bytes().await.unwrap();
            if status != 200 {
                prop_assert_eq!(content_type.as_deref(), Some("application/json"));
                let error: Value = serde_json::from_slice(&body).unwrap();
                let code = error["code"].as_str().unwrap_or("none").to_owned();
                prop_assert!(
                    ACCEPTABLE.contains(&code.as_str()),
                    "{} for {:?}",
                    error,
                    request
                );
                // A deadline of 0 ms is the caller's own choice: HTTP 504 is Connect's status
                // for it. Any other 5xx would be the gateway's failure or a false outage.
                prop_assert!(
                    status < 500 || (status == 504 && code == "deadline_exceeded"),
                    "HTTP {} for {:?}: {}",
                    status,
                    request,
                    error
                );
                *codes.lock().unwrap().entry(code).or_insert(0) += 1;
            }
            if status != 200 {
                prop_assert_eq!(
                    &h.snapshot().await,
                    &before,
                    "a refused call stored something"
                );
            }
            let health = h
                .http
                .get(format!("http://{}/healthz", gw.addr))
                .send()
                .await
                .unwrap();
            prop_assert_eq!(health.status().as_u16(), 200);
            h.assert_alive().await
        })
    });
    let _ = gw.stop.send(());
    h.stop();
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let codes = codes.into_inner().unwrap();
    println!("Connect answers: {codes:?}");
    assert!(codes.contains_key("invalid_argument"), "{codes:?}");
}
