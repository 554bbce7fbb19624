//! The gateway: raw gRPC-web bodies.

use std::collections::BTreeMap;
use std::sync::Mutex;

use budget_e2e::{ADMIN_TOKEN, Stack};
use budget_proto::v1 as pb;
use grpc_web_client::{DATA, Reply, frame, frame_claiming};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use prost::Message;

use crate::harness::Harness;

/// A gateway in front of the harness's budget-service, with a signed-in admin session.
pub(crate) struct GatewayUnderTest {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) cookie: String,
    pub(crate) stop: tokio::sync::oneshot::Sender<()>,
}

pub(crate) async fn start_gateway(stack: &Stack, http: &reqwest::Client) -> GatewayUnderTest {
    let gateway = budget_gateway::Gateway::build(budget_e2e::gateway_config(&format!(
        "http://{}",
        stack.addr
    )))
    .await
    .unwrap();
    let addr = gateway.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gateway.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let cookie = grpc_web_client::sign_in(http, &format!("http://{addr}"), ADMIN_TOKEN)
        .await
        .expect("signing in");
    GatewayUnderTest { addr, cookie, stop }
}

pub(crate) fn grpc_web_body() -> BoxedStrategy<Vec<u8>> {
    let garbage = prop::collection::vec(any::<u8>(), 0..512);
    prop_oneof![
        // Random bytes, no framing at all.
        garbage.clone(),
        // A well-framed message whose payload is not protobuf of the request type.
        garbage.clone().prop_map(|p| frame(DATA, &p)),
        // Lengths that lie: longer or shorter than the payload, or huge.
        (
            garbage.clone(),
            prop_oneof![Just(u32::MAX), Just(0x7fff_ffff), Just(65_537), 0u32..1024]
        )
            .prop_map(|(p, len)| frame_claiming(DATA, len, &p)),
        // Flags other than "uncompressed message": compressed, trailers, unknown bits.
        (any::<u8>(), garbage.clone()).prop_map(|(flag, p)| frame(flag, &p)),
        // A frame cut short.
        garbage.prop_map(|p| {
            let full = frame(DATA, &p);
            full[..full.len().min(3)].to_vec()
        }),
        // A valid request followed by a second message or by junk.
        prop::collection::vec(any::<u8>(), 0..16).prop_map(|junk| {
            let payload = pb::GetBudgetStatusRequest {
                tenant_id: "acme".into(),
            }
            .encode_to_vec();
            let mut body = frame(DATA, &payload);
            body.extend(frame(DATA, &payload));
            body.extend(junk);
            body
        }),
    ]
    .boxed()
}

pub(crate) const METHODS: &[&str] = &[
    "GetBudgetStatus",
    "UpdateBudgetConfig",
    "CreateTenant",
    "ListTenants",
    "SetNotificationTargets",
    "GrantTemporaryIncrease",
    "ExportTenantData",
    "NoSuchMethod",
];

pub(crate) const CONTENT_TYPES: &[&str] = &[
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web-text",
    "application/grpc",
    "application/json",
    "text/plain",
    "",
];

/// The gRPC code of a gRPC-web answer: from the headers (trailers-only) or the trailer frame.
pub(crate) fn grpc_web_code(headers: &reqwest::header::HeaderMap, body: &[u8]) -> Option<i32> {
    Reply::parse(reqwest::StatusCode::OK, headers.clone(), body).grpc_status()
}

#[test]
fn malformed_grpc_web_at_the_gateway_gets_a_clear_error() {
    let h = Harness::start();
    let gw = h.rt.block_on(start_gateway(h.stack(), &h.http));
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    });
    let strategy = (
        grpc_web_body(),
        prop::sample::select(METHODS),
        prop::sample::select(CONTENT_TYPES),
    );
    let codes = Mutex::new(BTreeMap::new());
    let result = runner.run(&strategy, |(body, method, content_type)| {
        h.rt.block_on(async {
            let before = h.snapshot().await;
            let mut request = h
                .http
                .post(format!(
                    "http://{}/budget.v1.BudgetService/{method}",
                    gw.addr
                ))
                .header("x-grpc-web", "1")
                .header("cookie", &gw.cookie)
                .body(body);
            if !content_type.is_empty() {
                request = request.header("content-type", content_type);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await.unwrap();
            prop_assert!(status < 500, "HTTP {} for {}", status, content_type);
            let code = grpc_web_code(&headers, &body);
            *codes
                .lock()
                .unwrap()
                .entry(format!(
                    "HTTP {status}, grpc-status {code:?} {:?}",
                    headers.get("grpc-message")
                ))
                .or_insert(0) += 1;
            // INTERNAL (13) or UNKNOWN (2) would be a failure of our own, UNAVAILABLE (14) a
            // false outage: budget-service is up.
            if let Some(code) = code {
                prop_assert!(
                    ![2, 13, 14].contains(&code),
                    "grpc-status {} ({:?}) for {} {}",
                    code,
                    headers.get("grpc-message"),
                    content_type,
                    method
                );
            }
            prop_assert_eq!(
                &h.snapshot().await,
                &before,
                "a malformed call stored something"
            );
            // The gateway still serves the dashboard and still forwards calls.
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
    // Undecodable messages were refused as INVALID_ARGUMENT, by budget-service (bad protobuf or
    // framing) and by the gateway (bodies tonic-web could not decode).
    let codes = codes.into_inner().unwrap();
    println!("gateway answers: {codes:?}");
    for message in ["not%20a%20valid%20message", "not%20valid%20gRPC-web"] {
        assert!(
            codes
                .keys()
                .any(|k| k.contains("grpc-status Some(3)") && k.contains(message)),
            "{message}: {codes:?}"
        );
    }
}

/// A unary call carrying a second message after a valid first one (the case the property test
/// above once found): tonic alone would run the call with the first message. It is refused
/// before the handler runs, for each method that changes something, and nothing is stored.
#[test]
fn a_unary_call_with_two_messages_is_refused_and_changes_nothing() {
    let h = Harness::start();
    let gw = h.rt.block_on(start_gateway(h.stack(), &h.http));
    // SetNotificationTargetsRequest { tenant_id: "acme" } (no targets: would clear them), twice.
    let message = [0x0a, 4, b'a', b'c', b'm', b'e'];
    let body = [frame(DATA, &message), frame(DATA, &message)].concat();
    h.rt.block_on(async {
        for method in [
            "SetNotificationTargets",
            "UpdateBudgetConfig",
            "DeleteTenant",
        ] {
            let before = h.snapshot().await;
            let response = h
                .http
                .post(format!(
                    "http://{}/budget.v1.BudgetService/{method}",
                    gw.addr
                ))
                .header("x-grpc-web", "1")
                .header("content-type", "application/grpc-web+proto")
                .header("cookie", &gw.cookie)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let headers = response.headers().clone();
            let bytes = response.bytes().await.unwrap();
            assert_eq!(grpc_web_code(&headers, &bytes), Some(3), "{method}");
            assert_eq!(h.snapshot().await, before, "{method} stored something");
        }
    });
    let _ = gw.stop.send(());
    h.stop();
}
