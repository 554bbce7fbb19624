//! Budget-alert webhooks: when they are sent (LLM calls only, on the spend before the call),
//! their exact body and headers, LiteLLM's 24 h dedupe, and that a bad receiver never hurts a
//! chat call. A real HTTP receiver on 127.0.0.1:0 records what arrives.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use chrono::Duration;
use common::{MASTER, call, chat, generate, start};
use litellm_sim::{SentWebhook, SimConfig, SimServer, hash_token};
use serde_json::{Value, json};

const SETTLE: StdDuration = StdDuration::from_secs(10);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Debug, Default)]
struct ReceiverState {
    got: Mutex<Vec<Received>>,
    status: AtomicU16,
    delay_ms: AtomicU64,
}

/// A webhook receiver answering `status` (200 unless changed) after `delay_ms`.
struct Receiver {
    state: Arc<ReceiverState>,
    base: String,
    task: tokio::task::JoinHandle<()>,
}

async fn record(
    State(state): State<Arc<ReceiverState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state.got.lock().unwrap().push(Received {
        method,
        uri,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(StdDuration::from_millis(delay)).await;
    }
    StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap()
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        state.status.store(200, Ordering::SeqCst);
        let app = axum::Router::new()
            .fallback(record)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { state, base, task }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn got(&self) -> Vec<Received> {
        self.state.got.lock().unwrap().clone()
    }

    fn bodies(&self) -> Vec<Value> {
        self.got().iter().map(Received::json).collect()
    }

    fn events(&self) -> Vec<String> {
        self.bodies()
            .iter()
            .map(|b| b["event"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A sim whose chat calls cost nothing, so `set_spend` alone decides the spend each call sees.
async fn sim_with_receiver(path: &str) -> (SimServer, Receiver) {
    let server = start().await;
    let receiver = Receiver::start().await;
    let control = server.control();
    control.set_webhook_url(Some(receiver.url(path)));
    control.set_chat_cost(Some(0.0));
    (server, receiver)
}

/// Sets the key's spend, makes one chat call, and waits for the webhooks it caused.
async fn chat_at(server: &SimServer, raw: &str, spend: f64) -> (u16, Vec<SentWebhook>) {
    server.control().set_spend(raw, spend).unwrap();
    let (status, _) = chat(server, raw).await;
    (status, server.control().settled_webhooks(SETTLE).await)
}

#[tokio::test]
async fn the_contracts_verified_sequence() {
    // Contract §7: spends 5.0, 8.6, 9.6, 10.2 on max_budget 10 → nothing, threshold_crossed,
    // suppressed, budget_crossed.
    let (server, receiver) = sim_with_receiver("/litellm-hook").await;
    let (raw, token) = generate(
        &server,
        json!({"key_alias": "tenant-a", "max_budget": 10.0}),
    )
    .await;

    let (status, sent) = chat_at(&server, &raw, 5.0).await;
    assert_eq!(status, 200);
    assert!(sent.is_empty(), "{sent:?}");

    let (status, sent) = chat_at(&server, &raw, 8.6).await;
    assert_eq!(status, 200);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status, Some(200));
    assert_eq!(sent[0].url, receiver.url("/litellm-hook"));

    let (status, sent) = chat_at(&server, &raw, 9.6).await;
    assert_eq!(status, 200);
    assert_eq!(
        sent.len(),
        1,
        "the 95% alert shares threshold_crossed and is suppressed"
    );

    // Over budget: the call is refused, and the alert still goes out (raised after the task).
    let (status, sent) = chat_at(&server, &raw, 10.2).await;
    assert_eq!(status, 422);
    assert_eq!(sent.len(), 2);

    assert_eq!(receiver.events(), ["threshold_crossed", "budget_crossed"]);
    let bodies = receiver.bodies();
    assert_eq!(bodies[0]["spend"], 8.6);
    assert_eq!(
        bodies[0]["event_message"],
        "Key Budget: 15% or less of budget remaining"
    );
    assert_eq!(bodies[1]["spend"], 10.2);
    assert_eq!(bodies[1]["max_budget"], 10.0);
    assert_eq!(bodies[1]["token"], token);
    assert_eq!(
        bodies[1]["event_message"],
        "Key Budget: Budget Crossed\n Total Budget:`10.0`"
    );
    assert_eq!(
        sent.iter().map(|s| s.body.clone()).collect::<Vec<_>>(),
        bodies
    );

    // budget_crossed is deduped too: refused calls do not repeat it.
    let (status, sent) = chat_at(&server, &raw, 11.0).await;
    assert_eq!(status, 422);
    assert_eq!(sent.len(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn alerts_use_the_spend_before_the_call_is_charged() {
    let (server, receiver) = sim_with_receiver("/hook").await;
    let control = server.control();
    control.set_chat_cost(Some(1.0));
    let (raw, _) = generate(&server, json!({"max_budget": 10.0})).await;
    control.set_spend(&raw, 8.0).unwrap();
    // 80% before the call, 90% after: this call sends nothing.
    assert_eq!(chat(&server, &raw).await.0, 200);
    assert!(control.settled_webhooks(SETTLE).await.is_empty());
    assert_eq!(control.key(&raw).unwrap().spend, 9.0);
    // The next call sees 90%.
    assert_eq!(chat(&server, &raw).await.0, 200);
    control.settled_webhooks(SETTLE).await;
    assert_eq!(receiver.bodies()[0]["spend"], 9.0);
    assert_eq!(receiver.events(), ["threshold_crossed"]);
    server.shutdown().await;
}

#[tokio::test]
async fn soft_budget_crossed() {
    let (server, receiver) = sim_with_receiver("/hook").await;
    // Only the auth-time alerts here (the projection after each call is tested below).
    server.control().set_projected_limit_alerts(false);
    // Soft budget only: the soft-budget check sends it, with its own prefix.
    let (soft_only, soft_token) = generate(
        &server,
        json!({"key_alias": "soft-only", "soft_budget": 5.0}),
    )
    .await;
    let (_, sent) = chat_at(&server, &soft_only, 4.99).await;
    assert!(sent.is_empty());
    let (status, sent) = chat_at(&server, &soft_only, 5.0).await;
    assert_eq!(status, 200, "a soft budget never blocks");
    assert_eq!(sent.len(), 1);
    let body = &receiver.bodies()[0];
    assert_eq!(body["event"], "soft_budget_crossed");
    assert_eq!(
        body["event_message"],
        "Soft Budget Crossed: Total Soft Budget:`5.0`"
    );
    assert_eq!(body["soft_budget"], 5.0);
    assert_eq!(body["max_budget"], Value::Null);
    assert_eq!(body["token"], soft_token);
    // Once per 24 h.
    let (_, sent) = chat_at(&server, &soft_only, 7.0).await;
    assert_eq!(sent.len(), 1);

    // With a max budget too, the max-budget check runs first and sends it with its prefix.
    let (both, _) = generate(
        &server,
        json!({"key_alias": "both", "soft_budget": 5.0, "max_budget": 100.0}),
    )
    .await;
    let (_, sent) = chat_at(&server, &both, 6.0).await;
    assert_eq!(sent.len(), 2);
    let body = &receiver.bodies()[1];
    assert_eq!(body["event"], "soft_budget_crossed");
    assert_eq!(body["event_message"], "Key Budget: Total Soft Budget:`5.0`");
    assert_eq!(
        (body["soft_budget"].clone(), body["max_budget"].clone()),
        (json!(5.0), json!(100.0))
    );

    // Past 85% of the max, threshold_crossed overrides and the messages concatenate.
    let (_, sent) = chat_at(&server, &both, 86.0).await;
    assert_eq!(sent.len(), 3);
    let body = &receiver.bodies()[2];
    assert_eq!(body["event"], "threshold_crossed");
    assert_eq!(
        body["event_message"],
        "Key Budget: Total Soft Budget:`5.0`15% or less of budget remaining"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn nothing_below_85_percent() {
    let (server, receiver) = sim_with_receiver("/hook").await;
    let (raw, _) = generate(&server, json!({"max_budget": 10.0})).await;
    for spend in [0.0, 5.0, 8.0, 8.49] {
        let (status, sent) = chat_at(&server, &raw, spend).await;
        assert_eq!(status, 200);
        assert!(sent.is_empty(), "{spend}: {sent:?}");
    }
    // No budget at all: never anything.
    let (unlimited, _) = generate(&server, json!({})).await;
    let (_, sent) = chat_at(&server, &unlimited, 1000.0).await;
    assert!(sent.is_empty());
    assert!(receiver.got().is_empty());
    // Exactly 85% is "15% or less remaining".
    let (_, sent) = chat_at(&server, &raw, 8.5).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(receiver.events(), ["threshold_crossed"]);
    server.shutdown().await;
}

#[tokio::test]
async fn exact_body_fields_and_headers() {
    let (server, receiver) = sim_with_receiver("/litellm-hook?secret=s3").await;
    let (raw, token) = generate(
        &server,
        json!({"key_alias": "tenant-a", "max_budget": 10.0, "user_id": "u-1", "team_id": "t-1", "metadata": {"tenant_id": "a"}}),
    )
    .await;
    assert_eq!(token, hash_token(&raw));
    chat_at(&server, &raw, 8.6).await;
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    let hook = &got[0];
    assert_eq!(hook.method, Method::POST);
    assert_eq!(hook.uri.path(), "/litellm-hook");
    assert_eq!(hook.uri.query(), Some("secret=s3"));

    // `WebhookEvent.model_dump_json()`: every field, nulls included, in pydantic's order, compact.
    let expected = format!(
        concat!(
            r#"{{"spend":8.6,"max_budget":10.0,"soft_budget":null,"token":"{}","customer_id":null,"#,
            r#""user_id":"u-1","team_id":"t-1","team_alias":null,"organization_id":null,"user_email":null,"#,
            r#""key_alias":"tenant-a","projected_exceeded_date":null,"projected_spend":null,"event_group":"key","#,
            r#""alert_emails":null,"max_budget_alert_emails":null,"event":"threshold_crossed","#,
            r#""event_message":"Key Budget: 15% or less of budget remaining"}}"#
        ),
        token
    );
    assert_eq!(hook.body, expected);

    let header = |name: &str| {
        hook.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(header("content-type").as_deref(), Some("application/json"));
    assert_eq!(header("user-agent").as_deref(), Some("litellm/1.108.7"));
    // No signature, token or auth header: only what the capture shows (httpx adds
    // accept-encoding and connection; the sim's client may leave them out).
    let allowed = [
        "host",
        "accept",
        "accept-encoding",
        "connection",
        "user-agent",
        "content-type",
        "content-length",
    ];
    for name in hook.headers.keys() {
        assert!(allowed.contains(&name.as_str()), "unexpected header {name}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_failing_or_slow_receiver_never_hurts_chat_and_is_not_retried() {
    let (server, receiver) = sim_with_receiver("/hook").await;
    receiver.state.status.store(500, Ordering::SeqCst);
    receiver.state.delay_ms.store(1500, Ordering::SeqCst);
    let (raw, _) = generate(&server, json!({"max_budget": 10.0})).await;
    let control = server.control();
    control.set_spend(&raw, 9.0).unwrap();

    let started = Instant::now();
    let (status, answer) = chat(&server, &raw).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["object"], "chat.completion");
    assert!(
        started.elapsed() < StdDuration::from_millis(1000),
        "the chat call waited for the webhook"
    );

    let sent = control.settled_webhooks(SETTLE).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status, Some(500));
    // A non-200 answer still counts as sent: later calls do not retry it.
    for _ in 0..3 {
        assert_eq!(chat(&server, &raw).await.0, 200);
    }
    assert_eq!(control.settled_webhooks(SETTLE).await.len(), 1);
    assert_eq!(receiver.got().len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_receiver_is_recorded_and_tried_again_on_the_next_call() {
    let server = start().await;
    let control = server.control();
    control.set_chat_cost(Some(0.0));
    // A port nobody listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", listener.local_addr().unwrap())
    };
    control.set_webhook_url(Some(closed.clone()));
    let (raw, _) = generate(&server, json!({"max_budget": 10.0})).await;
    let (status, sent) = chat_at(&server, &raw, 9.0).await;
    assert_eq!(status, 200);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].url.as_str(), sent[0].status),
        (closed.as_str(), None)
    );

    // LiteLLM raises before caching the alert, so the next LLM call sends it again.
    let receiver = Receiver::start().await;
    control.set_webhook_url(Some(receiver.url("/hook")));
    let (_, sent) = chat_at(&server, &raw, 9.0).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].status, Some(200));
    assert_eq!(receiver.events(), ["threshold_crossed"]);
    server.shutdown().await;
}

#[tokio::test]
async fn the_24h_dedupe_expires_on_the_sim_clock() {
    let (server, receiver) = sim_with_receiver("/hook").await;
    let control = server.control();
    let (raw, _) = generate(&server, json!({"max_budget": 10.0})).await;
    assert_eq!(chat_at(&server, &raw, 8.6).await.1.len(), 1);
    assert_eq!(chat_at(&server, &raw, 9.0).await.1.len(), 1);
    control.advance_clock(Duration::hours(23));
    assert_eq!(chat_at(&server, &raw, 9.0).await.1.len(), 1);
    control.advance_clock(Duration::hours(1) + Duration::seconds(1));
    let (_, sent) = chat_at(&server, &raw, 9.7).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(
        receiver.events(),
        ["threshold_crossed", "threshold_crossed"]
    );
    assert_eq!(
        receiver.bodies()[1]["event_message"],
        "Key Budget: 5% or less of budget remaining"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn admin_edits_never_alert_only_the_next_llm_call_does() {
    let (server, receiver) = sim_with_receiver("/hook").await;
    let control = server.control();
    let (raw, token) = generate(
        &server,
        json!({"key_alias": "tenant-z", "max_budget": 10.0}),
    )
    .await;
    let (status, _) = call(
        &server,
        "POST",
        "/key/update",
        Some(json!({"key": token, "spend": 12.0})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &server,
        "POST",
        "/key/update",
        Some(json!({"key": token, "max_budget": 5.0})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(&server, "GET", &format!("/key/info?key={token}"), None).await;
    assert_eq!(status, 200);
    control.set_spend(&raw, 20.0).unwrap();
    control.advance_clock(Duration::hours(1));
    assert!(control.settled_webhooks(SETTLE).await.is_empty());
    assert!(receiver.got().is_empty());

    // The key's next LLM call is refused and alerts.
    assert_eq!(chat(&server, &raw).await.0, 422);
    control.settled_webhooks(SETTLE).await;
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["event"], "budget_crossed");
    assert_eq!(bodies[0]["max_budget"], 5.0);
    assert_eq!(bodies[0]["spend"], 20.0);
    server.shutdown().await;
}

#[tokio::test]
async fn master_key_and_refused_calls_send_nothing() {
    let (server, receiver) = sim_with_receiver("/hook").await;
    let control = server.control();
    let (raw, _) = generate(&server, json!({"max_budget": 10.0, "models": ["gpt-4o"]})).await;
    control.set_spend(&raw, 9.9).unwrap();
    // Model not allowed: refused before the budget checks.
    assert_eq!(chat(&server, &raw).await.0, 401);
    assert_eq!(chat(&server, MASTER).await.0, 200);
    assert!(control.settled_webhooks(SETTLE).await.is_empty());
    assert!(receiver.got().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn webhook_url_is_set_at_runtime_and_attempts_are_listed_over_http() {
    let server = start().await;
    let control = server.control();
    control.set_chat_cost(Some(0.0));
    assert_eq!(control.webhook_url(), None);
    let (raw, _) = generate(&server, json!({"max_budget": 10.0})).await;
    // Without a URL nothing is sent, and nothing is marked as sent.
    let (status, sent) = chat_at(&server, &raw, 9.0).await;
    assert_eq!(status, 200);
    assert!(sent.is_empty());

    let receiver = Receiver::start().await;
    let (status, answer) = call(
        &server,
        "POST",
        "/sim/webhook_url",
        Some(json!({"url": receiver.url("/late")})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["url"], receiver.url("/late"));
    assert_eq!(
        call(&server, "GET", "/sim/webhook_url", None).await.1["url"],
        receiver.url("/late")
    );
    assert_eq!(
        call(&server, "GET", "/sim/health", None).await.1["webhook_url"],
        receiver.url("/late")
    );
    assert_eq!(
        call(&server, "POST", "/sim/webhook_url", Some(json!({})))
            .await
            .0,
        422
    );
    assert_eq!(
        call(&server, "POST", "/sim/webhook_url", Some(json!({"url": 5})))
            .await
            .0,
        422
    );

    server.control().set_spend(&raw, 9.0).unwrap();
    assert_eq!(chat(&server, &raw).await.0, 200);
    let (status, listed) = call(&server, "GET", "/sim/webhooks?wait_ms=5000", None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["in_flight"], 0);
    let hooks = listed["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["url"], receiver.url("/late"));
    assert_eq!(hooks[0]["status"], 200);
    assert_eq!(hooks[0]["body"]["event"], "threshold_crossed");
    assert_eq!(receiver.events(), ["threshold_crossed"]);

    assert_eq!(call(&server, "DELETE", "/sim/webhooks", None).await.0, 200);
    assert!(control.webhooks().is_empty());
    let (status, answer) = call(
        &server,
        "POST",
        "/sim/webhook_url",
        Some(json!({"url": null})),
    )
    .await;
    assert_eq!((status, answer["url"].clone()), (200, Value::Null));
    assert_eq!(control.webhook_url(), None);
    server.shutdown().await;
}

#[tokio::test]
async fn sim_config_webhook_url_is_used_from_the_start() {
    let receiver = Receiver::start().await;
    let mut config = SimConfig::new("127.0.0.1:0", MASTER);
    config.webhook_url = Some(receiver.url("/from-config"));
    let server = SimServer::start_with(config).await.unwrap();
    let control = server.control();
    control.set_chat_cost(Some(0.0));
    assert_eq!(control.webhook_url(), Some(receiver.url("/from-config")));
    let (raw, _) = generate(&server, json!({"max_budget": 1.0})).await;
    let (_, sent) = chat_at(&server, &raw, 1.0).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(receiver.got()[0].uri.path(), "/from-config");
    server.shutdown().await;
}

/// LiteLLM 1.108.7 projects a key's spend against its soft budget after every charged call
/// and alerts once a day when the projection passes it. This is what the real proxy sent on
/// 2026-12-03 at 08:13:30 UTC for a key with max_budget 0.2, soft_budget 0.08 and
/// budget_duration 30d, after its first 0.05 call (captured from its webhooks).
#[tokio::test]
async fn projected_limit_exceeded_after_a_charged_call_like_litellm() {
    let (server, receiver) = sim_with_receiver("/hook").await;
    let control = server.control();
    control.set_chat_cost(Some(0.05));
    control.set_clock(
        chrono::DateTime::parse_from_rfc3339("2026-12-03T08:13:30Z")
            .unwrap()
            .to_utc(),
    );
    let (raw, token) = generate(
        &server,
        json!({"key_alias": "proj", "max_budget": 0.2, "soft_budget": 0.08, "budget_duration": "30d"}),
    )
    .await;
    assert_eq!(chat(&server, &raw).await.0, 200);
    let sent = control.settled_webhooks(SETTLE).await;
    assert_eq!(sent.len(), 1);
    let mut body = receiver.bodies()[0].clone();
    // Real: 0.6616242633588644 (its clock read a few milliseconds later).
    let projected = body["projected_spend"].take().as_f64().unwrap();
    assert!((projected - 0.661_624).abs() < 1e-4, "{projected}");
    assert_eq!(
        body,
        json!({
            "spend": 0.05, "max_budget": 0.08, "soft_budget": null, "token": token,
            "customer_id": null, "user_id": null, "team_id": null, "team_alias": null,
            "organization_id": null, "user_email": null, "key_alias": "proj",
            "projected_exceeded_date": "2026-12-04", "projected_spend": null, "event_group": "key",
            "alert_emails": null, "max_budget_alert_emails": null,
            "event": "projected_limit_exceeded", "event_message": "Key Budget: Projected Limit Exceeded",
        })
    );
    // Once a day per key: the next calls send the soft and hard budget alerts only.
    for _ in 0..4 {
        chat(&server, &raw).await;
        control.settled_webhooks(SETTLE).await;
    }
    assert_eq!(
        receiver.events(),
        [
            "projected_limit_exceeded",
            "soft_budget_crossed",
            "budget_crossed"
        ]
    );
    server.shutdown().await;
}

/// Without a budget window, LiteLLM projects to the end of the month.
#[tokio::test]
async fn projected_limit_exceeded_to_the_end_of_the_month() {
    let (server, receiver) = sim_with_receiver("/hook").await;
    let control = server.control();
    control.set_clock(
        chrono::DateTime::parse_from_rfc3339("2026-11-11T12:00:00Z")
            .unwrap()
            .to_utc(),
    );
    let (raw, _) = generate(&server, json!({"key_alias": "proj", "soft_budget": 100.0})).await;
    // 10 by the 11th projects to 29 for November: nothing.
    let (_, sent) = chat_at(&server, &raw, 10.0).await;
    assert!(sent.is_empty());
    // 40 by the 11th: 4 a day, 19 days left, 116; 60 more take 15 days.
    let (status, sent) = chat_at(&server, &raw, 40.0).await;
    assert_eq!(status, 200);
    assert_eq!(sent.len(), 1);
    let body = &receiver.bodies()[0];
    assert_eq!(body["event"], "projected_limit_exceeded");
    assert_eq!(body["projected_spend"], 116.0);
    assert_eq!(body["projected_exceeded_date"], "2026-11-26");
    assert_eq!(body["max_budget"], 100.0);
    assert_eq!(body["soft_budget"], Value::Null);
    // Deduped like the others.
    assert_eq!(chat_at(&server, &raw, 41.0).await.1.len(), 1);
    // The control turns it off (for tests about the other alerts).
    control.advance_clock(Duration::days(2));
    let (status, _) = call(
        &server,
        "POST",
        "/sim/projected_alerts",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(chat_at(&server, &raw, 50.0).await.1.len(), 1);
    control.set_projected_limit_alerts(true);
    assert_eq!(chat_at(&server, &raw, 50.0).await.1.len(), 2);
    server.shutdown().await;
}
