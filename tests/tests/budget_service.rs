//! budget-service over a real tonic channel, a fresh PostgreSQL database per test and
//! litellm-sim: each RPC's data, the cache, updates in both stores, validation and faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use budget_e2e::{Stack, StackOptions, config, field_violations, key_hash};
use budget_proto::v1 as pb;
use budget_service::domain::AlertKind;
use budget_service::domain::TenantId;
use budget_service::store::NewAlert;
use chrono::{Datelike, Days, TimeZone, Utc};
use litellm_sim::{Fault, FaultRule};
use tonic::Code;

const USD: i64 = 1_000_000;

async fn audit(stack: &Stack, id: &str) -> Vec<pb::AuditEvent> {
    stack
        .client()
        .list_audit_events(pb::ListAuditEventsRequest {
            tenant_id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events
}

/// LiteLLM's "30d" reset for `now`: the 1st of the next month, 00:00 UTC.
fn first_of_next_month(now: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).unwrap()
}

/// The days where period arithmetic goes wrong: the 1st, the 2nd, mid-month, the 28th to the
/// 31st (February of a common and of a leap year), and the last minutes of a year.
const CALENDAR: [&str; 9] = [
    "2027-01-01T00:00:00Z",
    "2027-03-02T10:00:00Z",
    "2027-04-15T12:00:00Z",
    "2027-02-28T23:59:00Z",
    "2028-02-29T06:00:00Z",
    "2027-04-30T18:00:00Z",
    "2027-05-31T12:00:00Z",
    "2027-08-31T23:00:00Z",
    "2027-12-31T23:50:00Z",
];

#[tokio::test]
async fn create_tenant_makes_a_litellm_key_with_the_grace_mapping() {
    let stack = Stack::start().await;
    let created = stack.create_tenant("acme", 500).await;
    let tenant = created.tenant.unwrap();
    assert_eq!(tenant.tenant_id, "acme");
    assert_eq!(tenant.key_alias, "tenant-acme");
    assert!(created.virtual_key.starts_with("sk-"));

    let key = stack
        .sim()
        .key(&created.virtual_key)
        .expect("key exists in LiteLLM");
    assert_eq!(
        key.max_budget,
        Some(550.0),
        "key max_budget is the block amount"
    );
    assert_eq!(
        key.soft_budget,
        Some(400.0),
        "soft budget is the alert amount"
    );
    assert_eq!(key.budget_duration.as_deref(), Some("30d"));
    assert_eq!(key.key_alias.as_deref(), Some("tenant-acme"));
    assert_eq!(key.metadata["tenant_id"], "acme");

    // Only the hash is stored.
    let stored: Vec<(String,)> = sqlx::query_as("SELECT key_hash FROM tenants")
        .fetch_all(stack.store.pool())
        .await
        .unwrap();
    assert_eq!(stored, vec![(key_hash(&created.virtual_key),)]);
    let raw_anywhere: (i64,) =
        sqlx::query_as("SELECT count(*) FROM tenants t WHERE t::text LIKE '%' || $1 || '%'")
            .bind(&created.virtual_key)
            .fetch_one(stack.store.pool())
            .await
            .unwrap();
    assert_eq!(raw_anywhere.0, 0);

    // The reset date LiteLLM computed is remembered for GetBudgetConfig.
    let cfg = stack.config("acme").await.unwrap();
    assert_eq!(
        cfg.reset_time.unwrap().seconds,
        first_of_next_month(stack.sim().now()).timestamp()
    );
    assert_eq!(cfg.max_budget_micros, 500 * USD);
    assert!(!cfg.etag.is_empty());

    let dup = stack
        .client()
        .create_tenant(pb::CreateTenantRequest {
            tenant_id: "acme".into(),
            display_name: String::new(),
            config: Some(config(10, 80, 110, "30d")),
        })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);

    let bad = stack
        .client()
        .create_tenant(pb::CreateTenantRequest {
            tenant_id: "Not Valid".into(),
            display_name: String::new(),
            config: Some(config(0, 80, 110, "30d")),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&bad).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, vec!["tenant_id", "config.max_budget_micros"]);
    stack.stop().await;
}

#[tokio::test]
async fn status_reports_spend_limits_state_reset_and_forecast_on_any_day() {
    for at in CALENDAR {
        status_reports_spend_limits_state_reset_and_forecast(at.parse().unwrap()).await;
    }
}

async fn status_reports_spend_limits_state_reset_and_forecast(at: chrono::DateTime<Utc>) {
    let stack = Stack::start_with(StackOptions {
        start_at: Some(at),
        ..StackOptions::default()
    })
    .await;
    let created = stack.create_tenant("acme", 500).await;
    let key = created.virtual_key;
    stack.sim().set_spend(&key, 210.0).unwrap();
    let today = stack.sim().now().date_naive();
    for back in 1..=7u64 {
        stack
            .sim()
            .set_daily_spend(&key, today.checked_sub_days(Days::new(back)).unwrap(), 20.0)
            .unwrap();
    }

    let s = stack.status("acme").await.unwrap();
    assert_eq!(s.tenant_id, "acme");
    assert_eq!(s.spend_micros, 210 * USD);
    assert_eq!(s.max_budget_micros, 500 * USD);
    assert!((s.percent_used - 42.0).abs() < 1e-9);
    assert_eq!(s.state(), pb::BudgetState::Ok);
    assert_eq!(s.block_at_micros, 550 * USD);
    assert_eq!(s.alert_at_micros, 400 * USD);
    assert_eq!(
        (s.alert_threshold_percent, s.grace_threshold_percent),
        (80, 110)
    );
    assert_eq!(s.budget_duration, "30d");
    let reset = first_of_next_month(at);
    assert_eq!(s.reset_time.unwrap().seconds, reset.timestamp(), "{at}");
    let expected_days = ((reset - stack.sim().now()).num_seconds() + 86_399) / 86_400;
    assert_eq!(i64::from(s.days_until_reset), expected_days, "{at}");
    let fetched = s.fetch_time.unwrap().seconds;
    assert!((stack.sim().now().timestamp() - fetched).abs() < 5, "{at}");
    // $20/day over the days left until the reset.
    assert_eq!(s.daily_rate_micros, 20 * USD, "{at}");
    let days_left = (reset - stack.sim().now()).num_seconds() as f64 / 86_400.0;
    let projected = 210.0 * USD as f64 + 20.0 * USD as f64 * days_left;
    assert!(
        (s.projected_spend_micros as f64 - projected).abs() < 0.01 * USD as f64,
        "{at}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn each_state_follows_the_tenants_own_thresholds() {
    let stack = Stack::start().await;
    let cases = [
        ("ok", 0.0, pb::BudgetState::Ok),
        ("warn", 42.0, pb::BudgetState::Warning), // custom alert 70 % of $60
        ("grace", 60.0, pb::BudgetState::Grace),
        ("block", 72.0, pb::BudgetState::Blocked), // custom grace 120 % of $60
    ];
    for (id, spend, want) in cases {
        let created = stack
            .create_tenant_with(id, config(60, 70, 120, "30d"))
            .await;
        stack.sim().set_spend(&created.virtual_key, spend).unwrap();
        assert_eq!(stack.status(id).await.unwrap().state(), want, "{id}");
    }
    stack.stop().await;
}

#[tokio::test]
async fn status_is_cached_and_concurrent_misses_make_one_litellm_call() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 500).await;
    stack.create_tenant("globex", 500).await;
    stack.sim().reset_calls();

    stack.status("acme").await.unwrap();
    stack.status("acme").await.unwrap();
    assert_eq!(
        stack.sim().calls("/key/info"),
        1,
        "a second call within the TTL makes no LiteLLM call"
    );
    assert_eq!(stack.sim().calls("/user/daily/activity/aggregated"), 1);

    stack.sim().reset_calls();
    let calls = (0..100).map(|_| stack.status("globex"));
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        stack.sim().calls("/key/info"),
        1,
        "100 concurrent misses make one LiteLLM call"
    );
    stack.stop().await;
}

#[tokio::test]
async fn cached_status_expires_after_the_ttl() {
    let stack = Stack::start_with(StackOptions {
        cache_ttl_secs: 1,
        ..Default::default()
    })
    .await;
    let created = stack.create_tenant("acme", 100).await;
    assert_eq!(stack.status("acme").await.unwrap().spend_micros, 0);
    stack.sim().set_spend(&created.virtual_key, 30.0).unwrap();
    assert_eq!(
        stack.status("acme").await.unwrap().spend_micros,
        0,
        "still cached"
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(stack.status("acme").await.unwrap().spend_micros, 30 * USD);
    stack.stop().await;
}

#[tokio::test]
async fn update_writes_litellm_database_and_audit_and_clears_the_cache() {
    let stack = Stack::start().await;
    let created = stack.create_tenant("acme", 500).await;
    stack.sim().set_spend(&created.virtual_key, 450.0).unwrap();
    assert_eq!(
        stack.status("acme").await.unwrap().state(),
        pb::BudgetState::Warning
    );
    let before = stack.config("acme").await.unwrap();

    let saved = stack
        .update_config("acme", config(1000, 75, 120, "30d"), &before.etag)
        .await
        .unwrap();
    assert_eq!(saved.max_budget_micros, 1000 * USD);
    assert_eq!(
        (saved.alert_threshold_percent, saved.grace_threshold_percent),
        (75, 120)
    );
    assert_ne!(saved.etag, before.etag);

    let key = stack.sim().key(&created.virtual_key).unwrap();
    assert_eq!(key.max_budget, Some(1200.0), "block amount = $1000 x 120 %");
    assert_eq!(key.soft_budget, Some(750.0), "alert amount = $1000 x 75 %");
    assert_eq!(key.spend, 450.0, "spend untouched");

    assert_eq!(
        stack.config("acme").await.unwrap().max_budget_micros,
        1000 * USD
    );
    let s = stack.status("acme").await.unwrap();
    assert_eq!(
        s.max_budget_micros,
        1000 * USD,
        "cache cleared by the update"
    );
    assert_eq!(s.state(), pb::BudgetState::Ok);

    let events = audit(&stack, "acme").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].action, "budget_config_updated");
    assert_eq!(
        events[0].actor, "bootstrap",
        "the token's name is the actor"
    );
    assert_eq!(
        events[0].old_config.as_ref().unwrap().max_budget_micros,
        500 * USD
    );
    assert_eq!(
        events[0].new_config.as_ref().unwrap().max_budget_micros,
        1000 * USD
    );
    assert_eq!(events[1].action, "tenant_created");
    assert!(events[1].old_config.is_none());
    stack.stop().await;
}

#[tokio::test]
async fn budget_duration_is_sent_to_litellm_only_when_it_changes_on_any_day() {
    for at in CALENDAR {
        budget_duration_is_sent_to_litellm_only_when_it_changes(at.parse().unwrap()).await;
    }
}

async fn budget_duration_is_sent_to_litellm_only_when_it_changes(at: chrono::DateTime<Utc>) {
    let stack = Stack::start_with(StackOptions {
        start_at: Some(at),
        ..StackOptions::default()
    })
    .await;
    let created = stack
        .create_tenant_with("acme", config(500, 80, 110, "60d"))
        .await;
    let first_reset = stack
        .sim()
        .key(&created.virtual_key)
        .unwrap()
        .budget_reset_at;
    let today = at.date_naive();
    assert_eq!(
        first_reset.unwrap(),
        (today + Days::new(60))
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
    );

    // A day later LiteLLM would move the reset by a day if budget_duration were resent.
    stack.sim().advance_clock(chrono::Duration::days(1));
    stack
        .update_config("acme", config(700, 80, 110, "60d"), "")
        .await
        .unwrap();
    assert_eq!(
        stack
            .sim()
            .key(&created.virtual_key)
            .unwrap()
            .budget_reset_at,
        first_reset
    );

    stack
        .update_config("acme", config(700, 80, 110, "90d"), "")
        .await
        .unwrap();
    let moved = stack
        .sim()
        .key(&created.virtual_key)
        .unwrap()
        .budget_reset_at
        .unwrap();
    assert_eq!(
        moved,
        (today + Days::new(1 + 90))
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
    );
    assert_eq!(
        stack
            .config("acme")
            .await
            .unwrap()
            .reset_time
            .unwrap()
            .seconds,
        moved.timestamp()
    );
    stack.stop().await;
}

#[tokio::test]
async fn invalid_updates_name_each_field_and_change_nothing() {
    let stack = Stack::start().await;
    let created = stack.create_tenant("acme", 500).await;
    let before_key = stack.sim().key(&created.virtual_key).unwrap();
    let before = stack.config("acme").await.unwrap();
    let cases = [
        (
            config(0, 80, 110, "30d"),
            "config.max_budget_micros",
            "Max budget must be greater than $0",
        ),
        (
            config(-5, 80, 110, "30d"),
            "config.max_budget_micros",
            "Max budget must be greater than $0",
        ),
        (
            config(10_000_001, 80, 110, "30d"),
            "config.max_budget_micros",
            "Max budget must be at most $10,000,000",
        ),
        (
            config(500, 49, 110, "30d"),
            "config.alert_threshold_percent",
            "Alert threshold must be between 50% and 100%",
        ),
        (
            config(500, 101, 110, "30d"),
            "config.alert_threshold_percent",
            "Alert threshold must be between 50% and 100%",
        ),
        (
            config(500, 80, 99, "30d"),
            "config.grace_threshold_percent",
            "Grace threshold must be between 100% and 150%",
        ),
        (
            config(500, 80, 151, "30d"),
            "config.grace_threshold_percent",
            "Grace threshold must be between 100% and 150%",
        ),
        (
            config(500, 80, 110, "45d"),
            "config.budget_duration",
            "Budget period must be one of 30d, 60d, 90d",
        ),
    ];
    for (cfg, field, description) in cases {
        let err = stack.update_config("acme", cfg, "").await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(
            field_violations(&err),
            vec![(field.to_owned(), description.to_owned())]
        );
    }
    let all_bad = stack
        .update_config("acme", pb::BudgetConfig::default(), "")
        .await
        .unwrap_err();
    assert_eq!(field_violations(&all_bad).len(), 4);
    let missing = stack
        .client()
        .update_budget_config(pb::UpdateBudgetConfigRequest {
            tenant_id: "acme".into(),
            config: None,
            etag: String::new(),
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);

    assert_eq!(stack.config("acme").await.unwrap(), before);
    assert_eq!(stack.sim().key(&created.virtual_key).unwrap(), before_key);
    assert_eq!(audit(&stack, "acme").await.len(), 1);
    let unknown = stack
        .update_config("nobody", config(500, 80, 110, "30d"), "")
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    stack.stop().await;
}

#[tokio::test]
async fn stale_etag_is_aborted_and_changes_nothing() {
    let stack = Stack::start().await;
    let created = stack.create_tenant("acme", 500).await;
    let first = stack.config("acme").await.unwrap();
    stack
        .update_config("acme", config(600, 80, 110, "30d"), &first.etag)
        .await
        .unwrap();
    let err = stack
        .update_config("acme", config(900, 80, 110, "30d"), &first.etag)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(
        stack.config("acme").await.unwrap().max_budget_micros,
        600 * USD
    );
    assert_eq!(
        stack.sim().key(&created.virtual_key).unwrap().max_budget,
        Some(660.0)
    );
    stack.stop().await;
}

#[tokio::test]
async fn litellm_failure_during_update_leaves_everything_unchanged() {
    let stack = Stack::start_with(StackOptions {
        litellm_timeout_secs: 1,
        ..Default::default()
    })
    .await;
    let created = stack.create_tenant("acme", 500).await;
    let before = stack.config("acme").await.unwrap();
    for fault in [
        Fault::Status500,
        Fault::Hang,
        Fault::MalformedJson,
        Fault::ConnectionReset,
    ] {
        stack
            .sim()
            .inject(FaultRule::new("/key/update", fault).times(1));
        let err = stack
            .update_config("acme", config(900, 80, 110, "30d"), &before.etag)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable);
        assert_eq!(err.message(), "LiteLLM unavailable; nothing was saved");
        assert_eq!(stack.config("acme").await.unwrap(), before);
        assert_eq!(audit(&stack, "acme").await.len(), 1);
    }
    // A failure answered after LiteLLM applied nothing must not leave the key changed either.
    assert_eq!(
        stack.sim().key(&created.virtual_key).unwrap().max_budget,
        Some(550.0)
    );
    // And the next attempt works.
    stack
        .update_config("acme", config(900, 80, 110, "30d"), &before.etag)
        .await
        .unwrap();
    stack.stop().await;
}

#[tokio::test]
async fn litellm_down_gives_budget_data_unavailable_and_errors_are_not_cached() {
    let stack = Stack::start_with(StackOptions {
        litellm_timeout_secs: 1,
        ..Default::default()
    })
    .await;
    stack.create_tenant("acme", 500).await;
    for fault in [
        Fault::Status500,
        Fault::Hang,
        Fault::TruncatedJson,
        Fault::MalformedJson,
        Fault::ConnectionReset,
    ] {
        stack.sim().inject(FaultRule::new("/key/info", fault));
        let err = stack.status("acme").await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable);
        assert_eq!(err.message(), "Budget data unavailable");
        stack.sim().clear_faults();
    }
    assert!(
        stack.status("acme").await.is_ok(),
        "the error was not cached"
    );
    // Settings still read while LiteLLM is down.
    stack.sim().inject(FaultRule::new("/", Fault::Status500));
    assert_eq!(
        stack.config("acme").await.unwrap().max_budget_micros,
        500 * USD
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_deleted_or_unknown_key_is_a_failed_precondition() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 500).await;
    stack.create_tenant("globex", 500).await;
    let http = reqwest::Client::new();
    let hash = stack
        .store
        .tenant_config(&TenantId::parse("acme").unwrap())
        .await
        .unwrap()
        .unwrap()
        .0
        .key_hash;
    http.post(format!("{}/key/delete", stack.sim.base_url()))
        .bearer_auth(budget_e2e::SIM_MASTER_KEY)
        .json(&serde_json::json!({"keys": [hash]}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let err = stack.status("acme").await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("deleted"), "{}", err.message());

    stack
        .sim()
        .inject(FaultRule::new("/key/info", Fault::NotFound));
    let err = stack.status("globex").await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("unknown to LiteLLM"),
        "{}",
        err.message()
    );

    let err = stack.status("nobody").await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = stack.status("NOT VALID").await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    stack.stop().await;
}

#[tokio::test]
async fn alerts_page_newest_first_without_duplicates_or_gaps() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 500).await;
    stack.create_tenant("globex", 500).await;
    let id = TenantId::parse("acme").unwrap();
    let start = Utc::now() - chrono::Duration::days(30);
    for i in 0..25i64 {
        let alert = NewAlert {
            tenant_id: id.clone(),
            kind: AlertKind::Threshold,
            spend_micros: i * USD,
            max_budget_micros: 500 * USD,
            percent: i as f64,
            threshold_percent: 80,
            message: format!("alert {i}"),
            dedupe_key: format!("acme:{i}"),
            // Two alerts per timestamp: the id breaks the tie.
            created_at: Some(start + chrono::Duration::hours(i / 2)),
        };
        assert!(stack.store.insert_alert(&alert).await.unwrap().is_some());
    }
    let dup = NewAlert {
        dedupe_key: "acme:3".into(),
        ..sample_alert(&id)
    };
    assert!(
        stack.store.insert_alert(&dup).await.unwrap().is_none(),
        "dedupe key is unique"
    );

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = stack
            .client()
            .list_alerts(pb::ListAlertsRequest {
                tenant_id: "acme".into(),
                page_size: 0,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.total_size, 25);
        assert!(page.alerts.len() <= 10, "default page size is 10");
        seen.extend(page.alerts.iter().map(|a| a.message.clone()));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    let want: Vec<String> = (0..25).rev().map(|i| format!("alert {i}")).collect();
    assert_eq!(seen, want);

    let other = stack
        .client()
        .list_alerts(pb::ListAlertsRequest {
            tenant_id: "globex".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(other.alerts.is_empty());
    assert_eq!(other.total_size, 0);
    let unknown = stack
        .client()
        .list_alerts(pb::ListAlertsRequest {
            tenant_id: "nobody".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    let bad = stack
        .client()
        .list_alerts(pb::ListAlertsRequest {
            tenant_id: "acme".into(),
            page_size: 10,
            page_token: "garbage".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(field_violations(&bad)[0].0, "page_token");
    let big = stack
        .client()
        .list_alerts(pb::ListAlertsRequest {
            tenant_id: "acme".into(),
            page_size: 1000,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        big.alerts.len(),
        25,
        "page size is capped at 100, not refused"
    );
    stack.stop().await;
}

fn sample_alert(id: &TenantId) -> NewAlert {
    NewAlert {
        tenant_id: id.clone(),
        kind: AlertKind::BudgetExceeded,
        spend_micros: 1,
        max_budget_micros: 1,
        percent: 100.0,
        threshold_percent: 100,
        message: "m".into(),
        dedupe_key: "k".into(),
        created_at: None,
    }
}

#[tokio::test]
async fn spend_history_is_zero_filled_and_counts_days_with_data() {
    let stack = Stack::start().await;
    let created = stack.create_tenant("acme", 500).await;
    let today = Utc::now().date_naive();
    stack
        .sim()
        .set_daily_spend(
            &created.virtual_key,
            today.checked_sub_days(Days::new(3)).unwrap(),
            12.5,
        )
        .unwrap();
    stack
        .sim()
        .set_daily_spend(&created.virtual_key, today, 1.25)
        .unwrap();

    let history = stack
        .client()
        .get_spend_history(pb::GetSpendHistoryRequest {
            tenant_id: "acme".into(),
            days: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.days.len(), 30);
    assert_eq!(
        history.days.last().unwrap().date,
        today.format("%Y-%m-%d").to_string()
    );
    assert_eq!(history.days.last().unwrap().spend_micros, 1_250_000);
    assert_eq!(history.days[26].spend_micros, 12_500_000);
    assert_eq!(
        history.days.iter().filter(|d| d.spend_micros == 0).count(),
        28
    );
    assert_eq!(history.days_with_data, 4);
    let first = today
        .checked_sub_days(Days::new(29))
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(history.days[0].date, first);

    for days in [6, 91, -1] {
        let err = stack
            .client()
            .get_spend_history(pb::GetSpendHistoryRequest {
                tenant_id: "acme".into(),
                days,
            })
            .await
            .unwrap_err();
        assert_eq!(
            field_violations(&err),
            vec![(
                "days".to_owned(),
                "Days must be between 7 and 90".to_owned()
            )]
        );
    }
    let week = stack
        .client()
        .get_spend_history(pb::GetSpendHistoryRequest {
            tenant_id: "acme".into(),
            days: 7,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(week.days.len(), 7);
    stack.stop().await;
}

#[tokio::test]
async fn list_tenants_filters_pages_and_summarises() {
    let stack = Stack::start().await;
    for id in ["acme", "acme-eu", "globex", "initech", "umbrella"] {
        let created = stack.create_tenant(id, 100).await;
        stack.sim().set_spend(&created.virtual_key, 50.0).unwrap();
    }
    stack.evaluate().await;
    let list = |filter: &str, page_size: i32, token: String| {
        let mut client = stack.client();
        let filter = filter.to_owned();
        async move {
            client
                .list_tenants(pb::ListTenantsRequest {
                    page_size,
                    page_token: token,
                    filter,
                    order_by: String::new(),
                    include_deleted: false,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let all = list("", 0, String::new()).await;
    assert_eq!(all.tenants.len(), 5);
    let acme = &all.tenants[0];
    assert_eq!(
        (acme.tenant_id.as_str(), acme.spend_micros, acme.state()),
        ("acme", 50 * USD, pb::BudgetState::Ok)
    );
    assert!(acme.status_available);
    assert!((acme.percent_used - 50.0).abs() < 1e-9);

    let ids = |r: &pb::ListTenantsResponse| {
        r.tenants
            .iter()
            .map(|t| t.tenant_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&list("ACME", 0, String::new()).await),
        vec!["acme", "acme-eu"]
    );
    assert_eq!(ids(&list("Glob", 0, String::new()).await), vec!["globex"]);
    assert_eq!(
        ids(&list("%", 0, String::new()).await),
        Vec::<String>::new()
    );

    let first = list("", 2, String::new()).await;
    let second = list("", 2, first.next_page_token.clone()).await;
    let third = list("", 2, second.next_page_token.clone()).await;
    assert_eq!(
        [ids(&first), ids(&second), ids(&third)].concat(),
        vec!["acme", "acme-eu", "globex", "initech", "umbrella"]
    );
    assert!(third.next_page_token.is_empty());

    // A tenant whose spend cannot be read is listed, marked unavailable.
    stack
        .sim()
        .inject(FaultRule::new("/key/info", Fault::Status500));
    let created = stack.create_tenant("zeta", 100).await;
    assert!(!created.virtual_key.is_empty());
    let z = list("zeta", 0, String::new()).await;
    assert!(!z.tenants[0].status_available);
    assert_eq!(z.tenants[0].state(), pb::BudgetState::Unspecified);
    stack.stop().await;
}

#[tokio::test]
async fn create_fails_cleanly_when_litellm_fails() {
    let stack = Stack::start().await;
    stack
        .sim()
        .inject(FaultRule::new("/key/generate", Fault::Status500));
    let err = stack
        .client()
        .create_tenant(pb::CreateTenantRequest {
            tenant_id: "acme".into(),
            display_name: String::new(),
            config: Some(config(100, 80, 110, "30d")),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(err.message(), "LiteLLM unavailable; nothing was saved");
    let status = stack.status("acme").await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    stack.stop().await;
}

#[tokio::test]
async fn health_and_reflection_list_every_rpc() {
    use tokio_stream::StreamExt;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let stack = Stack::start().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", stack.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    assert_eq!(
        stack.health("budget.v1.BudgetService").await,
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "budget.v1.BudgetService".into(),
        )),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.next().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(files)) = response.message_response else {
        panic!("no descriptor: {response:?}")
    };
    let methods: Vec<String> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| {
            <prost_types::FileDescriptorProto as prost::Message>::decode(bytes.as_slice()).unwrap()
        })
        .flat_map(|file| file.service)
        .flat_map(|service| service.method)
        .map(|method| method.name.unwrap_or_default())
        .collect();
    for rpc in [
        "GetBudgetStatus",
        "GetBudgetConfig",
        "UpdateBudgetConfig",
        "ListAlerts",
        "GetSpendHistory",
        "ListTenants",
        "CreateTenant",
        "ListAuditEvents",
    ] {
        assert!(
            methods.iter().any(|m| m == rpc),
            "{rpc} missing from reflection: {methods:?}"
        );
    }
    stack.stop().await;
}

#[tokio::test]
async fn a_database_failure_after_litellm_accepted_puts_litellm_back() {
    let stack = Stack::start().await;
    let created = stack.create_tenant("acme", 500).await;
    let before = stack.config("acme").await.unwrap();
    // Make our own write fail after LiteLLM has accepted the new values.
    let pool = stack.store.pool();
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'audit refused by the test'; END $$; \
         CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit();",
    )
    .execute(pool)
    .await
    .unwrap();
    stack.sim().reset_calls();
    let err = stack
        .update_config("acme", config(900, 70, 130, "30d"), &before.etag)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert_eq!(
        err.message(),
        "The budget could not be saved; nothing was changed"
    );
    assert!(
        !err.message().contains("audit refused"),
        "no raw SQL error text reaches callers"
    );
    assert_eq!(stack.sim().calls("/key/update"), 2, "pushed, then put back");
    let key = stack.sim().key(&created.virtual_key).unwrap();
    assert_eq!(
        (key.max_budget, key.soft_budget),
        (Some(550.0), Some(400.0))
    );
    assert_eq!(stack.config("acme").await.unwrap(), before);
    stack.stop().await;
}

#[tokio::test]
async fn shutdown_reports_not_serving_and_lets_in_flight_calls_finish() {
    let mut stack = Stack::start().await;
    stack.create_tenant("acme", 500).await;
    stack.sim().inject(FaultRule::new(
        "/key/info",
        Fault::Slow(Duration::from_millis(1200)),
    ));
    let mut client = stack.client();
    let in_flight = tokio::spawn(async move {
        client
            .get_budget_status(pb::GetBudgetStatusRequest {
                tenant_id: "acme".into(),
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stack.begin_shutdown();
    let answer = in_flight.await.unwrap();
    assert!(answer.is_ok(), "the in-flight call finished: {answer:?}");
    // Once drained, the server is gone: new connections are refused.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh = tonic::transport::Channel::from_shared(format!("http://{}", stack.addr))
        .unwrap()
        .connect()
        .await;
    assert!(fresh.is_err(), "the listener is closed after shutdown");
    stack.stop().await;
}

/// A restart or cache flush meets a storm: 10,000 concurrent GetBudgetStatus calls over 20
/// tenants on one connection, with a token never used before and every cache empty. Every
/// call is answered (no connection reset by the server's HTTP/2 flood protection, no pool
/// exhaustion) and LiteLLM sees exactly one `/key/info` per tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_storm_of_concurrent_status_calls_is_all_answered_with_one_fill_per_tenant() {
    let stack = Stack::start_with(StackOptions {
        cache_ttl_secs: 3600,
        ..StackOptions::default()
    })
    .await;
    let tenants: Vec<String> = (0..20).map(|i| format!("storm-{i:02}")).collect();
    for tenant in &tenants {
        stack.create_tenant(tenant, 100).await;
    }
    let token = stack
        .token(
            "storm-reader",
            budget_service::domain::auth::Role::PlatformAdmin,
            None,
        )
        .await;
    stack.budgets.forget_all_statuses();
    stack.sim().reset_calls();
    let client = stack.client_with(Some(&token));
    let calls: Vec<_> = (0..10_000)
        .map(|i| {
            let mut client = client.clone();
            let tenant_id = tenants[i % tenants.len()].clone();
            tokio::spawn(async move {
                client
                    .get_budget_status(pb::GetBudgetStatusRequest { tenant_id })
                    .await
                    .map(|_| ())
                    .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
            })
        })
        .collect();
    let mut failures = std::collections::BTreeMap::<String, usize>::new();
    for call in calls {
        if let Err(what) = call.await.unwrap() {
            *failures.entry(what).or_default() += 1;
        }
    }
    assert!(failures.is_empty(), "failed calls: {failures:?}");
    assert_eq!(
        stack.sim().calls("/key/info"),
        20,
        "one LiteLLM read per tenant"
    );
    stack.stop().await;
}
