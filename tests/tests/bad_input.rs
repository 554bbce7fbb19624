//! Bad input, generated: every field of every BudgetService request filled with negative,
//! zero and extreme numbers, empty, huge, unicode and SQL-flavoured strings, crafted page
//! tokens and missing messages; malformed gRPC-web frames at the gateway; oversized messages;
//! random webhook bodies. Each answer must be OK or a clear client error, never INTERNAL or
//! UNKNOWN; the service must keep answering; and a refused call must change nothing in
//! PostgreSQL or in LiteLLM.
//!
//! Each test builds one runtime and one stack and drives proptest's runner from plain `#[test]`
//! functions, blocking on each generated call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use budget_e2e::{ADMIN_TOKEN, SIM_MASTER_KEY, Stack, StackOptions, WEBHOOK_SECRET, config};
use budget_proto::v1 as pb;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use prost::Message;
use tonic::Code;

/// budget-service's cap on one incoming message.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Codes a caller may get for bad input, as documented on the RPCs.
const CLIENT_ERRORS: [Code; 7] = [
    Code::InvalidArgument,
    Code::NotFound,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::OutOfRange,
];

// ---------------------------------------------------------------------------------------------
// The stack and its observable state
// ---------------------------------------------------------------------------------------------

/// One runtime and one stack for a whole property test.
struct Harness {
    rt: tokio::runtime::Runtime,
    stack: Option<Stack>,
    http: reqwest::Client,
}

impl Harness {
    /// A stack with tenants `acme` (with a webhook target and a temporary increase) and `beta`.
    fn start() -> Harness {
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

    fn stack(&self) -> &Stack {
        self.stack.as_ref().unwrap()
    }

    fn stop(mut self) {
        let stack = self.stack.take().unwrap();
        self.rt.block_on(stack.stop());
    }

    /// Everything a call could have stored: our tables (less the columns reads refresh) and
    /// every LiteLLM key, live or deleted, with its limits.
    async fn snapshot(&self) -> String {
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
    async fn assert_alive(&self) -> Result<(), TestCaseError> {
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

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// Strings meant to break parsers, SQL and encodings.
const NASTY: &[&str] = &[
    "",
    " ",
    "'",
    "\"",
    "\\",
    "%",
    "_",
    "%_%",
    "\0",
    "a\0b",
    "acme\0",
    "'; DROP TABLE tenants; --",
    "acme' OR '1'='1",
    "$1",
    "NULL",
    "null",
    "NaN",
    "-1",
    "9223372036854775808",
    "\r\n",
    "\u{202e}acme",
    "\u{feff}",
    "😀",
    "ａｃｍｅ",
    "ACME",
    "acme ",
    " acme",
    "-acme",
    "acme-",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "30d ",
    "30D",
    "0d",
    "-30d",
    "1d",
    "30",
    "2026-02-30",
    "9999-12-31",
    "0000-01-01",
    "-2026-01-01",
    "2026-13-01",
    "2026-1-1",
    "tenant_id",
    "percent_used desc",
    "percent_used DESC",
    "tenant_id desc",
    "\"1\"",
];

fn nasty() -> impl Strategy<Value = String> {
    prop::sample::select(NASTY).prop_map(str::to_owned)
}

/// Any string a caller could send, below the message cap.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => nasty(),
        2 => "[a-z0-9-]{0,70}",
        2 => any::<String>(),
        1 => "\\PC{0,200}",
        1 => (any::<char>(), 1usize..3000).prop_map(|(c, n)| c.to_string().repeat(n)),
        // PostgreSQL refuses NUL in text, so every string path must stop it first.
        1 => ("[a-z0-9-]{0,8}", "\\PC{0,8}").prop_map(|(a, b)| format!("{a}\0{b}")),
    ]
    .boxed()
}

/// A tenant id: mostly the seeded tenants or well-formed ones, else anything.
fn tenant_id() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(&["acme", "beta", "gamma", "zz-unknown"][..]).prop_map(str::to_owned),
        2 => "[a-z0-9][a-z0-9-]{0,63}",
        3 => text(),
    ]
    .boxed()
}

/// A seeded tenant mostly, so the other fields reach the database.
fn known_tenant() -> BoxedStrategy<String> {
    mostly(
        prop::sample::select(&["acme", "beta"][..]).prop_map(str::to_owned),
        tenant_id(),
    )
}

fn micros() -> BoxedStrategy<i64> {
    prop_oneof![
        prop::sample::select(
            &[
                0,
                -1,
                1,
                i64::MIN,
                i64::MAX,
                i64::MIN + 1,
                i64::MAX - 1,
                10_000_000_000_000,
                10_000_000_000_001,
                500_000_000,
            ][..]
        ),
        1i64..=10_000_000_000_000,
        any::<i64>(),
    ]
    .boxed()
}

fn small_int() -> BoxedStrategy<i32> {
    prop_oneof![
        prop::sample::select(
            &[
                0,
                -1,
                1,
                i32::MIN,
                i32::MAX,
                49,
                50,
                80,
                100,
                101,
                110,
                150,
                151,
                6,
                7,
                90,
                91
            ][..]
        ),
        -10i32..300,
        any::<i32>(),
    ]
    .boxed()
}

fn duration() -> BoxedStrategy<String> {
    prop_oneof![
        2 => prop::sample::select(&["30d", "60d", "90d"][..]).prop_map(str::to_owned),
        1 => text(),
    ]
    .boxed()
}

fn timestamp() -> BoxedStrategy<Option<prost_types::Timestamp>> {
    let now = chrono::Utc::now().timestamp();
    let seconds = prop_oneof![
        prop::sample::select(vec![
            0,
            -1,
            i64::MIN,
            i64::MAX,
            253_402_300_799,
            253_402_300_800,
            now,
            now - 86_400,
            now + 86_400,
            now + 400 * 86_400,
        ]),
        (now - 1_000_000..now + 100_000_000),
        any::<i64>(),
        // Within the next month: a valid expiry.
        (now + 3600..now + 30 * 86_400),
        (now + 3600..now + 30 * 86_400),
    ];
    let nanos = prop_oneof![
        Just(0),
        Just(0),
        0..1_000_000_000,
        Just(-1),
        Just(999_999_999),
        Just(1_000_000_000),
        Just(i32::MAX),
        Just(i32::MIN),
        any::<i32>(),
    ];
    prop::option::weighted(0.9, (seconds, nanos))
        .prop_map(|t| t.map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }))
        .boxed()
}

/// Mostly `valid`, sometimes anything: most generated requests then have one or two bad
/// fields, so each field's validation is reached and well-formed requests get through.
fn mostly<T: std::fmt::Debug + 'static>(
    valid: impl Strategy<Value = T> + 'static,
    anything: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    prop_oneof![4 => valid, 1 => anything].boxed()
}

fn budget_config() -> BoxedStrategy<Option<pb::BudgetConfig>> {
    let fields = (
        mostly(1i64..=10_000_000_000_000, micros()),
        mostly(50i32..=100, small_int()),
        mostly(100i32..=150, small_int()),
        duration(),
        mostly(Just(String::new()), tenant_id()),
        mostly(Just(String::new()), text()),
    );
    let some = fields.prop_map(|(budget, alert, grace, duration, tenant_id, etag)| {
        Some(pb::BudgetConfig {
            tenant_id,
            max_budget_micros: budget,
            alert_threshold_percent: alert,
            grace_threshold_percent: grace,
            budget_duration: duration,
            etag,
            ..Default::default()
        })
    });
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(config(200, 80, 110, "30d"))),
        10 => some,
    ]
    .boxed()
}

/// Unpadded URL-safe base64, the encoding of our page tokens.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// A page token: garbage, or well-formed base64 of a payload we did not write.
fn page_token() -> BoxedStrategy<String> {
    let kinds = prop::sample::select(
        &[
            "tenants",
            "tenants-by-percent",
            "alerts",
            "audit",
            "other",
            "",
        ][..],
    );
    let payload = prop_oneof![
        text(),
        (any::<i64>(), any::<i64>()).prop_map(|(a, b)| format!("{a}:{b}")),
        prop::sample::select(
            &[
                "NaN:acme",
                "inf:acme",
                "-inf:zz",
                "1e308:acme",
                "50:\0",
                "9223372036854775807:1",
                "-9223372036854775808:-1",
                "253402300800000000:1",
                "-62135596800000001:1",
            ][..]
        )
        .prop_map(str::to_owned),
    ];
    // Times around the ends of chrono's and PostgreSQL's ranges, as cursor positions.
    let cursor = (
        prop::sample::select(&["alerts", "audit"][..]),
        prop_oneof![
            prop::sample::select(
                &[
                    0,
                    -1,
                    -210_866_803_200_000_001,
                    -8_000_000_000_000_000_000,
                    8_000_000_000_000_000_000,
                    8_210_298_412_799_999_999,
                    253_402_300_800_000_000,
                    i64::MIN,
                    i64::MAX
                ][..]
            ),
            any::<i64>()
        ],
        any::<i64>(),
    )
        .prop_map(|(kind, micros, id)| base64_url(format!("{kind}:{micros}:{id}").as_bytes()));
    let crafted = (kinds, payload)
        .prop_map(|(kind, payload)| base64_url(format!("{kind}:{payload}").as_bytes()));
    prop_oneof![1 => text(), 2 => crafted, 2 => cursor].boxed()
}

fn target() -> BoxedStrategy<pb::NotificationTarget> {
    let url = prop_oneof![
        6 => Just("https://hooks.example.com/x".to_owned()),
        2 => "https://[a-z]{1,10}\\.example/[a-zA-Z0-9/%?=&]{0,40}",
        1 => Just("http://[::1]:1/".to_owned()),
        1 => Just("https://u:p@example.com/a?b=c#d".to_owned()),
        1 => Just("ftp://example.com/".to_owned()),
        1 => Just("https://example.com/\0".to_owned()),
        1 => Just("https://exa\0mple.com/".to_owned()),
        1 => Just(format!("https://example.com/{}", "a".repeat(2100))),
        2 => text(),
    ];
    let secret = prop_oneof![
        2 => Just(String::new()),
        4 => Just("0123456789abcdef".to_owned()),
        4 => "\\PC{16,64}",
        2 => Just("\0".repeat(16)),
        1 => Just("é".repeat(256)),
        1 => Just("x".repeat(257)),
        2 => text(),
    ];
    (
        mostly(
            Just(String::new()),
            prop_oneof![Just("1".to_owned()), text()],
        ),
        mostly(1i32..=2, small_int()),
        url,
        secret,
        mostly("[a-zA-Z0-9 ]{0,30}", text()),
        any::<bool>(),
        text(),
    )
        .prop_map(
            |(target_id, kind, url, secret, description, has_secret, url_origin)| {
                pb::NotificationTarget {
                    target_id,
                    kind: kind.rem_euclid(4),
                    url,
                    secret,
                    has_secret,
                    description,
                    create_time: None,
                    url_origin,
                }
            },
        )
        .boxed()
}

fn key_hash() -> BoxedStrategy<String> {
    prop_oneof![
        text(),
        "[0-9a-f]{64}",
        "[0-9A-F]{64}",
        "[0-9a-f]{63}",
        Just(format!("{}\0", "a".repeat(63))),
        Just("sk-1234".to_owned()),
    ]
    .boxed()
}

/// One call of any BudgetService RPC with generated fields.
#[derive(Clone, Debug)]
enum Call {
    Status(pb::GetBudgetStatusRequest),
    GetConfig(pb::GetBudgetConfigRequest),
    Update(pb::UpdateBudgetConfigRequest),
    ListAlerts(pb::ListAlertsRequest),
    History(pb::GetSpendHistoryRequest),
    ListTenants(pb::ListTenantsRequest),
    Create(pb::CreateTenantRequest),
    ListAudit(pb::ListAuditEventsRequest),
    ListTargets(pb::ListNotificationTargetsRequest),
    SetTargets(pb::SetNotificationTargetsRequest),
    WhoAmI(pb::WhoAmIRequest),
    Delete(pb::DeleteTenantRequest),
    Rotate(pb::RotateTenantKeyRequest),
    Attach(pb::AttachTenantKeyRequest),
    Suspend(pb::SuspendTenantRequest),
    Resume(pb::ResumeTenantRequest),
    Increase(pb::GrantTemporaryIncreaseRequest),
    Export(pb::ExportTenantDataRequest),
}

impl Call {
    /// Reads never change anything, whatever they answer.
    fn is_read(&self) -> bool {
        matches!(
            self,
            Call::Status(_)
                | Call::GetConfig(_)
                | Call::ListAlerts(_)
                | Call::History(_)
                | Call::ListTenants(_)
                | Call::ListAudit(_)
                | Call::ListTargets(_)
                | Call::WhoAmI(_)
                | Call::Export(_)
        )
    }

    fn encoded_len(&self) -> usize {
        match self {
            Call::Status(r) => r.encoded_len(),
            Call::GetConfig(r) => r.encoded_len(),
            Call::Update(r) => r.encoded_len(),
            Call::ListAlerts(r) => r.encoded_len(),
            Call::History(r) => r.encoded_len(),
            Call::ListTenants(r) => r.encoded_len(),
            Call::Create(r) => r.encoded_len(),
            Call::ListAudit(r) => r.encoded_len(),
            Call::ListTargets(r) => r.encoded_len(),
            Call::SetTargets(r) => r.encoded_len(),
            Call::WhoAmI(r) => r.encoded_len(),
            Call::Delete(r) => r.encoded_len(),
            Call::Rotate(r) => r.encoded_len(),
            Call::Attach(r) => r.encoded_len(),
            Call::Suspend(r) => r.encoded_len(),
            Call::Resume(r) => r.encoded_len(),
            Call::Increase(r) => r.encoded_len(),
            Call::Export(r) => r.encoded_len(),
        }
    }

    /// Sends the call; only the status matters.
    async fn send(self, stack: &Stack) -> Result<(), tonic::Status> {
        let mut c = stack.client();
        match self {
            Call::Status(r) => c.get_budget_status(r).await.map(drop),
            Call::GetConfig(r) => c.get_budget_config(r).await.map(drop),
            Call::Update(r) => c.update_budget_config(r).await.map(drop),
            Call::ListAlerts(r) => c.list_alerts(r).await.map(drop),
            Call::History(r) => c.get_spend_history(r).await.map(drop),
            Call::ListTenants(r) => c.list_tenants(r).await.map(drop),
            Call::Create(r) => c.create_tenant(r).await.map(drop),
            Call::ListAudit(r) => c.list_audit_events(r).await.map(drop),
            Call::ListTargets(r) => c.list_notification_targets(r).await.map(drop),
            Call::SetTargets(r) => c.set_notification_targets(r).await.map(drop),
            Call::WhoAmI(r) => c.who_am_i(r).await.map(drop),
            Call::Delete(r) => c.delete_tenant(r).await.map(drop),
            Call::Rotate(r) => c.rotate_tenant_key(r).await.map(drop),
            Call::Attach(r) => c.attach_tenant_key(r).await.map(drop),
            Call::Suspend(r) => c.suspend_tenant(r).await.map(drop),
            Call::Resume(r) => c.resume_tenant(r).await.map(drop),
            Call::Increase(r) => c.grant_temporary_increase(r).await.map(drop),
            Call::Export(r) => c.export_tenant_data(r).await.map(drop),
        }
    }
}

/// Reads and lists, with every paging, filter and date field.
fn read_call() -> BoxedStrategy<Call> {
    prop_oneof![
        tenant_id().prop_map(|tenant_id| Call::Status(pb::GetBudgetStatusRequest { tenant_id })),
        tenant_id().prop_map(|tenant_id| Call::GetConfig(pb::GetBudgetConfigRequest { tenant_id })),
        (known_tenant(), small_int(), page_token()).prop_map(
            |(tenant_id, page_size, page_token)| {
                Call::ListAlerts(pb::ListAlertsRequest {
                    tenant_id,
                    page_size,
                    page_token,
                })
            }
        ),
        (known_tenant(), small_int()).prop_map(|(tenant_id, days)| Call::History(
            pb::GetSpendHistoryRequest { tenant_id, days }
        )),
        (
            small_int(),
            page_token(),
            text(),
            prop_oneof![Just("percent_used desc".to_owned()), text()],
            any::<bool>()
        )
            .prop_map(
                |(page_size, page_token, filter, order_by, include_deleted)| {
                    Call::ListTenants(pb::ListTenantsRequest {
                        page_size,
                        page_token,
                        filter,
                        order_by,
                        include_deleted,
                    })
                }
            ),
        (known_tenant(), small_int(), page_token()).prop_map(
            |(tenant_id, page_size, page_token)| {
                Call::ListAudit(pb::ListAuditEventsRequest {
                    tenant_id,
                    page_size,
                    page_token,
                })
            }
        ),
        tenant_id().prop_map(|tenant_id| {
            Call::ListTargets(pb::ListNotificationTargetsRequest { tenant_id })
        }),
        Just(Call::WhoAmI(pb::WhoAmIRequest {})),
        (known_tenant(), small_int(), text(), text()).prop_map(
            |(tenant_id, kind, start_date, end_date)| {
                Call::Export(pb::ExportTenantDataRequest {
                    tenant_id,
                    kind,
                    start_date,
                    end_date,
                })
            }
        ),
    ]
    .boxed()
}

/// Writes of settings, targets and increases.
fn write_call() -> BoxedStrategy<Call> {
    prop_oneof![
        (known_tenant(), budget_config(), mostly(Just(String::new()), prop_oneof![text(), Just("\"1\"".to_owned())])).prop_map(
            |(tenant_id, config, etag)| Call::Update(pb::UpdateBudgetConfigRequest {
                tenant_id,
                config,
                etag,
            })
        ),
        (tenant_id(), mostly("\\PC{0,40}", text()), budget_config()).prop_map(|(tenant_id, display_name, config)| {
            Call::Create(pb::CreateTenantRequest {
                tenant_id,
                display_name,
                config,
            })
        }),
        (known_tenant(), prop_oneof![4 => prop::collection::vec(target(), 0..3), 1 => prop::collection::vec(target(), 0..12)]).prop_map(|(tenant_id, targets)| {
            Call::SetTargets(pb::SetNotificationTargetsRequest { tenant_id, targets })
        }),
        (
            known_tenant(),
            mostly(1i64..=1_000_000_000_000, micros()),
            timestamp(),
            mostly("[a-zA-Z][a-zA-Z0-9 ]{0,30}", text())
        )
            .prop_map(
            |(tenant_id, amount_micros, expire_time, reason)| {
                Call::Increase(pb::GrantTemporaryIncreaseRequest {
                    tenant_id,
                    amount_micros,
                    expire_time,
                    reason,
                })
            }
        ),
    ]
    .boxed()
}

/// Tenant lifecycle: delete, rotate, attach, suspend, resume.
fn lifecycle_call() -> BoxedStrategy<Call> {
    prop_oneof![
        1 => tenant_id().prop_map(|tenant_id| Call::Delete(pb::DeleteTenantRequest { tenant_id })),
        2 => tenant_id().prop_map(|tenant_id| Call::Rotate(pb::RotateTenantKeyRequest { tenant_id })),
        3 => (tenant_id(), key_hash())
            .prop_map(|(tenant_id, key_hash)| Call::Attach(pb::AttachTenantKeyRequest { tenant_id, key_hash })),
        3 => (tenant_id(), text())
            .prop_map(|(tenant_id, reason)| Call::Suspend(pb::SuspendTenantRequest { tenant_id, reason })),
        2 => tenant_id().prop_map(|tenant_id| Call::Resume(pb::ResumeTenantRequest { tenant_id })),
    ]
    .boxed()
}

/// The oracle for one call: a clear answer, a live service, and nothing stored unless the
/// call succeeded as a write.
async fn check(h: &Harness, call: Call) -> Result<Code, TestCaseError> {
    let before = h.snapshot().await;
    let oversized = call.encoded_len() > MAX_REQUEST_BYTES;
    let read = call.is_read();
    let answer = call.send(h.stack()).await;
    if let Err(status) = &answer {
        let expected = CLIENT_ERRORS.contains(&status.code())
            || (oversized && status.code() == Code::ResourceExhausted);
        prop_assert!(expected, "unexpected answer: {:?}", status);
    }
    if answer.is_err() || read {
        let after = h.snapshot().await;
        prop_assert!(
            before == after,
            "a refused call or a read changed stored state (answer {:?})\nbefore:\n{}\nafter:\n{}",
            answer,
            before,
            after
        );
    }
    h.assert_alive().await?;
    Ok(answer.err().map_or(Code::Ok, |status| status.code()))
}

/// Runs `cases` generated calls against one stack and returns how often each code came back,
/// so a test can show its inputs reached both sides of the validation.
fn run_calls(cases: u32, strategy: BoxedStrategy<Call>) -> BTreeMap<String, u32> {
    let h = Harness::start();
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    });
    let tally = Mutex::new(BTreeMap::new());
    let result = runner.run(&strategy, |call| {
        let code = h.rt.block_on(check(&h, call))?;
        *tally
            .lock()
            .unwrap()
            .entry(format!("{code:?}"))
            .or_insert(0) += 1;
        Ok(())
    });
    h.stop();
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let tally = tally.into_inner().unwrap();
    println!("answers: {tally:?}");
    tally
}

/// Both accepted and refused calls happened.
fn assert_both_sides(tally: &BTreeMap<String, u32>) {
    assert!(tally.contains_key("Ok"), "no call was accepted: {tally:?}");
    assert!(
        tally.contains_key("InvalidArgument"),
        "no call was refused: {tally:?}"
    );
}

#[test]
fn reads_and_lists_answer_clearly_and_change_nothing() {
    assert_both_sides(&run_calls(256, read_call()));
}

#[test]
fn bad_writes_are_refused_clearly_and_store_nothing() {
    assert_both_sides(&run_calls(256, write_call()));
}

#[test]
fn bad_lifecycle_calls_are_refused_clearly_and_store_nothing() {
    let tally = run_calls(192, lifecycle_call());
    assert!(tally.contains_key("InvalidArgument"), "{tally:?}");
}

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

// ---------------------------------------------------------------------------------------------
// The webhook receiver
// ---------------------------------------------------------------------------------------------

/// Bodies of odd but valid shapes.
const ODD_WEBHOOKS: &[&str] = &[
    "{",
    "[]",
    "null",
    "{}",
    "\"key\"",
    "{\"event_group\":\"key\"}",
    "{\"event_group\":\"key\",\"token\":null}",
    "{\"event_group\":\"key\",\"token\":\"sk-unknown\",\"spend\":\"NaN\"}",
];

/// Bodies LiteLLM could plausibly send, and ones it never would.
fn webhook_body() -> BoxedStrategy<Vec<u8>> {
    let json_value = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        text().prop_map(serde_json::Value::from),
        Just(serde_json::json!({"nested": [1, {"a": null}]})),
    ];
    let event = prop_oneof![
        Just("budget_crossed".to_owned()),
        Just("threshold_crossed".to_owned()),
        Just("projected_limit_exceeded".to_owned()),
        text(),
    ];
    let group = prop_oneof![
        Just("key".to_owned()),
        Just("user".to_owned()),
        Just("team".to_owned()),
        text()
    ];
    let token = prop_oneof![
        Just(String::new()),
        "[0-9a-f]{64}",
        Just("sk-abc".to_owned()),
        text()
    ];
    let shaped = (
        event,
        group,
        token,
        json_value.clone(),
        json_value.clone(),
        json_value,
    )
        .prop_map(|(event, group, token, spend, max_budget, extra)| {
            serde_json::to_vec(&serde_json::json!({
                "event": event,
                "event_group": group,
                "token": token,
                "spend": spend,
                "max_budget": max_budget,
                "user_id": extra,
                "event_message": "Budget Crossed",
            }))
            .unwrap()
        });
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..2048),
        1 => text().prop_map(String::into_bytes),
        3 => shaped,
        1 => prop::sample::select(ODD_WEBHOOKS).prop_map(|b| b.as_bytes().to_vec()),
    ]
    .boxed()
}

#[test]
fn webhook_bodies_of_random_bytes_get_4xx_or_200_and_store_nothing() {
    let h = Harness::start();
    let url = format!(
        "http://{}/hooks/litellm/{WEBHOOK_SECRET}",
        h.stack().http_addr
    );
    let stored = |h: &Harness| {
        let pool = h.stack().store.pool().clone();
        async move {
            let (alerts, days, deliveries): (i64, i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM budget_alert_history),
                        (SELECT count(*) FROM daily_spend),
                        (SELECT count(*) FROM notification_deliveries)",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            (alerts, days, deliveries)
        }
    };
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let answers = Mutex::new(BTreeMap::new());
    let result = runner.run(&(webhook_body(), any::<bool>()), |(body, json_type)| {
        h.rt.block_on(async {
            let before = (h.snapshot().await, stored(&h).await);
            let mut request = h.http.post(&url).body(body);
            if json_type {
                request = request.header("content-type", "application/json");
            }
            let response = request.send().await.unwrap();
            let code = response.status().as_u16();
            *answers.lock().unwrap().entry(code).or_insert(0) += 1;
            prop_assert!(
                code == 200 || code == 400 || code == 413,
                "webhook answered {}",
                code
            );
            // No tenant's key token was sent, so nothing may be recorded.
            let after = (h.snapshot().await, stored(&h).await);
            prop_assert!(before == after, "a webhook stored something");
            let health = h
                .http
                .get(format!("http://{}/healthz", h.stack().http_addr))
                .send()
                .await
                .unwrap();
            prop_assert_eq!(health.status().as_u16(), 200);
            Ok(())
        })
    });
    // Oversized bodies are refused before they are read.
    let big = h.rt.block_on(async {
        h.http
            .post(&url)
            .body(vec![b'{'; 64 * 1024 + 1])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    h.stop();
    if let Err(failure) = result {
        panic!("{failure}");
    }
    assert_eq!(big, 413);
    // Both refused and accepted-but-ignored bodies were among the cases.
    let answers = answers.into_inner().unwrap();
    println!("webhook answers: {answers:?}");
    assert!(
        answers.contains_key(&400) && answers.contains_key(&200),
        "{answers:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The gateway: raw gRPC-web bodies
// ---------------------------------------------------------------------------------------------

/// A gateway in front of the harness's budget-service, with a signed-in admin session.
struct GatewayUnderTest {
    addr: std::net::SocketAddr,
    cookie: String,
    stop: tokio::sync::oneshot::Sender<()>,
}

async fn start_gateway(stack: &Stack, http: &reqwest::Client) -> GatewayUnderTest {
    let gateway = budget_gateway::Gateway::build(budget_gateway::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        budget_service_url: format!("http://{}", stack.addr).parse().unwrap(),
        upstream_timeout: Duration::from_secs(10),
        session_key: None,
        session_ttl: Duration::from_secs(3600),
        service_ca_file: None,
        metrics_addr: "127.0.0.1:0".parse().unwrap(),
        cookie_secure: None,
        signin_failure_burst: 10,
        signin_failures_per_min: 10,
    })
    .await
    .unwrap();
    let addr = gateway.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gateway.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let signed_in = http
        .post(format!("http://{addr}/session"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "signing in");
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    GatewayUnderTest { addr, cookie, stop }
}

/// A gRPC-web frame: flag, big-endian length, payload.
fn frame(flag: u8, len: u32, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![flag];
    body.extend_from_slice(&len.to_be_bytes());
    body.extend_from_slice(payload);
    body
}

fn grpc_web_body() -> BoxedStrategy<Vec<u8>> {
    let garbage = prop::collection::vec(any::<u8>(), 0..512);
    prop_oneof![
        // Random bytes, no framing at all.
        garbage.clone(),
        // A well-framed message whose payload is not protobuf of the request type.
        garbage
            .clone()
            .prop_map(|p| frame(0, u32::try_from(p.len()).unwrap(), &p)),
        // Lengths that lie: longer or shorter than the payload, or huge.
        (
            garbage.clone(),
            prop_oneof![Just(u32::MAX), Just(0x7fff_ffff), Just(65_537), 0u32..1024]
        )
            .prop_map(|(p, len)| frame(0, len, &p)),
        // Flags other than "uncompressed message": compressed, trailers, unknown bits.
        (any::<u8>(), garbage.clone()).prop_map(|(flag, p)| frame(
            flag,
            u32::try_from(p.len()).unwrap(),
            &p
        )),
        // A frame cut short.
        garbage.prop_map(|p| {
            let full = frame(0, u32::try_from(p.len()).unwrap(), &p);
            full[..full.len().min(3)].to_vec()
        }),
        // A valid request followed by a second message or by junk.
        prop::collection::vec(any::<u8>(), 0..16).prop_map(|junk| {
            let payload = pb::GetBudgetStatusRequest {
                tenant_id: "acme".into(),
            }
            .encode_to_vec();
            let mut body = frame(0, u32::try_from(payload.len()).unwrap(), &payload);
            body.extend(frame(0, u32::try_from(payload.len()).unwrap(), &payload));
            body.extend(junk);
            body
        }),
    ]
    .boxed()
}

const METHODS: &[&str] = &[
    "GetBudgetStatus",
    "UpdateBudgetConfig",
    "CreateTenant",
    "ListTenants",
    "SetNotificationTargets",
    "GrantTemporaryIncrease",
    "ExportTenantData",
    "NoSuchMethod",
];

const CONTENT_TYPES: &[&str] = &[
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web-text",
    "application/grpc",
    "application/json",
    "text/plain",
    "",
];

/// The gRPC code of a gRPC-web answer: from the headers (trailers-only) or the trailer frame.
fn grpc_web_code(headers: &reqwest::header::HeaderMap, body: &[u8]) -> Option<u32> {
    if let Some(code) = headers.get("grpc-status") {
        return code.to_str().ok()?.parse().ok();
    }
    let mut rest = body;
    while rest.len() >= 5 {
        let flag = rest[0];
        let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        let frame = rest.get(5..5 + len)?;
        rest = &rest[5 + len..];
        if flag & 0x80 != 0 {
            let text = std::str::from_utf8(frame).ok()?;
            return text
                .split("\r\n")
                .find_map(|line| line.strip_prefix("grpc-status:"))
                .and_then(|code| code.trim().parse().ok());
        }
    }
    None
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
    let mut frame = vec![0, 0, 0, 0, message.len() as u8];
    frame.extend_from_slice(&message);
    let body = [frame.clone(), frame].concat();
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
