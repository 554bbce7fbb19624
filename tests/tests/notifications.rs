//! Alert notifications over real sockets: a receiver on loopback (which can refuse the first
//! attempts) gets signed webhook JSON and Slack-compatible text, at least once and, once
//! accepted, never again; retries back off, survive a restart, stop for removed targets and
//! end 24 hours after the alert. Targets are validated per field and never give back their
//! URLs or secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use budget_e2e::{SIM_MASTER_KEY, TestDatabase, config, field_violations, init_test_logs};
use budget_proto::v1 as pb;
use budget_service::Settings;
use budget_service::service::Budgets;
use litellm_sim::SimServer;
use pb::{DeliveryStatus, NotificationKind};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const SECRET: &str = "whsec-0123456789abcdef";
const DASHBOARD: &str = "https://budget.example.test";

// ---------------------------------------------------------------------------
// The receiver.

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    idempotency_key: String,
    signature: Option<String>,
    content_type: String,
    body: Bytes,
    accepted: bool,
    at: Instant,
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    /// Each (path, idempotency key) is refused with 500 this many times first.
    fail_first: usize,
}

/// An HTTP receiver on 127.0.0.1 that records every request.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState {
            fail_first,
            ..ReceiverState::default()
        }));
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut state = state.lock().unwrap();
    let path = uri.path().to_owned();
    let idempotency_key = header("idempotency-key").unwrap_or_default();
    let earlier = state
        .received
        .iter()
        .filter(|r| r.path == path && r.idempotency_key == idempotency_key)
        .count();
    let accepted = earlier >= state.fail_first;
    state.received.push(Received {
        path,
        idempotency_key,
        signature: header("x-budget-signature"),
        content_type: header("content-type").unwrap_or_default(),
        body,
        accepted,
        at: Instant::now(),
    });
    if accepted {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// HMAC-SHA256 written out from RFC 2104, so the check does not share the service's code.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

fn signs(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    header
        == Some(
            format!(
                "sha256={}",
                hex::encode(hmac_sha256(secret.as_bytes(), body))
            )
            .as_str(),
        )
}

// ---------------------------------------------------------------------------
// The service: built here rather than with `Stack`, to poll fast and to restart on one
// database.

struct World {
    db: TestDatabase,
    sim: SimServer,
}

impl World {
    async fn new() -> World {
        init_test_logs();
        World {
            db: TestDatabase::create().await,
            sim: SimServer::start("127.0.0.1:0", SIM_MASTER_KEY)
                .await
                .expect("litellm-sim starts"),
        }
    }

    /// budget-service on this world's database, polling every 20 ms for deliveries and
    /// retrying after `retry_base_ms`, doubled per attempt.
    async fn start(&self, retry_base_ms: u64) -> Instance {
        let mut settings = Settings::new(&self.db.url, &self.sim.base_url(), SIM_MASTER_KEY);
        settings.grpc_addr = "127.0.0.1:0".parse().unwrap();
        settings.http_addr = "127.0.0.1:0".parse().unwrap();
        settings.eval_interval_secs = 0;
        settings.shutdown_grace_secs = 2;
        settings.delivery_poll_ms = 20;
        settings.delivery_retry_base_ms = retry_base_ms;
        settings.delivery_timeout_secs = 2;
        settings.dashboard_url = format!("{DASHBOARD}/");
        settings.bootstrap_token = Some(budget_e2e::ADMIN_TOKEN.into());
        let app = budget_service::Application::build(settings)
            .await
            .expect("budget-service builds");
        let addr = app.local_addr();
        let budgets = app.budgets();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        let client = budget_demo::connect(addr, budget_e2e::ADMIN_TOKEN)
            .await
            .unwrap();
        Instance {
            client,
            budgets,
            stop,
            task,
        }
    }

    async fn finish(self) {
        self.db.drop_database().await;
    }
}

struct Instance {
    client: budget_demo::AuthedClient,
    budgets: Arc<Budgets>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Instance {
    fn client(&self) -> budget_demo::AuthedClient {
        self.client.clone()
    }

    /// Creates a tenant with default thresholds and returns its virtual key.
    async fn create_tenant(&self, id: &str, budget_usd: i64) -> String {
        self.client()
            .create_tenant(pb::CreateTenantRequest {
                tenant_id: id.into(),
                display_name: format!("{id} Inc."),
                config: Some(config(budget_usd, 80, 110, "30d")),
            })
            .await
            .unwrap()
            .into_inner()
            .virtual_key
    }

    async fn set_targets(
        &self,
        id: &str,
        targets: Vec<pb::NotificationTarget>,
    ) -> Result<Vec<pb::NotificationTarget>, tonic::Status> {
        Ok(self
            .client()
            .set_notification_targets(pb::SetNotificationTargetsRequest {
                tenant_id: id.into(),
                targets,
            })
            .await?
            .into_inner()
            .targets)
    }

    async fn list_targets(&self, id: &str) -> Vec<pb::NotificationTarget> {
        self.client()
            .list_notification_targets(pb::ListNotificationTargetsRequest {
                tenant_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .targets
    }

    /// The tenant's alerts, oldest first.
    async fn alerts(&self, id: &str) -> Vec<pb::Alert> {
        let mut alerts = budget_e2e::first_alerts(&self.client(), id).await;
        alerts.reverse();
        alerts
    }

    async fn evaluate(&self) {
        let (_keep, stop) = tokio::sync::watch::channel(false);
        self.budgets.evaluation_pass(&stop).await.unwrap();
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("stops within the grace period")
            .unwrap()
            .unwrap();
    }
}

fn webhook(url: &str, secret: &str, description: &str) -> pb::NotificationTarget {
    pb::NotificationTarget {
        kind: NotificationKind::Webhook.into(),
        url: url.into(),
        secret: secret.into(),
        description: description.into(),
        ..Default::default()
    }
}

fn slack(url: &str) -> pb::NotificationTarget {
    pb::NotificationTarget {
        kind: NotificationKind::Slack.into(),
        url: url.into(),
        ..Default::default()
    }
}

/// Waits up to 15 s for `done` to hold over the tenant's alerts.
async fn wait_for_alerts(
    instance: &Instance,
    id: &str,
    what: &str,
    done: impl Fn(&[pb::Alert]) -> bool,
) -> Vec<pb::Alert> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let alerts = instance.alerts(id).await;
        if done(&alerts) {
            return alerts;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {alerts:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn all_settled(alerts: &[pb::Alert], want: usize) -> bool {
    let deliveries: Vec<_> = alerts.iter().flat_map(|a| &a.deliveries).collect();
    deliveries.len() == want
        && deliveries
            .iter()
            .all(|d| d.status() != DeliveryStatus::Pending)
}

async fn wait_for_requests(receiver: &Receiver, count: usize) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let received = receiver.received();
        if received.len() >= count {
            return received;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {count} requests: {received:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

// ---------------------------------------------------------------------------
// The tests.

#[tokio::test]
async fn webhook_bodies_are_signed_with_the_targets_secret() {
    let world = World::new().await;
    let service = world.start(100).await;
    let receiver = Receiver::start(0).await;
    let key = service.create_tenant("acme", 100).await;
    service
        .set_targets(
            "acme",
            vec![webhook(&receiver.url("/hooks/budget"), SECRET, "Ops")],
        )
        .await
        .unwrap();
    world.sim.control().set_spend(&key, 85.0).unwrap();
    service.evaluate().await;

    let alerts = wait_for_alerts(&service, "acme", "the delivery", |a| all_settled(a, 1)).await;
    let [alert] = alerts.as_slice() else {
        panic!("one alert: {alerts:#?}")
    };
    let [got] = receiver.received().try_into().unwrap();
    assert!(got.accepted);
    assert_eq!(got.path, "/hooks/budget");
    assert_eq!(got.content_type, "application/json");
    assert_eq!(
        got.idempotency_key, alert.alert_id,
        "the alert id is the idempotency key"
    );
    assert!(
        signs(SECRET, &got.body, got.signature.as_deref()),
        "{:?} signs the exact body",
        got.signature
    );
    assert!(!signs(
        "another-secret-1234",
        &got.body,
        got.signature.as_deref()
    ));
    let mut tampered = got.body.to_vec();
    tampered.push(b' ');
    assert!(!signs(SECRET, &tampered, got.signature.as_deref()));

    let body = json(&got.body);
    let create_time = body["create_time"].as_str().unwrap();
    assert!(create_time.ends_with('Z'), "{create_time}");
    chrono::DateTime::parse_from_rfc3339(create_time).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "alert_id": alert.alert_id,
            "tenant_id": "acme",
            "display_name": "acme Inc.",
            "type": "THRESHOLD",
            "message": alert.message,
            "spend_micros": 85_000_000,
            "max_budget_micros": 100_000_000,
            "percent": 85.0,
            "threshold_percent": 80,
            "create_time": create_time,
            "dashboard_url": format!("{DASHBOARD}/tenants/acme"),
        })
    );

    let [delivery] = alert.deliveries.as_slice() else {
        panic!("one delivery: {alert:#?}")
    };
    assert_eq!(delivery.status(), DeliveryStatus::Delivered);
    assert_eq!(delivery.kind(), NotificationKind::Webhook);
    assert_eq!(delivery.attempts, 1);
    assert_eq!(delivery.last_error, "");
    assert!(delivery.deliver_time.is_some());
    assert!(delivery.next_attempt_time.is_none());
    assert_eq!(
        delivery.target_id,
        service.list_targets("acme").await[0].target_id
    );

    service.stop().await;
    world.finish().await;
}

#[tokio::test]
async fn slack_targets_get_one_unsigned_sentence_per_alert() {
    let world = World::new().await;
    let service = world.start(100).await;
    let receiver = Receiver::start(0).await;
    let key = service.create_tenant("acme", 100).await;
    service
        .set_targets(
            "acme",
            vec![slack(&receiver.url("/services/T000/B000/XXXX"))],
        )
        .await
        .unwrap();
    world.sim.control().set_spend(&key, 101.0).unwrap();
    service.evaluate().await;

    let alerts = wait_for_alerts(&service, "acme", "the deliveries", |a| all_settled(a, 2)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    for (alert, got) in alerts.iter().zip(&received) {
        assert_eq!(got.idempotency_key, alert.alert_id);
        assert_eq!(got.signature, None, "Slack bodies are not signed");
        let body = json(&got.body);
        let object = body.as_object().unwrap();
        assert_eq!(object.keys().collect::<Vec<_>>(), vec!["text"]);
        let text = object["text"].as_str().unwrap();
        for part in [
            "acme Inc. (acme)",
            "Spend is $101.00 of the $100.00 budget (101.0%)",
            "https://budget.example.test/tenants/acme",
        ] {
            assert!(text.contains(part), "{part:?} in {text:?}");
        }
        assert_eq!(alert.deliveries[0].kind(), NotificationKind::Slack);
        assert_eq!(alert.deliveries[0].status(), DeliveryStatus::Delivered);
    }
    let texts: Vec<String> = received
        .iter()
        .map(|r| json(&r.body)["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        texts[0].contains("80% alert threshold reached"),
        "{texts:?}"
    );
    assert!(texts[1].contains("budget exceeded"), "{texts:?}");

    service.stop().await;
    world.finish().await;
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_exactly_one_accepted_delivery_per_alert() {
    let world = World::new().await;
    let service = world.start(100).await;
    let receiver = Receiver::start(2).await;
    let key = service.create_tenant("acme", 100).await;
    service
        .set_targets(
            "acme",
            vec![
                webhook(&receiver.url("/webhook"), SECRET, ""),
                slack(&receiver.url("/slack")),
            ],
        )
        .await
        .unwrap();
    world.sim.control().set_spend(&key, 120.0).unwrap();
    service.evaluate().await;

    let alerts = wait_for_alerts(&service, "acme", "six deliveries", |a| all_settled(a, 6)).await;
    assert_eq!(alerts.len(), 3, "threshold, budget exceeded, blocked");
    for delivery in alerts.iter().flat_map(|a| &a.deliveries) {
        assert_eq!(delivery.status(), DeliveryStatus::Delivered, "{delivery:?}");
        assert_eq!(delivery.attempts, 3, "{delivery:?}");
        assert_eq!(delivery.last_error, "");
    }
    // Nothing more arrives once every delivery was accepted.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut by_delivery: BTreeMap<(String, String), Vec<Received>> = BTreeMap::new();
    for r in receiver.received() {
        by_delivery
            .entry((r.path.clone(), r.idempotency_key.clone()))
            .or_default()
            .push(r);
    }
    let mut want: Vec<(String, String)> = alerts
        .iter()
        .flat_map(|a| {
            [
                ("/slack".to_owned(), a.alert_id.clone()),
                ("/webhook".to_owned(), a.alert_id.clone()),
            ]
        })
        .collect();
    want.sort();
    assert_eq!(by_delivery.keys().cloned().collect::<Vec<_>>(), want);
    for (delivery, requests) in &by_delivery {
        let accepted: Vec<bool> = requests.iter().map(|r| r.accepted).collect();
        assert_eq!(accepted, vec![false, false, true], "{delivery:?}");
        // Every attempt sends the same bytes, with a valid signature on the webhook.
        assert!(requests.iter().all(|r| r.body == requests[0].body));
        if delivery.0 == "/webhook" {
            assert!(
                requests
                    .iter()
                    .all(|r| signs(SECRET, &r.body, r.signature.as_deref()))
            );
        }
        // Exponential backoff from 100 ms: at least 100 ms, then at least 200 ms.
        let gaps: Vec<Duration> = requests.windows(2).map(|w| w[1].at - w[0].at).collect();
        assert!(gaps[0] >= Duration::from_millis(95), "{gaps:?}");
        assert!(gaps[1] >= Duration::from_millis(195), "{gaps:?}");
    }

    service.stop().await;
    world.finish().await;
}

#[tokio::test]
async fn a_restart_mid_retry_still_delivers() {
    let world = World::new().await;
    // A long first backoff, so the retry falls after the restart.
    let first = world.start(2_000).await;
    let receiver = Receiver::start(1).await;
    let key = first.create_tenant("acme", 100).await;
    first
        .set_targets("acme", vec![webhook(&receiver.url("/hook"), SECRET, "")])
        .await
        .unwrap();
    world.sim.control().set_spend(&key, 85.0).unwrap();
    first.evaluate().await;
    let [refused] = wait_for_requests(&receiver, 1).await.try_into().unwrap();
    assert!(!refused.accepted);
    first.stop().await;

    let pool = sqlx::PgPool::connect(&world.db.url).await.unwrap();
    let stored: (String, i32, Option<String>) =
        sqlx::query_as("SELECT status, attempts, last_error FROM notification_deliveries")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        stored,
        ("pending".to_owned(), 1, Some("HTTP 500".to_owned())),
        "pending in the database while no service runs"
    );
    pool.close().await;

    let second = world.start(2_000).await;
    let alerts = wait_for_alerts(&second, "acme", "the retry", |a| all_settled(a, 1)).await;
    let delivery = &alerts[0].deliveries[0];
    assert_eq!(delivery.status(), DeliveryStatus::Delivered);
    assert_eq!(delivery.attempts, 2);
    let received = receiver.received();
    assert_eq!(
        received.iter().map(|r| r.accepted).collect::<Vec<_>>(),
        vec![false, true]
    );
    assert_eq!(received[1].idempotency_key, alerts[0].alert_id);
    assert_eq!(received[1].body, refused.body);
    assert!(signs(
        SECRET,
        &received[1].body,
        received[1].signature.as_deref()
    ));

    second.stop().await;
    world.finish().await;
}

#[tokio::test]
async fn two_replicas_send_each_delivery_once() {
    let world = World::new().await;
    let a = world.start(100).await;
    let b = world.start(100).await;
    let receiver = Receiver::start(0).await;
    let tenants = ["t1", "t2", "t3", "t4", "t5"];
    for id in tenants {
        let key = a.create_tenant(id, 100).await;
        a.set_targets(id, vec![webhook(&receiver.url("/hook"), SECRET, "")])
            .await
            .unwrap();
        world.sim.control().set_spend(&key, 120.0).unwrap();
    }
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let (pass_a, pass_b) = tokio::join!(
        a.budgets.evaluation_pass(&stop),
        b.budgets.evaluation_pass(&stop)
    );
    pass_a.unwrap();
    pass_b.unwrap();
    for id in tenants {
        wait_for_alerts(&a, id, "three deliveries", |alerts| all_settled(alerts, 3)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut keys: Vec<String> = receiver
        .received()
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 15, "one request per alert: {keys:?}");
    keys.dedup();
    assert_eq!(keys.len(), 15);

    a.stop().await;
    b.stop().await;
    world.finish().await;
}

#[tokio::test]
async fn removed_targets_stop_and_deliveries_end_24_hours_after_the_alert() {
    let world = World::new().await;
    let service = world.start(50).await;
    let receiver = Receiver::start(usize::MAX).await;
    let key = service.create_tenant("acme", 100).await;
    let targets = service
        .set_targets(
            "acme",
            vec![
                webhook(&receiver.url("/kept?token=abc"), SECRET, "kept"),
                webhook(&receiver.url("/removed"), SECRET, "removed"),
            ],
        )
        .await
        .unwrap();
    world.sim.control().set_spend(&key, 85.0).unwrap();
    service.evaluate().await;
    wait_for_alerts(&service, "acme", "retries", |alerts| {
        alerts[0].deliveries.iter().all(|d| d.attempts >= 2)
    })
    .await;

    // Dropping a target stops its pending delivery at once.
    let kept = pb::NotificationTarget {
        kind: NotificationKind::Webhook.into(),
        target_id: targets[0].target_id.clone(),
        ..Default::default()
    };
    service.set_targets("acme", vec![kept]).await.unwrap();
    // A send already in flight may still land; nothing is sent after it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let to_removed = |r: &Receiver| r.received().iter().filter(|x| x.path == "/removed").count();
    let sent_to_removed = to_removed(&receiver);
    let alerts = service.alerts("acme").await;
    let removed = &alerts[0].deliveries[1];
    assert_eq!(removed.target_id, targets[1].target_id);
    assert_eq!(removed.status(), DeliveryStatus::Failed);
    assert_eq!(removed.last_error, "target removed");
    let still = &alerts[0].deliveries[0];
    assert_eq!(still.status(), DeliveryStatus::Pending);
    assert_eq!(still.last_error, "HTTP 500");
    assert!(still.next_attempt_time.is_some());

    // The other one gives up once 24 hours have passed since the alert.
    let pool = sqlx::PgPool::connect(&world.db.url).await.unwrap();
    sqlx::query("UPDATE notification_deliveries SET created_at = created_at - interval '25 hours'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let alerts = wait_for_alerts(&service, "acme", "giving up", |a| all_settled(a, 2)).await;
    let gave_up = &alerts[0].deliveries[0];
    assert_eq!(gave_up.status(), DeliveryStatus::Failed);
    assert_eq!(
        gave_up.last_error, "HTTP 500",
        "no URL or token in the error"
    );
    assert!(gave_up.next_attempt_time.is_none());
    let count = receiver.received().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        count,
        "nothing is sent after giving up"
    );
    assert_eq!(
        to_removed(&receiver),
        sent_to_removed,
        "nothing more to the removed target"
    );

    service.stop().await;
    world.finish().await;
}

#[tokio::test]
async fn urls_and_secrets_are_never_returned_and_are_kept_when_omitted() {
    let world = World::new().await;
    let service = world.start(100).await;
    let receiver = Receiver::start(0).await;
    let key = service.create_tenant("acme", 100).await;
    let hook_url = receiver.url("/hooks/T0KEN-path?token=Q-T0KEN");
    let saved = service
        .set_targets(
            "acme",
            vec![
                webhook(&hook_url, SECRET, "On-call pager"),
                slack(&receiver.url("/services/T/B/SLACK-T0KEN")),
            ],
        )
        .await
        .unwrap();
    let listed = service.list_targets("acme").await;
    assert_eq!(saved, listed);
    let origin = format!("http://{}", receiver.addr);
    let shown: Vec<_> = listed
        .iter()
        .map(|t| {
            (
                t.kind(),
                t.url.as_str(),
                t.secret.as_str(),
                t.has_secret,
                t.url_origin.as_str(),
                t.description.as_str(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            (
                NotificationKind::Webhook,
                "",
                "",
                true,
                origin.as_str(),
                "On-call pager"
            ),
            (NotificationKind::Slack, "", "", false, origin.as_str(), ""),
        ]
    );
    assert!(
        listed
            .iter()
            .all(|t| !t.target_id.is_empty() && t.create_time.is_some())
    );
    let printed = format!("{listed:?}");
    for secret in [SECRET, "T0KEN", "SLACK-T0KEN"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }

    // Sent back by id with an empty URL and secret: both are kept; the Slack target is dropped.
    let keep = pb::NotificationTarget {
        target_id: listed[0].target_id.clone(),
        kind: NotificationKind::Webhook.into(),
        description: "Pager".into(),
        ..Default::default()
    };
    let after = service.set_targets("acme", vec![keep]).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].target_id, listed[0].target_id);
    assert!(after[0].has_secret);
    assert_eq!(after[0].description, "Pager");
    world.sim.control().set_spend(&key, 85.0).unwrap();
    service.evaluate().await;
    let [got] = wait_for_requests(&receiver, 1).await.try_into().unwrap();
    assert_eq!(got.path, "/hooks/T0KEN-path", "the stored URL was kept");
    assert!(
        signs(SECRET, &got.body, got.signature.as_deref()),
        "and so was the secret"
    );

    // The audit trail names kinds and origins only.
    let events = service
        .client()
        .list_audit_events(pb::ListAuditEventsRequest {
            tenant_id: "acme".into(),
            page_size: 10,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let details: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.action == "notification_targets_updated")
        .map(|e| (e.actor.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(
        details,
        vec![
            ("bootstrap", format!("webhook {origin} (Pager)").as_str()),
            (
                "bootstrap",
                format!("webhook {origin} (On-call pager); Slack {origin}").as_str()
            ),
        ]
    );
    assert!(events.iter().all(|e| !format!("{e:?}").contains("T0KEN")));

    service.stop().await;
    world.finish().await;
}

#[tokio::test]
async fn targets_are_validated_field_by_field_and_nothing_is_saved() {
    let world = World::new().await;
    let service = world.start(100).await;
    service.create_tenant("acme", 100).await;
    let status = service
        .set_targets(
            "acme",
            vec![
                webhook("ftp://example.com/hook", "short", ""),
                pb::NotificationTarget {
                    url: "https://example.com/hook".into(),
                    ..Default::default()
                },
                pb::NotificationTarget {
                    secret: "0123456789abcdef".into(),
                    ..slack("https://hooks.slack.com/services/T/B/C")
                },
                pb::NotificationTarget {
                    target_id: "12345".into(),
                    ..webhook("https://example.com", SECRET, &"x".repeat(201))
                },
                webhook("https://example.com/fine", SECRET, "fine"),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let violations = field_violations(&status);
    let fields: Vec<&str> = violations.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "targets[0].url",
            "targets[0].secret",
            "targets[1].kind",
            "targets[2].secret",
            "targets[3].target_id",
            "targets[3].description",
        ]
    );
    let messages: BTreeMap<&str, &str> = violations
        .iter()
        .map(|(f, d)| (f.as_str(), d.as_str()))
        .collect();
    assert_eq!(
        messages["targets[0].url"],
        "URL must be an http or https address with a host, at most 2,048 characters"
    );
    assert_eq!(
        messages["targets[0].secret"],
        "Webhook secret must be 16 to 256 characters"
    );
    assert_eq!(messages["targets[1].kind"], "Kind must be webhook or Slack");
    assert_eq!(
        messages["targets[2].secret"],
        "Slack targets are not signed; leave the secret empty"
    );
    assert_eq!(
        messages["targets[3].target_id"],
        "Unknown target id; leave it empty to add a new target"
    );
    assert!(!status.message().contains("0123456789abcdef"));
    assert!(
        service.list_targets("acme").await.is_empty(),
        "nothing saved"
    );

    let eleven = vec![slack("https://hooks.slack.com/services/T/B/C"); 11];
    let status = service.set_targets("acme", eleven).await.unwrap_err();
    assert_eq!(
        field_violations(&status),
        vec![(
            "targets".to_owned(),
            "At most 10 notification targets".to_owned()
        )]
    );
    let ten = vec![slack("https://hooks.slack.com/services/T/B/C"); 10];
    assert_eq!(service.set_targets("acme", ten).await.unwrap().len(), 10);
    assert_eq!(
        service.set_targets("acme", vec![]).await.unwrap().len(),
        0,
        "an empty set removes them all"
    );

    service.stop().await;
    world.finish().await;
}

#[tokio::test]
async fn unknown_tenants_are_not_found() {
    let world = World::new().await;
    let service = world.start(100).await;
    let listed = service
        .client()
        .list_notification_targets(pb::ListNotificationTargetsRequest {
            tenant_id: "nobody".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(listed.code(), tonic::Code::NotFound);
    assert_eq!(listed.message(), "Tenant nobody not found");
    let set = service
        .set_targets("nobody", vec![slack("https://hooks.slack.com/x")])
        .await
        .unwrap_err();
    assert_eq!(set.code(), tonic::Code::NotFound);
    let malformed = service.set_targets("No Such", vec![]).await.unwrap_err();
    assert_eq!(malformed.code(), tonic::Code::InvalidArgument);
    assert_eq!(field_violations(&malformed)[0].0, "tenant_id");

    service.stop().await;
    world.finish().await;
}
