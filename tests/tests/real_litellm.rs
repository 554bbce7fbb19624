//! budget-service against the real LiteLLM proxy 1.108.7 (PostgreSQL-backed virtual keys),
//! through every product path that touches LiteLLM: real gRPC, a real PostgreSQL database per
//! test, and spend made by real chat calls with the tenant's key (the proxy's `fake-gpt`
//! costs 0.05 USD a call). The test command starts the proxy (`tests/real-litellm.sh`); the
//! opt-in variables in `budget_e2e::real_proxy` point the suite at any other proxy.
//!
//! A recording relay sits between budget-service and the proxy, so the tests see exactly what
//! budget-service sent (`budget_duration` only when the period changes), and another between
//! the proxy's budget webhooks and budget-service's receiver.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use budget_e2e::real_proxy::{RealProxy, WebhookTarget, eventually};
use budget_e2e::relay::RecordingRelay;
use budget_e2e::{Stack, StackOptions, key_hash};
use budget_proto::v1 as pb;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use reqwest::Method;
use serde_json::{Value, json};

/// budget-service on its own database, talking to the real proxy through a recording relay.
struct Suite {
    proxy: RealProxy,
    /// What budget-service sent to LiteLLM and what it got back.
    litellm: RecordingRelay,
    stack: Stack,
}

impl Suite {
    async fn start() -> Option<Suite> {
        Suite::start_with(StackOptions::default()).await
    }

    async fn start_with(mut options: StackOptions) -> Option<Suite> {
        let proxy = RealProxy::from_env()?;
        let litellm = RecordingRelay::start("127.0.0.1:0".parse().unwrap(), &proxy.base_url)
            .await
            .expect("relay starts");
        let mut through_relay = proxy.clone();
        through_relay.base_url = litellm.base_url();
        options.litellm = Some(through_relay);
        // Statuses are read fresh: the proxy's spend arrives seconds after a call.
        options.cache_ttl_secs = 1;
        // The real proxy answers in tens of milliseconds, but two cores run the whole test
        // command beside it.
        options.litellm_timeout_secs = 30;
        let stack = Stack::start_with(options).await;
        Some(Suite {
            proxy,
            litellm,
            stack,
        })
    }

    /// The tenant's key hash, as budget-service stored it.
    async fn key_of(&self, id: &str) -> String {
        let id = budget_service::domain::TenantId::parse(id).unwrap();
        let (tenant, _) = self.stack.store.tenant_config(&id).await.unwrap().unwrap();
        tenant.key_hash
    }

    /// Waits until GetBudgetStatus reports `micros` of spend and returns the status.
    async fn await_status_spend(&self, id: &str, micros: i64) -> pb::BudgetStatus {
        eventually(
            &format!("{id}'s status to show {micros} micros"),
            || async {
                let status = self.stack.status(id).await.expect("status answers");
                (status.spend_micros == micros).then_some(status)
            },
        )
        .await
    }

    /// The JSON bodies budget-service sent to `path` on LiteLLM, oldest first.
    fn sent_to(&self, path: &str) -> Vec<Value> {
        self.litellm
            .to_path(path)
            .into_iter()
            .map(|e| e.request)
            .collect()
    }

    async fn stop(self) {
        self.stack.stop().await;
    }
}

/// A tenant id no other test (or earlier run against the same proxy) uses: LiteLLM key
/// aliases are unique across the proxy.
fn tenant_id(what: &str) -> String {
    format!(
        "rl-{what}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn settings(micros: i64, alert: i32, grace: i32, duration: &str) -> pb::BudgetConfig {
    pb::BudgetConfig {
        max_budget_micros: micros,
        alert_threshold_percent: alert,
        grace_threshold_percent: grace,
        budget_duration: duration.into(),
        ..Default::default()
    }
}

/// A dollar amount LiteLLM reports, as micros (LiteLLM keeps floats).
fn micros(value: &Value) -> i64 {
    (value.as_f64().unwrap_or(f64::NAN) * 1e6).round() as i64
}

fn reset_at(info: &Value) -> DateTime<Utc> {
    let raw = info["budget_reset_at"].as_str().expect("a reset date");
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .unwrap_or_else(|_| panic!("budget_reset_at {raw} is a datetime"))
}

fn timestamp(at: &Option<prost_types::Timestamp>) -> DateTime<Utc> {
    let at = at.as_ref().expect("a timestamp");
    Utc.timestamp_opt(at.seconds, 0).unwrap()
}

fn first_of_next_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).unwrap()
}

async fn update(suite: &Suite, id: &str, config: pb::BudgetConfig) -> pb::BudgetConfig {
    suite
        .stack
        .client()
        .update_budget_config(pb::UpdateBudgetConfigRequest {
            tenant_id: id.into(),
            config: Some(config),
            etag: String::new(),
            update_mask: None,
        })
        .await
        .expect("update accepted")
        .into_inner()
        .config
        .unwrap()
}

async fn audit_actions(suite: &Suite, id: &str) -> Vec<String> {
    suite
        .stack
        .client()
        .list_audit_events(pb::ListAuditEventsRequest {
            tenant_id: id.into(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .events
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// A chat call that must be admitted, then the spend it made arriving in LiteLLM.
async fn spend_one_call(suite: &Suite, raw_key: &str, hash: &str, spend_after_usd: f64) {
    let outcome = suite.proxy.chat(raw_key).await;
    assert!(outcome.ok(), "the call is admitted: {outcome:?}");
    suite.proxy.await_spend(hash, spend_after_usd).await;
}

/// Create, spend, the four alerts, LiteLLM's block at the grace amount, history, limit
/// and period updates, and drift repair: one tenant's budget period on the real proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_lives_a_budget_period_on_the_real_proxy() {
    let Some(suite) = Suite::start().await else {
        return;
    };
    let id = tenant_id("period");
    // $0.20 with the alert at 80 % and the block at 110 %: LiteLLM holds 0.22 and 0.16.
    let created = suite
        .stack
        .create_tenant_with(&id, settings(200_000, 80, 110, "30d"))
        .await;
    let raw = created.virtual_key;
    let hash = key_hash(&raw);
    assert_eq!(
        suite.key_of(&id).await,
        hash,
        "LiteLLM's token is sha256(key)"
    );

    // The forecast reads complete past days: yesterday's $50 in LiteLLM's daily table (a
    // proxy cannot be made to live through yesterday) makes the rate. budget-service loads a tenant's history from LiteLLM once, on the
    // first status read, and keeps it from then on.
    let yesterday = Utc::now().date_naive().pred_opt().unwrap();
    let forecasting = suite
        .proxy
        .backdate_spend(&hash, yesterday, 50.0)
        .await
        .is_some();

    let generate = &suite.sent_to("/key/generate")[0];
    assert_eq!(micros(&generate["max_budget"]), 220_000);
    assert_eq!(micros(&generate["soft_budget"]), 160_000);
    assert_eq!(generate["budget_duration"], "30d");
    assert_eq!(generate["metadata"]["tenant_id"], json!(id));

    let info = suite.proxy.key_info(&hash).await;
    assert_eq!(micros(&info["max_budget"]), 220_000);
    assert_eq!(
        micros(&info["litellm_budget_table"]["soft_budget"]),
        160_000,
        "the soft budget lives in LiteLLM's budget table"
    );
    assert_eq!(info["budget_duration"], "30d");
    let now = Utc::now();
    let reset = reset_at(&info);
    assert!(
        reset == first_of_next_month(now)
            || reset == first_of_next_month(now - chrono::Duration::minutes(5)),
        "a 30d key resets on the 1st: {reset}"
    );

    let status = suite.stack.status(&id).await.unwrap();
    assert_eq!(status.spend_micros, 0);
    assert_eq!(status.state(), pb::BudgetState::Ok);
    assert_eq!(
        timestamp(&status.reset_time),
        reset,
        "the reset date comes from LiteLLM"
    );
    assert_eq!(
        (status.block_at_micros, status.alert_at_micros),
        (220_000, 160_000)
    );

    // 75 %: no threshold yet, but the forecast runs past the budget.
    for spend in [0.05, 0.10, 0.15] {
        spend_one_call(&suite, &raw, &hash, spend).await;
    }
    let status = suite.await_status_spend(&id, 150_000).await;
    assert_eq!(status.state(), pb::BudgetState::Ok);
    suite.stack.evaluate().await;
    if forecasting {
        assert_eq!(status.daily_rate_micros, 50_000_000, "{status:?}");
        assert!(status.projected_spend_micros > 200_000, "{status:?}");
        assert_eq!(
            suite.stack.alert_types(&id).await,
            vec![pb::AlertType::ProjectedLimit]
        );
    } else {
        eprintln!("forecast checks skipped: LITELLM_E2E_DATABASE_URL is unset");
        assert_eq!(suite.stack.alert_types(&id).await, vec![]);
    }

    // 100 %: the threshold and the budget are crossed; the grace period begins.
    spend_one_call(&suite, &raw, &hash, 0.20).await;
    let status = suite.await_status_spend(&id, 200_000).await;
    assert_eq!(status.state(), pb::BudgetState::Grace);
    suite.stack.evaluate().await;
    let types = suite.stack.alert_types(&id).await;
    assert!(types.contains(&pb::AlertType::Threshold), "{types:?}");
    assert!(types.contains(&pb::AlertType::BudgetExceeded), "{types:?}");
    assert!(!types.contains(&pb::AlertType::Blocked), "{types:?}");

    // Spend 0.20 < 0.22 admits one more call (LiteLLM lets spend pass by one call); then
    // LiteLLM refuses the key, and the dashboard shows BLOCKED.
    spend_one_call(&suite, &raw, &hash, 0.25).await;
    let refused = suite.proxy.chat(&raw).await;
    assert_eq!(
        (refused.status, refused.error_type.as_deref()),
        (422, Some("budget_exceeded"))
    );
    let status = suite.await_status_spend(&id, 250_000).await;
    assert_eq!(status.state(), pb::BudgetState::Blocked);
    suite.stack.evaluate().await;
    let mut types = suite.stack.alert_types(&id).await;
    types.sort_by_key(|t| *t as i32);
    let mut expected = vec![
        pb::AlertType::Threshold,
        pb::AlertType::BudgetExceeded,
        pb::AlertType::Blocked,
    ];
    if forecasting {
        expected.push(pb::AlertType::ProjectedLimit);
    }
    assert_eq!(types, expected, "each alert once");

    // GetSpendHistory reads LiteLLM's daily activity: today holds the five admitted calls.
    let today = Utc::now().date_naive().format("%Y-%m-%d").to_string();
    let history = eventually("today's spend in the history", || async {
        let days = suite
            .stack
            .client()
            .get_spend_history(pb::GetSpendHistoryRequest {
                tenant_id: id.clone(),
                days: 7,
            })
            .await
            .unwrap()
            .into_inner();
        days.days
            .iter()
            .any(|d| d.date == today && d.spend_micros == 250_000)
            .then_some(days)
    })
    .await;
    assert_eq!(history.days.len(), 7);
    let yesterday = yesterday.format("%Y-%m-%d").to_string();
    let past: i64 = history
        .days
        .iter()
        .filter(|d| d.date != today)
        .map(|d| d.spend_micros)
        .sum();
    let yesterdays = history
        .days
        .iter()
        .find(|d| d.date == yesterday)
        .map_or(0, |d| d.spend_micros);
    let backdated = if forecasting { 50_000_000 } else { 0 };
    assert_eq!((past, yesterdays), (backdated, backdated), "{history:?}");

    // Where the money goes: the proxy's `breakdown.models` names the deployment
    // `openai/<model>`; the period (from the 1st, LiteLLM's "30d") holds today's calls and,
    // unless today is the 1st, yesterday's backdated spend, all on that one model.
    let today = Utc::now().date_naive();
    let period_start = today.with_day(1).unwrap();
    let backdated_in_period = today.pred_opt().unwrap() >= period_start;
    let in_period = 250_000 + if backdated_in_period { backdated } else { 0 };
    let by_model = vec![pb::ModelSpend {
        model: format!("openai/{}", suite.proxy.model),
        spend_micros: in_period,
        other: false,
    }];
    let answer = eventually("the period's spend by model", || async {
        let answer = suite
            .stack
            .client()
            .get_spend_history(pb::GetSpendHistoryRequest {
                tenant_id: id.clone(),
                days: 7,
            })
            .await
            .unwrap()
            .into_inner();
        (answer.models == by_model).then_some(answer)
    })
    .await;
    assert_eq!(
        answer.period_start,
        period_start.format("%Y-%m-%d").to_string()
    );

    // Raising the budget without touching the period: limits move, `budget_duration` is not
    // sent, so LiteLLM neither restarts the period nor moves the reset date.
    update(&suite, &id, settings(1_000_000, 80, 110, "30d")).await;
    let sent = suite.sent_to("/key/update");
    let last = sent.last().unwrap();
    assert_eq!(micros(&last["max_budget"]), 1_100_000);
    assert_eq!(micros(&last["soft_budget"]), 800_000);
    assert!(last.get("budget_duration").is_none(), "{last}");
    let info = suite.proxy.key_info(&hash).await;
    assert_eq!(micros(&info["max_budget"]), 1_100_000);
    assert_eq!(
        micros(&info["litellm_budget_table"]["soft_budget"]),
        800_000
    );
    assert_eq!(reset_at(&info), reset);
    assert_eq!(
        micros(&info["spend"]),
        250_000,
        "the period did not restart"
    );
    assert!(suite.proxy.chat(&raw).await.ok(), "the key works again");
    suite.proxy.await_spend(&hash, 0.30).await;

    // A new period: `budget_duration` is sent and the reset date is LiteLLM's new one.
    update(&suite, &id, settings(1_000_000, 80, 110, "60d")).await;
    let last = suite.sent_to("/key/update").last().cloned().unwrap();
    assert_eq!(last["budget_duration"], "60d");
    let info = suite.proxy.key_info(&hash).await;
    assert_eq!(info["budget_duration"], "60d");
    let new_reset = reset_at(&info);
    assert!(new_reset > reset, "{new_reset} after {reset}");
    let status = eventually("the status to show the new period", || async {
        let status = suite.stack.status(&id).await.unwrap();
        (status.budget_duration == "60d").then_some(status)
    })
    .await;
    assert_eq!(timestamp(&status.reset_time), new_reset);

    // Someone edits the key in LiteLLM directly; the next pass puts our limits back.
    let (code, _) = suite
        .proxy
        .admin(
            Method::POST,
            "/key/update",
            Some(json!({"key": hash, "max_budget": 9.0})),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        micros(&suite.proxy.key_info(&hash).await["max_budget"]),
        9_000_000
    );
    let report = suite.stack.evaluate().await;
    assert_eq!(report.keys_repaired, 1);
    let info = suite.proxy.key_info(&hash).await;
    assert_eq!(micros(&info["max_budget"]), 1_100_000);
    assert_eq!(
        micros(&info["litellm_budget_table"]["soft_budget"]),
        800_000
    );
    assert_eq!(info["budget_duration"], "60d");
    assert!(
        audit_actions(&suite, &id)
            .await
            .contains(&"litellm_key_repaired".to_owned())
    );
    suite.stop().await;
}

/// Suspend and resume, rotation without the enterprise licence, attaching a key made in
/// LiteLLM, a temporary increase and its expiry, and deletion, each seen from the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_is_suspended_rotated_attached_raised_and_deleted_on_the_real_proxy() {
    let Some(suite) = Suite::start().await else {
        return;
    };
    let id = tenant_id("life");
    let raw = suite
        .stack
        .create_tenant_with(&id, settings(1_000_000, 80, 110, "30d"))
        .await
        .virtual_key;
    let hash = key_hash(&raw);
    spend_one_call(&suite, &raw, &hash, 0.05).await;
    let mut client = suite.stack.client();

    // Suspended: LiteLLM refuses the key; the status still answers, marked suspended.
    client
        .suspend_tenant(pb::SuspendTenantRequest {
            tenant_id: id.clone(),
            reason: "unpaid invoice".into(),
        })
        .await
        .unwrap();
    let refused = suite.proxy.chat(&raw).await;
    assert_eq!(refused.status, 401, "{refused:?}");
    let info = suite.proxy.key_info(&hash).await;
    assert_eq!(
        (info["blocked"].as_bool(), info["status"].as_str()),
        (Some(true), Some("revoked"))
    );
    let status = suite.stack.status(&id).await.unwrap();
    assert!(status.suspended);
    client
        .resume_tenant(pb::ResumeTenantRequest {
            tenant_id: id.clone(),
        })
        .await
        .unwrap();
    spend_one_call(&suite, &raw, &hash, 0.10).await;

    // Rotation without the licence: a new key carrying the spend; the old one is refused.
    let rotated = client
        .rotate_tenant_key(pb::RotateTenantKeyRequest {
            tenant_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let new_raw = rotated.virtual_key;
    let new_hash = key_hash(&new_raw);
    assert_ne!(new_hash, hash);
    assert_eq!(suite.key_of(&id).await, new_hash);
    assert!(
        suite.litellm.to_path("/key/regenerate").is_empty(),
        "no enterprise call without the licence"
    );
    let old = suite.proxy.chat(&raw).await;
    assert_eq!(old.status, 401, "the old key is refused: {old:?}");
    let new_info = suite.proxy.key_info(&new_hash).await;
    assert_eq!(
        micros(&new_info["spend"]),
        100_000,
        "the spend is carried over"
    );
    assert_eq!(micros(&new_info["max_budget"]), 1_100_000);
    assert_eq!(
        micros(&new_info["litellm_budget_table"]["soft_budget"]),
        800_000
    );
    spend_one_call(&suite, &new_raw, &new_hash, 0.15).await;
    suite.await_status_spend(&id, 150_000).await;

    // A key made in LiteLLM by hand is attached: it gets the tenant's limits.
    let (code, made) = suite
        .proxy
        .admin(
            Method::POST,
            "/key/generate",
            Some(json!({"key_alias": format!("{id}-by-hand"), "max_budget": 1.0, "budget_duration": "30d"})),
        )
        .await;
    assert_eq!(code, 200, "{made}");
    let attached_raw = made["key"].as_str().unwrap().to_owned();
    let attached = key_hash(&attached_raw);
    client
        .attach_tenant_key(pb::AttachTenantKeyRequest {
            tenant_id: id.clone(),
            key_hash: attached.clone(),
        })
        .await
        .unwrap();
    assert_eq!(suite.key_of(&id).await, attached);
    let info = suite.proxy.key_info(&attached).await;
    assert_eq!(micros(&info["max_budget"]), 1_100_000);
    assert_eq!(
        micros(&info["litellm_budget_table"]["soft_budget"]),
        800_000
    );
    spend_one_call(&suite, &attached_raw, &attached, 0.05).await;
    suite.await_status_spend(&id, 50_000).await;

    // A temporary increase of $0.50 for three seconds: (1.00 + 0.50) x 110 % / x 80 %.
    let expire = Utc::now() + chrono::Duration::seconds(3);
    client
        .grant_temporary_increase(pb::GrantTemporaryIncreaseRequest {
            tenant_id: id.clone(),
            amount_micros: 500_000,
            expire_time: Some(prost_types::Timestamp {
                seconds: expire.timestamp(),
                nanos: 0,
            }),
            reason: "launch week".into(),
        })
        .await
        .unwrap();
    let info = suite.proxy.key_info(&attached).await;
    assert_eq!(micros(&info["max_budget"]), 1_650_000);
    assert_eq!(
        micros(&info["litellm_budget_table"]["soft_budget"]),
        1_200_000
    );
    tokio::time::sleep(
        (expire - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(500),
    )
    .await;
    assert_eq!(suite.stack.evaluate().await.increases_expired, 1);
    let info = suite.proxy.key_info(&attached).await;
    assert_eq!(micros(&info["max_budget"]), 1_100_000);
    assert_eq!(
        micros(&info["litellm_budget_table"]["soft_budget"]),
        800_000
    );

    // Deleted: LiteLLM archives the key and refuses it.
    client
        .delete_tenant(pb::DeleteTenantRequest {
            tenant_id: id.clone(),
        })
        .await
        .unwrap();
    let info = suite.proxy.key_info(&attached).await;
    assert_eq!(info["status"], "deleted");
    assert_eq!(suite.proxy.chat(&attached_raw).await.status, 401);
    let actions = audit_actions(&suite, &id).await;
    for action in [
        "tenant_suspended",
        "tenant_resumed",
        "tenant_key_rotated",
        "tenant_key_attached",
        "temporary_increase_granted",
        "temporary_increase_expired",
        "tenant_deleted",
    ] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action} in {actions:?}"
        );
    }
    suite.stop().await;
}

/// LiteLLM's budget alerts (unsigned POSTs, once per event and key a day) reach budget-service's
/// receiver and make it evaluate the tenant at once: alerts are recorded with no evaluator
/// running. The events and bodies are the ones litellm-sim sends for the same calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litellm_budget_webhooks_prompt_an_evaluation() {
    let Some(proxy) = RealProxy::from_env() else {
        return;
    };
    let Some(target) = proxy.webhook.clone() else {
        eprintln!(
            "skipped: LITELLM_E2E_WEBHOOK_ADDR / _SECRET unset (the proxy sends no webhooks here)"
        );
        return;
    };
    let suite = Suite::start_with(StackOptions {
        webhook_receiver: Some(WebhookTarget {
            addr: "127.0.0.1:0".parse().unwrap(),
            secret: target.secret.clone(),
        }),
        ..StackOptions::default()
    })
    .await
    .unwrap();
    // The proxy POSTs to the address it was started with; the relay there records and
    // passes each POST to budget-service.
    let hooks = RecordingRelay::start(target.addr, &format!("http://{}", suite.stack.http_addr))
        .await
        .expect("the webhook address is free for this test");

    let id = tenant_id("hooks");
    let raw = suite
        .stack
        .create_tenant_with(&id, settings(200_000, 80, 110, "30d"))
        .await
        .virtual_key;
    let hash = key_hash(&raw);
    // One call at a time, each charged before the next (LiteLLM checks the spend it knows).
    let mut spend = 0.0;
    loop {
        let outcome = suite.proxy.chat(&raw).await;
        if !outcome.ok() {
            assert_eq!(outcome.error_type.as_deref(), Some("budget_exceeded"));
            break;
        }
        spend += 0.05;
        suite.proxy.await_spend(&hash, spend).await;
        assert!(spend < 0.5, "LiteLLM never blocked the key");
    }
    let ours = |hooks: &RecordingRelay| -> Vec<_> {
        hooks
            .to_path(&format!("/hooks/litellm/{}", target.secret))
            .into_iter()
            .filter(|e| e.request["token"] == json!(hash))
            .collect()
    };
    let received = eventually("LiteLLM's budget_crossed webhook", || async {
        let received = ours(&hooks);
        received
            .iter()
            .any(|e| e.request["event"] == "budget_crossed")
            .then_some(received)
    })
    .await;
    let events: Vec<&str> = received
        .iter()
        .map(|e| e.request["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"projected_limit_exceeded"), "{events:?}");
    for exchange in &received {
        assert_eq!(
            (exchange.status, &exchange.response["status"]),
            (200, &json!("evaluated")),
            "{exchange:?}"
        );
    }
    // The projection alert carries the soft budget in `max_budget`; the receiver copes.
    let projected = received
        .iter()
        .find(|e| e.request["event"] == "projected_limit_exceeded")
        .unwrap();
    assert_eq!(micros(&projected.request["max_budget"]), 160_000);
    assert!(projected.request["soft_budget"].is_null());

    // No evaluator runs in this stack: the alerts come from the webhooks alone (no
    // forecast alert: the key has no past day of spend for a rate).
    let mut types = suite.stack.alert_types(&id).await;
    types.sort_by_key(|t| *t as i32);
    assert_eq!(
        types,
        vec![
            pb::AlertType::Threshold,
            pb::AlertType::BudgetExceeded,
            pb::AlertType::Blocked,
        ]
    );

    // litellm-sim, given the same limits and calls, sends the same events with the same
    // fields.
    let sim = suite.stack.sim();
    sim.set_chat_cost(Some(0.05));
    let sim_hooks = RecordingRelay::start(
        "127.0.0.1:0".parse().unwrap(),
        &format!("http://{}", suite.stack.http_addr),
    )
    .await
    .unwrap();
    sim.set_webhook_url(Some(format!(
        "{}/hooks/litellm/{}",
        sim_hooks.base_url(),
        target.secret
    )));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let made: Value = client
        .post(format!("{}/key/generate", suite.stack.sim.base_url()))
        .bearer_auth(budget_e2e::SIM_MASTER_KEY)
        .json(&json!({"key_alias": "same-limits", "max_budget": 0.22, "soft_budget": 0.16, "budget_duration": "30d"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sim_raw = made["key"].as_str().unwrap().to_owned();
    loop {
        let answer = client
            .post(format!("{}/chat/completions", suite.stack.sim.base_url()))
            .bearer_auth(&sim_raw)
            .json(&json!({"model": "fake-gpt", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        if answer.status() != 200 {
            break;
        }
    }
    let sim_sent = sim.settled_webhooks(Duration::from_secs(10)).await;
    // The proxy sends each alert from a task of its own, so the order they arrive in is not
    // part of the contract; the set, and each body, is.
    let by_event = |bodies: Vec<&Value>| -> std::collections::BTreeMap<String, Value> {
        bodies
            .into_iter()
            .map(|b| (b["event"].as_str().unwrap().to_owned(), b.clone()))
            .collect()
    };
    let real = by_event(received.iter().map(|e| &e.request).collect());
    let simulated = by_event(sim_sent.iter().map(|w| &w.body).collect());
    assert_eq!(real.len(), received.len(), "each event once: {events:?}");
    assert_eq!(
        simulated.keys().collect::<Vec<_>>(),
        real.keys().collect::<Vec<_>>(),
        "litellm-sim sends the events the real proxy sends"
    );
    let fields = |body: &Value| -> Vec<String> {
        let mut keys: Vec<String> = body.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    for (event, real) in &real {
        let sim = &simulated[event];
        assert_eq!(fields(real), fields(sim), "{event}");
        for field in ["event_message", "event_group", "soft_budget"] {
            assert_eq!(real[field], sim[field], "{event}: {field}");
        }
        for field in ["max_budget", "spend"] {
            assert_eq!(
                micros(&real[field]),
                micros(&sim[field]),
                "{event}: {field}"
            );
        }
    }
    suite.stop().await;
}
