//! Alert notifications over real sockets: a receiver on loopback (which can refuse the first
//! attempts) gets signed webhook JSON and Slack-compatible text, at least once and, once
//! accepted, never again; retries back off, survive a restart, stop for removed targets and
//! end 24 hours after the alert. Targets are validated per field and never give back their
//! URLs or secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use budget_e2e::{SIM_MASTER_KEY, TestDatabase, config, field_violations, init_test_logs};
use budget_proto::v1 as pb;
use budget_service::Settings;
use budget_service::service::Budgets;
use litellm_sim::SimServer;
use pb::{DeliveryStatus, NotificationKind};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
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
    headers: HeaderMap,
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
        headers: headers.clone(),
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
        self.start_with(retry_base_ms, |_| {}).await
    }

    /// Like [`World::start`], with `adjust` applied to the settings last.
    async fn start_with(&self, retry_base_ms: u64, adjust: impl FnOnce(&mut Settings)) -> Instance {
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
        settings.notify_allow_http = true;
        settings.notify_allow_hosts = budget_e2e::LOOPBACK_RECEIVERS.parse().unwrap();
        adjust(&mut settings);
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
    // A stock Standard Webhooks verifier accepts it too (a secret without the whsec_ prefix
    // is its own bytes), with the alert id as webhook-id and a current timestamp.
    let verifier = standardwebhooks::Webhook::from_bytes(SECRET.as_bytes().to_vec()).unwrap();
    verifier.verify(&got.body, &got.headers).unwrap();
    assert!(verifier.verify(&tampered, &got.headers).is_err());
    assert_eq!(got.headers["webhook-id"], alert.alert_id.as_str());
    let sent_at: i64 = got.headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (chrono::Utc::now().timestamp() - sent_at).abs() <= 5,
        "{sent_at}"
    );

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
        (
            "pending".to_owned(),
            1,
            Some("receiver failed (HTTP 5xx)".to_owned())
        ),
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
    assert_eq!(still.last_error, "receiver failed (HTTP 5xx)");
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
        gave_up.last_error, "receiver failed (HTTP 5xx)",
        "no URL, token or exact status in the error"
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

// ---------------------------------------------------------------------------
// Targets that reach inside, receivers that misbehave, and tenants that make noise.

/// A TCP listener that accepts connections and never answers. Counts connections accepted,
/// open now and open at most, over all the tarpits sharing `counts`.
#[derive(Clone, Default)]
struct TarpitCounts {
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
}

struct Tarpit {
    addr: SocketAddr,
}

impl Tarpit {
    async fn start(counts: &TarpitCounts) -> Tarpit {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = counts.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counts.accepted.fetch_add(1, Ordering::SeqCst);
                let open = counts.open.fetch_add(1, Ordering::SeqCst) + 1;
                counts.most_open.fetch_max(open, Ordering::SeqCst);
                let counts = counts.clone();
                tokio::spawn(async move {
                    // Reads (to notice the sender hanging up) and never writes a byte.
                    let mut buf = [0u8; 4096];
                    while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                    counts.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Tarpit { addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A receiver answering by path: `/status/{code}` with that status, `/redirect` with a 307
/// to `/landed`; it counts requests per path.
async fn answering_receiver() -> (SocketAddr, Arc<Mutex<BTreeMap<String, usize>>>) {
    let hits: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let seen = hits.clone();
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let seen = seen.clone();
        async move {
            let path = uri.path().to_owned();
            *seen.lock().unwrap().entry(path.clone()).or_default() += 1;
            if let Some(code) = path.strip_prefix("/status/") {
                return StatusCode::from_u16(code.parse().unwrap())
                    .unwrap()
                    .into_response();
            }
            if path == "/redirect" {
                return (StatusCode::TEMPORARY_REDIRECT, [("location", "/landed")]).into_response();
            }
            StatusCode::OK.into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

/// Adds targets straight to the database, as if saved before the egress rules existed.
async fn stored_targets(world: &World, id: &str, urls: &[String]) {
    let pool = sqlx::PgPool::connect(&world.db.url).await.unwrap();
    for url in urls {
        sqlx::query(
            "INSERT INTO notification_targets (tenant_id, kind, url, secret) \
             VALUES ($1, 'webhook', $2, $3)",
        )
        .bind(id)
        .bind(url)
        .bind(SECRET)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
}

const PRIVATE: &str = "Notification URL must not point to a private or local address";

#[tokio::test]
async fn targets_that_reach_inside_are_refused_field_by_field() {
    let world = World::new().await;
    // The operator's defaults: https only, nothing internal allowed.
    let strict = world
        .start_with(100, |settings| {
            settings.notify_allow_http = false;
            settings.notify_allow_hosts = Default::default();
        })
        .await;
    strict.create_tenant("acme", 100).await;
    let inside = [
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1:4000/key/list",
        "https://172.16.5.4/",
        "https://192.168.1.1/",
        "https://100.64.0.1/",
        "https://[::1]:8081/hooks",
        "https://[::ffff:169.254.169.254]/",
        "https://[fd00::1]/",
        "https://[fe80::1]/",
        "https://0.0.0.0:50051/",
        "https://2130706433/",
        // A name that resolves to loopback.
        "https://localhost:8081/hooks/litellm/x",
    ];
    let status = strict
        .set_targets(
            "acme",
            inside.iter().take(10).map(|url| slack(url)).collect(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let want: Vec<(String, String)> = (0..10)
        .map(|i| (format!("targets[{i}].url"), PRIVATE.to_owned()))
        .collect();
    assert_eq!(field_violations(&status), want);
    let status = strict
        .set_targets(
            "acme",
            inside[10..]
                .iter()
                .map(|url| slack(url))
                .chain([slack("http://hooks.example.com/x")])
                .collect(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&status),
        vec![
            ("targets[0].url".to_owned(), PRIVATE.to_owned()),
            ("targets[1].url".to_owned(), PRIVATE.to_owned()),
            ("targets[2].url".to_owned(), PRIVATE.to_owned()),
            (
                "targets[3].url".to_owned(),
                "Notification URL must use https; this service does not send plain http".to_owned()
            ),
        ]
    );
    assert!(
        strict.list_targets("acme").await.is_empty(),
        "nothing saved"
    );
    // Public names (unresolvable here) are checked again at every send.
    strict
        .set_targets(
            "acme",
            vec![slack("https://hooks.slack.com/services/T/B/C")],
        )
        .await
        .unwrap();

    // What the operator allows passes: the tests allow 127.0.0.1 over plain http.
    let open = world.start(100).await;
    let receiver = Receiver::start(0).await;
    open.set_targets("acme", vec![slack(&receiver.url("/ok"))])
        .await
        .unwrap();
    let status = open
        .set_targets("acme", vec![slack("http://127.0.0.2:9/x")])
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&status),
        vec![("targets[0].url".to_owned(), PRIVATE.to_owned())]
    );

    strict.stop().await;
    open.stop().await;
    world.finish().await;
}

#[tokio::test]
async fn deliveries_never_connect_to_addresses_outside_the_rules() {
    let world = World::new().await;
    // Plain http allowed, but no internal address: 127.0.0.1 is off limits here.
    let service = world
        .start_with(60_000, |settings| {
            settings.notify_allow_hosts = Default::default();
        })
        .await;
    let counts = TarpitCounts::default();
    let listener = Tarpit::start(&counts).await;
    let port = listener.addr.port();
    let key = service.create_tenant("acme", 100).await;
    // Saved before the rules: a name resolving to loopback at send time (as a DNS rebinding
    // would), loopback itself, and loopback in IPv4-mapped IPv6.
    stored_targets(
        &world,
        "acme",
        &[
            format!("http://localhost:{port}/name"),
            format!("http://127.0.0.1:{port}/literal"),
            format!("http://[::ffff:127.0.0.1]:{port}/mapped"),
        ],
    )
    .await;
    world.sim.control().set_spend(&key, 85.0).unwrap();
    service.evaluate().await;
    let alerts = wait_for_alerts(&service, "acme", "three failed attempts", |alerts| {
        alerts.len() == 1
            && alerts[0].deliveries.len() == 3
            && alerts[0]
                .deliveries
                .iter()
                .all(|d| !d.last_error.is_empty())
    })
    .await;
    let errors: Vec<&str> = alerts[0]
        .deliveries
        .iter()
        .map(|d| d.last_error.as_str())
        .collect();
    assert_eq!(
        errors,
        vec![
            "receiver unreachable",
            "receiver address not allowed",
            "receiver address not allowed"
        ]
    );
    assert_eq!(
        counts.accepted.load(Ordering::SeqCst),
        0,
        "no connection reached the loopback listener"
    );

    service.stop().await;
    world.finish().await;
}

#[tokio::test]
async fn tenants_see_only_coarse_delivery_errors_and_timeouts_back_off_harder() {
    let world = World::new().await;
    // A long first backoff: one attempt each within the test.
    let service = world.start(60_000).await;
    let (answering, hits) = answering_receiver().await;
    let counts = TarpitCounts::default();
    let tarpit = Tarpit::start(&counts).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let key = service.create_tenant("acme", 100).await;
    service
        .set_targets(
            "acme",
            vec![
                webhook(&format!("http://{answering}/status/404"), SECRET, ""),
                webhook(&format!("http://{answering}/status/503"), SECRET, ""),
                webhook(&format!("http://{answering}/redirect"), SECRET, ""),
                webhook(&format!("http://{closed}/hook"), SECRET, ""),
                webhook(&tarpit.url("/hook"), SECRET, ""),
            ],
        )
        .await
        .unwrap();
    world.sim.control().set_spend(&key, 85.0).unwrap();
    service.evaluate().await;
    let alerts = wait_for_alerts(&service, "acme", "five failed attempts", |alerts| {
        alerts.len() == 1
            && alerts[0]
                .deliveries
                .iter()
                .all(|d| !d.last_error.is_empty())
    })
    .await;
    let deliveries = &alerts[0].deliveries;
    let errors: Vec<&str> = deliveries.iter().map(|d| d.last_error.as_str()).collect();
    assert_eq!(
        errors,
        vec![
            "receiver refused (HTTP 4xx)",
            "receiver failed (HTTP 5xx)",
            "receiver refused (HTTP 3xx)",
            "receiver unreachable",
            "receiver unreachable",
        ]
    );
    assert_eq!(
        hits.lock().unwrap().get("/landed"),
        None,
        "redirects are not followed"
    );
    // A timeout holds a slot for the whole timeout: it waits four times longer to retry.
    let next = |i: usize| deliveries[i].next_attempt_time.unwrap().seconds;
    let answered = next(1);
    let timed_out = next(4);
    assert!(
        timed_out - answered >= 150,
        "503 retries at {answered}, the timeout at {timed_out}"
    );

    service.stop().await;
    world.finish().await;
}

#[tokio::test]
async fn delivery_errors_stored_in_finer_words_are_rewritten_coarse() {
    let world = World::new().await;
    let service = world.start(100).await;
    service.create_tenant("acme", 100).await;
    stored_targets(&world, "acme", &["https://hooks.example.com/x".to_owned()]).await;
    let pool = sqlx::PgPool::connect(&world.db.url).await.unwrap();
    let old = [
        "HTTP 404",
        "HTTP 301",
        "HTTP 503",
        "timed out",
        "could not connect",
        "request failed",
        "target removed",
    ];
    sqlx::query(
        "WITH e AS (SELECT * FROM unnest($1::text[]) WITH ORDINALITY AS e(error, i)), \
         a AS (INSERT INTO budget_alert_history (tenant_id, alert_type, spend_micros, \
               max_budget_micros, percent, threshold_percent, message, dedupe_key) \
               SELECT 'acme', 'threshold', 1, 1, 1.0, 80, 'old', 'old:' || i FROM e \
               RETURNING alert_id, dedupe_key) \
         INSERT INTO notification_deliveries (alert_id, target_id, status, attempts, last_error) \
         SELECT a.alert_id, t.target_id, 'failed', 1, e.error \
         FROM a JOIN e ON a.dedupe_key = 'old:' || e.i \
         CROSS JOIN (SELECT target_id FROM notification_targets WHERE tenant_id = 'acme') t",
    )
    .bind(old)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::raw_sql(include_str!(
        "../../migrations/20261202000300_coarse_delivery_errors.sql"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let stored: Vec<(String,)> =
        sqlx::query_as("SELECT last_error FROM notification_deliveries ORDER BY delivery_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        stored.into_iter().map(|(e,)| e).collect::<Vec<_>>(),
        vec![
            "receiver refused (HTTP 4xx)",
            "receiver refused (HTTP 3xx)",
            "receiver failed (HTTP 5xx)",
            "receiver unreachable",
            "receiver unreachable",
            "receiver unreachable",
            "target removed",
        ]
    );
    pool.close().await;
    service.stop().await;
    world.finish().await;
}

#[tokio::test]
async fn whsec_secrets_verify_with_a_stock_standard_webhooks_verifier() {
    use base64::Engine as _;
    let world = World::new().await;
    let service = world.start(100).await;
    let receiver = Receiver::start(0).await;
    let key_bytes: Vec<u8> = (0u8..24).collect();
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(&key_bytes)
    );
    let key = service.create_tenant("acme", 100).await;
    service
        .set_targets("acme", vec![webhook(&receiver.url("/sw"), &secret, "")])
        .await
        .unwrap();
    world.sim.control().set_spend(&key, 85.0).unwrap();
    service.evaluate().await;
    let [got] = wait_for_requests(&receiver, 1).await.try_into().unwrap();
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&got.body, &got.headers)
        .unwrap();
    // The signature is bound to the timestamp: a replay with a fresh timestamp fails.
    let mut replayed = got.headers.clone();
    let later = chrono::Utc::now().timestamp() + 60;
    replayed.insert("webhook-timestamp", later.to_string().parse().unwrap());
    assert!(
        standardwebhooks::Webhook::new(&secret)
            .unwrap()
            .verify(&got.body, &replayed)
            .is_err()
    );
    // X-Budget-Signature stays: HMAC of the body under the secret's own bytes.
    assert!(signs(&secret, &got.body, got.signature.as_deref()));

    service.stop().await;
    world.finish().await;
}

/// Sets the tenant's spend past its alert threshold, runs an evaluation pass and returns how
/// long its first notification took to reach `path` (at most 30 s).
async fn first_delivery_latency(
    world: &World,
    service: &Instance,
    receiver: &Receiver,
    key: &str,
    path: &str,
) -> Duration {
    world.sim.control().set_spend(key, 85.0).unwrap();
    let start = Instant::now();
    service.evaluate().await;
    let deadline = start + Duration::from_secs(30);
    loop {
        if let Some(got) = receiver.received().iter().find(|r| r.path == path) {
            return got.at - start;
        }
        if Instant::now() > deadline {
            return deadline - start;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn one_tenants_stalling_receivers_do_not_delay_another_tenants_alerts() {
    let world = World::new().await;
    // Production's send timeout (10 s) and delivery limits.
    let service = world
        .start_with(100, |settings| settings.delivery_timeout_secs = 10)
        .await;
    let receiver = Receiver::start(0).await;
    let counts = TarpitCounts::default();
    let mut tarpits = Vec::new();
    for _ in 0..10 {
        tarpits.push(Tarpit::start(&counts).await);
    }
    service.create_tenant("noisy", 100).await;
    service
        .set_targets(
            "noisy",
            tarpits
                .iter()
                .map(|t| webhook(&t.url("/hook"), SECRET, ""))
                .collect(),
        )
        .await
        .unwrap();
    let calm = service.create_tenant("calm", 100).await;
    let quiet = service.create_tenant("quiet", 100).await;
    for id in ["calm", "quiet"] {
        service
            .set_targets(
                id,
                vec![webhook(&receiver.url(&format!("/{id}")), SECRET, "")],
            )
            .await
            .unwrap();
    }

    // The normal latency: calm's first delivery with nothing else going on.
    let normal = first_delivery_latency(&world, &service, &receiver, &calm, "/calm").await;

    // The noisy tenant raises an alert every 100 ms, each for its ten tarpits (at most 30 s).
    let pool = sqlx::PgPool::connect(&world.db.url).await.unwrap();
    let noise = tokio::spawn(async move {
        for i in 0..300 {
            sqlx::query(
                "WITH a AS (INSERT INTO budget_alert_history (tenant_id, alert_type, \
                   spend_micros, max_budget_micros, percent, threshold_percent, message, dedupe_key) \
                   VALUES ('noisy', 'threshold', 85000000, 100000000, 85.0, 80, 'noise', $1) \
                   RETURNING alert_id) \
                 INSERT INTO notification_deliveries (alert_id, target_id) \
                 SELECT a.alert_id, t.target_id FROM a, notification_targets t \
                 WHERE t.tenant_id = 'noisy' AND t.removed_at IS NULL",
            )
            .bind(format!("noise:{i}"))
            .execute(&pool)
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // Until the tarpits hold the noisy tenant's sends.
    let deadline = Instant::now() + Duration::from_secs(10);
    while counts.open.load(Ordering::SeqCst) < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let loaded = first_delivery_latency(&world, &service, &receiver, &quiet, "/quiet").await;
    noise.abort();
    let most_open = counts.most_open.load(Ordering::SeqCst);
    println!(
        "first delivery: {normal:?} alone, {loaded:?} beside 10 stalling targets; \
         the noisy tenant held at most {most_open} connections"
    );
    assert!(
        loaded <= normal + Duration::from_secs(2),
        "another tenant's stalling targets delayed the first delivery from {normal:?} to {loaded:?}"
    );
    assert!(
        (1..=4).contains(&most_open),
        "the noisy tenant had {most_open} sends in flight at once"
    );

    service.stop().await;
    world.finish().await;
}
