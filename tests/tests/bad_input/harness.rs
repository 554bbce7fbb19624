//! The stack and its observable state.

use std::time::Duration;

use budget_e2e::{SIM_MASTER_KEY, Stack, StackOptions};
use budget_proto::v1 as pb;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tonic::Code;

/// budget-service's cap on one incoming message.
pub(crate) const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Codes a caller may get for bad input, as documented on the RPCs.
pub(crate) const CLIENT_ERRORS: [Code; 7] = [
    Code::InvalidArgument,
    Code::NotFound,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::OutOfRange,
];

/// One runtime and one stack for a whole property test.
pub(crate) struct Harness {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) stack: Option<Stack>,
    pub(crate) http: reqwest::Client,
}

impl Harness {
    /// A stack with tenants `acme` (with a webhook target and a temporary increase) and `beta`.
    pub(crate) fn start() -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let stack = rt.block_on(async {
            let stack = Stack::start_with(StackOptions {
                write_rate_per_sec: 100_000.0,
                write_burst: 100_000.0,
                ..StackOptions::default()
            })
            .await;
            stack.create_tenant("acme", 500).await;
            stack.create_tenant("beta", 100).await;
            stack
                .client()
                .set_notification_targets(pb::SetNotificationTargetsRequest {
                    tenant_id: "acme".into(),
                    targets: vec![pb::NotificationTarget {
                        kind: pb::NotificationKind::Webhook.into(),
                        url: "https://hooks.example.com/budget".into(),
                        secret: "0123456789abcdef0123".into(),
                        ..Default::default()
                    }],
                })
                .await
                .unwrap();
            stack
                .client()
                .grant_temporary_increase(pb::GrantTemporaryIncreaseRequest {
                    tenant_id: "acme".into(),
                    amount_micros: 50_000_000,
                    expire_time: Some(prost_types::Timestamp {
                        seconds: chrono::Utc::now().timestamp() + 86_400,
                        nanos: 0,
                    }),
                    reason: "launch".into(),
                })
                .await
                .unwrap();
            // Load history once, so that later reads have nothing left to fill in.
            for id in ["acme", "beta"] {
                let _ = stack
                    .client()
                    .get_budget_status(pb::GetBudgetStatusRequest {
                        tenant_id: id.into(),
                    })
                    .await
                    .unwrap();
            }
            stack
        });
        Harness {
            rt,
            stack: Some(stack),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub(crate) fn stack(&self) -> &Stack {
        self.stack.as_ref().unwrap()
    }

    pub(crate) fn stop(mut self) {
        let stack = self.stack.take().unwrap();
        self.rt.block_on(stack.stop());
    }

    /// Everything a call could have stored: our tables (less the columns reads refresh) and
    /// every LiteLLM key, live or deleted, with its limits.
    pub(crate) async fn snapshot(&self) -> String {
        let stack = self.stack();
        let (db,): (String,) = sqlx::query_as(
            "SELECT coalesce(string_agg(r, E'\\n' ORDER BY r), '') FROM (
                SELECT 'tenant ' || (to_jsonb(t) - 'history_loaded_at')::text AS r FROM tenants t
                UNION ALL SELECT 'config ' || (to_jsonb(c) - 'budget_reset_at')::text FROM tenant_configs c
                UNION ALL SELECT 'audit ' || to_jsonb(a)::text FROM audit_events a
                UNION ALL SELECT 'target ' || to_jsonb(n)::text FROM notification_targets n
                UNION ALL SELECT 'increase ' || to_jsonb(i)::text FROM temporary_increases i
                UNION ALL SELECT 'alert ' || to_jsonb(h)::text FROM budget_alert_history h
                UNION ALL SELECT 'delivery ' || to_jsonb(d)::text FROM notification_deliveries d
            ) s",
        )
        .fetch_one(stack.store.pool())
        .await
        .unwrap();
        let mut keys = Vec::new();
        for status in ["", "&status=deleted"] {
            let listed: serde_json::Value = self
                .http
                .get(format!(
                    "{}/key/list?return_full_object=true&size=100{status}",
                    stack.sim.base_url()
                ))
                .bearer_auth(SIM_MASTER_KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for k in listed["keys"].as_array().unwrap() {
                keys.push(format!(
                    "key {} {} {} {} {} {} {}",
                    k["token"],
                    k["key_alias"],
                    k["max_budget"],
                    k["soft_budget"],
                    k["budget_duration"],
                    k["blocked"],
                    k["metadata"]
                ));
            }
        }
        keys.sort();
        format!("{db}\n{}", keys.join("\n"))
    }

    /// budget-service still answers.
    pub(crate) async fn assert_alive(&self) -> Result<(), TestCaseError> {
        let me = self
            .stack()
            .client()
            .who_am_i(pb::WhoAmIRequest {})
            .await
            .map_err(|e| TestCaseError::fail(format!("service stopped answering: {e:?}")))?;
        prop_assert_eq!(me.into_inner().role(), pb::Role::PlatformAdmin);
        Ok(())
    }
}
