//! One tenant's data, or one bug, must never stop another tenant's calls or the fleet's
//! background work: extreme but valid settings evaluate cleanly; a panic in one RPC answers
//! INTERNAL; a panic in one tenant's evaluation skips that tenant; a background task that
//! panics is restarted; and health says NOT_SERVING while the leading evaluator cannot
//! complete a pass. Panics are injected through `budget_service::panic_points`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use budget_e2e::{Stack, StackOptions, config};
use budget_proto::v1 as pb;
use chrono::Days;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

/// Waits up to `limit` for `done`, polling.
async fn eventually(limit: Duration, mut done: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done().await
}

/// Gives the tenant's key `per_day` dollars of spend on each of the last 7 days and the sum
/// as its period spend.
async fn trickle(stack: &Stack, key: &str, per_day: f64) {
    let today = stack.sim().now().date_naive();
    for back in 1..=7 {
        let day = today.checked_sub_days(Days::new(back)).unwrap();
        stack.sim().set_daily_spend(key, day, per_day).unwrap();
    }
    stack.sim().set_spend(key, per_day * 7.0).unwrap();
}

#[tokio::test]
async fn extreme_settings_never_stop_the_tenants_status_or_the_fleet_evaluation() {
    let stack = Stack::start().await;
    // $10,000,000 with 3 micros a day, and $500 with 1 micro a day: run-out dates hundreds
    // of thousands of years away (chrono panicked on them).
    let whale = stack
        .create_tenant_with("whale", config(10_000_000, 80, 110, "30d"))
        .await;
    trickle(&stack, &whale.virtual_key, 0.000_003).await;
    let tiny = stack.create_tenant("tiny", 500).await;
    trickle(&stack, &tiny.virtual_key, 0.000_001).await;
    // And an ordinary tenant past its alert threshold.
    let acme = stack.create_tenant("acme", 100).await;
    stack.sim().set_spend(&acme.virtual_key, 85.0).unwrap();

    for (id, rate) in [("whale", 3), ("tiny", 1)] {
        let s = stack
            .status(id)
            .await
            .expect("an answer, not a reset stream");
        assert_eq!(s.daily_rate_micros, rate, "{id}");
        assert!(
            s.projected_exhaustion_time.is_none(),
            "{id}: {:?}",
            s.projected_exhaustion_time
        );
        assert_eq!(s.state(), pb::BudgetState::Ok);
    }
    let report = stack.evaluate().await;
    assert_eq!((report.evaluated, report.failed), (3, 0));
    assert_eq!(
        stack.alert_types("acme").await,
        vec![pb::AlertType::Threshold]
    );
    assert!(stack.alert_types("whale").await.is_empty());
    stack.stop().await;
}

#[tokio::test]
async fn a_panicking_rpc_answers_internal_is_counted_and_harms_no_other_call() {
    let stack = Stack::start_with(StackOptions {
        panic_points: vec![("status:acme", 1)],
        ..StackOptions::default()
    })
    .await;
    stack.create_tenant("acme", 500).await;
    stack.create_tenant("globex", 500).await;

    let error = stack.status("acme").await.unwrap_err();
    assert_eq!(error.code(), Code::Internal);
    assert_eq!(
        error.message(),
        "Internal error",
        "the panic's text stays inside"
    );
    stack.status("globex").await.expect("another tenant's call");
    stack
        .status("acme")
        .await
        .expect("the same call once the fault is gone");

    let method = "budget.v1.BudgetService/GetBudgetStatus";
    assert_eq!(
        stack.metric(&format!("budget_grpc_panics_total{{method=\"{method}\"}}")),
        1.0
    );
    assert_eq!(
        stack.metric(&format!(
            "budget_grpc_requests_total{{code=\"INTERNAL\",method=\"{method}\"}}"
        )),
        1.0
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_panic_in_one_tenants_evaluation_is_logged_counted_and_skipped() {
    let stack = Stack::start_with(StackOptions {
        panic_points: vec![("evaluate:evil", u32::MAX)],
        ..StackOptions::default()
    })
    .await;
    // "evil" sorts before "zeta": the pass must go on past it.
    for id in ["acme", "evil", "zeta"] {
        let created = stack.create_tenant(id, 100).await;
        stack.sim().set_spend(&created.virtual_key, 85.0).unwrap();
    }
    let report = stack.evaluate().await;
    assert_eq!((report.tenants, report.evaluated, report.failed), (3, 2, 1));
    for id in ["acme", "zeta"] {
        assert_eq!(
            stack.alert_types(id).await,
            vec![pb::AlertType::Threshold],
            "{id}"
        );
    }
    assert!(stack.alert_types("evil").await.is_empty());
    assert_eq!(
        stack.metric("budget_evaluation_tenant_failures_total{reason=\"panic\"}"),
        1.0
    );
    stack.stop().await;
}

#[tokio::test]
async fn every_background_task_that_panics_is_restarted_and_counted() {
    let tasks = ["evaluator", "deliverer", "cache_listener", "purger"];
    let stack = Stack::start_with(StackOptions {
        eval_interval_secs: 1,
        panic_points: vec![
            ("task:evaluator", 2),
            ("task:deliverer", 1),
            ("task:cache_listener", 1),
            ("task:purger", 1),
        ],
        ..StackOptions::default()
    })
    .await;
    let restarts = |task: &str| {
        stack.metric(&format!(
            "budget_background_task_restarts_total{{task=\"{task}\"}}"
        ))
    };
    assert!(
        eventually(Duration::from_secs(10), async || {
            restarts("evaluator") == 2.0 && tasks[1..].iter().all(|task| restarts(task) == 1.0)
        })
        .await,
        "{:?}",
        tasks.map(restarts)
    );
    // The restarted evaluator works: it records a new alert by itself.
    let created = stack.create_tenant("acme", 100).await;
    stack.sim().set_spend(&created.virtual_key, 85.0).unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || {
            !stack.alert_types("acme").await.is_empty()
        })
        .await
    );
    // The restarted cache listener works: a change made behind this replica's back (a
    // pg_notify on `budget_cache`, as another replica sends) drops the cached status.
    let before = stack.status("acme").await.unwrap();
    stack.sim().set_spend(&created.virtual_key, 90.0).unwrap();
    sqlx::query("SELECT pg_notify('budget_cache', 'acme')")
        .execute(stack.store.pool())
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), async || {
            stack.status("acme").await.unwrap().spend_micros != before.spend_micros
        })
        .await
    );
    stack.stop().await;
}

#[tokio::test]
async fn health_is_not_serving_while_the_leading_evaluator_completes_no_pass() {
    let stack = Stack::start_with(StackOptions {
        eval_interval_secs: 1,
        ..StackOptions::default()
    })
    .await;
    let health = async |service: &str| stack.health(service).await;
    assert_eq!(
        health("budget.v1.BudgetService").await,
        ServingStatus::Serving
    );

    // Every pass now panics before it starts: the task is restarted again and again, and
    // after 3 intervals without a completed pass this leading replica is NOT_SERVING.
    stack.budgets.panic_points().arm("evaluator", u32::MAX);
    let since = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), async || {
            health("budget.v1.BudgetService").await == ServingStatus::NotServing
        })
        .await
    );
    assert!(
        since.elapsed() >= Duration::from_secs(2),
        "not before ~3 intervals"
    );
    assert_eq!(health("").await, ServingStatus::NotServing);
    assert!(stack.metric("budget_background_task_restarts_total{task=\"evaluator\"}") >= 2.0);

    // Fixed: the next completed pass makes it SERVING again.
    stack.budgets.panic_points().disarm_all();
    assert!(
        eventually(Duration::from_secs(20), async || {
            health("budget.v1.BudgetService").await == ServingStatus::Serving
        })
        .await
    );
    stack.stop().await;
}
