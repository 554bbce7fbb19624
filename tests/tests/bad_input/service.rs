//! budget-service alone: inputs that once reached PostgreSQL, and oversized messages.

use budget_e2e::config;
use budget_proto::v1 as pb;
use tonic::Code;

use crate::calls::Call;
use crate::generators::base64_url;
use crate::harness::{Harness, MAX_REQUEST_BYTES};

/// Inputs these properties found that once answered INTERNAL (PostgreSQL refusing NUL in
/// text, or a time outside its range), kept as fixed cases.
#[test]
fn inputs_that_once_reached_postgresql_are_refused_first() {
    let h = Harness::start();
    h.rt.block_on(async {
        let token = |text: &str| base64_url(text.as_bytes());
        let webhook = |secret: String| pb::NotificationTarget {
            kind: pb::NotificationKind::Webhook.into(),
            url: "https://a.example/".into(),
            secret,
            ..Default::default()
        };
        let calls = [
            Call::ListTenants(pb::ListTenantsRequest {
                filter: "a\0".into(),
                ..Default::default()
            }),
            Call::ListTenants(pb::ListTenantsRequest {
                page_token: token("tenants:\0"),
                ..Default::default()
            }),
            Call::ListTenants(pb::ListTenantsRequest {
                order_by: "percent_used desc".into(),
                page_token: token("tenants-by-percent:50:\0"),
                ..Default::default()
            }),
            Call::ListAudit(pb::ListAuditEventsRequest {
                tenant_id: "acme".into(),
                page_token: token("audit:-8000000000000000000:1"),
                ..Default::default()
            }),
            Call::ListAlerts(pb::ListAlertsRequest {
                tenant_id: "acme".into(),
                page_token: token("alerts:8000000000000000000:1"),
                ..Default::default()
            }),
            Call::SetTargets(pb::SetNotificationTargetsRequest {
                tenant_id: "beta".into(),
                targets: vec![webhook("\0".repeat(16))],
            }),
        ];
        for call in calls {
            let before = h.snapshot().await;
            let described = format!("{call:?}");
            let status = call.send(h.stack()).await.unwrap_err();
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{described}: {status:?}"
            );
            assert_eq!(h.snapshot().await, before, "{described}");
        }
        // Page tokens naming odd but representable positions are simply positions.
        for payload in ["tenants-by-percent:NaN:zz", "tenants-by-percent:1e999:zz"] {
            h.stack()
                .client()
                .list_tenants(pb::ListTenantsRequest {
                    order_by: "percent_used desc".into(),
                    page_token: token(payload),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
    });
    h.stop();
}

#[test]
fn oversized_messages_are_refused_and_the_service_keeps_serving() {
    let h = Harness::start();
    h.rt.block_on(async {
        let before = h.snapshot().await;
        for size in [MAX_REQUEST_BYTES + 1, 1 << 20, 8 << 20] {
            let calls = [
                Call::Create(pb::CreateTenantRequest {
                    tenant_id: "big".into(),
                    display_name: "x".repeat(size),
                    config: Some(config(100, 80, 110, "30d")),
                }),
                Call::ListTenants(pb::ListTenantsRequest {
                    filter: "x".repeat(size),
                    ..Default::default()
                }),
            ];
            for call in calls {
                let status = call.send(h.stack()).await.unwrap_err();
                assert!(
                    matches!(
                        status.code(),
                        Code::OutOfRange | Code::ResourceExhausted | Code::InvalidArgument
                    ),
                    "{size} bytes: {status:?}"
                );
            }
        }
        assert_eq!(h.snapshot().await, before);
        h.assert_alive().await.unwrap();
    });
    h.stop();
}
