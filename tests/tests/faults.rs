//! The fault matrix: every LiteLLM fault the sim can inject during each operation that calls
//! LiteLLM, and PostgreSQL losing a connection mid-transaction or becoming unreachable.
//!
//! Each cell checks what the caller sees (code and message, as `docs/RELIABILITY.md` lists),
//! that our database and LiteLLM agree afterwards (at once, or after one evaluator pass),
//! that the tenant's alert is recorded exactly once after the fault clears, and that the
//! same call succeeds again without a restart. Each test runs one operation across all
//! faults with a fresh tenant per fault; failures name the cell.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use budget_e2e::{Stack, StackOptions, config};
use budget_proto::v1 as pb;
use budget_service::error::BudgetError;
use litellm_sim::{Fault, FaultRule};
use tonic::Code;

/// The LiteLLM timeout of the stacks under test.
const TIMEOUT: Duration = Duration::from_secs(1);
const USD: i64 = 1_000_000;

/// What the caller should see.
#[derive(Clone, Debug)]
enum Expect {
    Ok,
    Fails(Code, String),
}

/// The eight LiteLLM faults, by name.
fn litellm_faults() -> Vec<(&'static str, Fault)> {
    vec![
        ("HTTP 500", Fault::Status500),
        ("no answer (timeout)", Fault::Hang),
        ("connection reset", Fault::ConnectionReset),
        ("malformed JSON", Fault::MalformedJson),
        ("truncated JSON", Fault::TruncatedJson),
        ("404 for the key", Fault::NotFound),
        (
            "slow, just under the timeout",
            Fault::Slow(TIMEOUT.mul_f64(0.7)),
        ),
        (
            "slow, just over the timeout",
            Fault::Slow(TIMEOUT.mul_f64(1.3)),
        ),
    ]
}

/// How long a fault's effects may still land after the caller got its answer: a slow
/// answer LiteLLM finishes after we gave up.
fn late_effects(fault: &Fault) -> Duration {
    match fault {
        Fault::Slow(delay) => delay.saturating_sub(TIMEOUT) + Duration::from_millis(300),
        _ => Duration::ZERO,
    }
}

async fn fault_stack() -> Stack {
    Stack::start_with(StackOptions {
        litellm_timeout_secs: TIMEOUT.as_secs(),
        ..Default::default()
    })
    .await
}

fn check(cell: &str, expect: &Expect, got: Result<(), tonic::Status>) {
    match (expect, got) {
        (Expect::Ok, Ok(())) => {}
        (Expect::Ok, Err(status)) => panic!("[{cell}] expected success, got {status:?}"),
        (Expect::Fails(code, _), Ok(())) => panic!("[{cell}] expected {code:?}, got success"),
        (Expect::Fails(code, message), Err(status)) => {
            assert_eq!(
                (status.code(), status.message()),
                (*code, message.as_str()),
                "[{cell}] caller's status"
            );
        }
    }
}

fn data_unavailable() -> Expect {
    Expect::Fails(Code::Unavailable, "Budget data unavailable".into())
}

fn write_failed() -> Expect {
    Expect::Fails(
        Code::Unavailable,
        "LiteLLM unavailable; nothing was saved".into(),
    )
}

fn key_unknown(id: &str) -> Expect {
    Expect::Fails(
        Code::FailedPrecondition,
        format!("The LiteLLM key of tenant {id} is unknown to LiteLLM"),
    )
}

async fn get_status(stack: &Stack, id: &str) -> Result<(), tonic::Status> {
    stack
        .client()
        .get_budget_status(pb::GetBudgetStatusRequest {
            tenant_id: id.into(),
        })
        .await
        .map(|_| ())
}

async fn update(
    stack: &Stack,
    id: &str,
    budget_usd: i64,
    etag: &str,
) -> Result<pb::BudgetConfig, tonic::Status> {
    stack
        .update_config(id, config(budget_usd, 80, 110, "30d"), etag)
        .await
}

async fn create(stack: &Stack, id: &str) -> Result<pb::CreateTenantResponse, tonic::Status> {
    stack
        .client()
        .create_tenant(pb::CreateTenantRequest {
            tenant_id: id.into(),
            display_name: String::new(),
            config: Some(config(100, 80, 110, "30d")),
        })
        .await
        .map(|r| r.into_inner())
}

async fn spend_history(stack: &Stack, id: &str) -> Result<Vec<i64>, tonic::Status> {
    stack
        .client()
        .get_spend_history(pb::GetSpendHistoryRequest {
            tenant_id: id.into(),
            days: 7,
        })
        .await
        .map(|r| r.into_inner().days.iter().map(|d| d.spend_micros).collect())
}

async fn pass(stack: &Stack) -> Result<budget_service::service::PassReport, BudgetError> {
    let (_keep, stop) = tokio::sync::watch::channel(false);
    stack.budgets.evaluation_pass(&stop).await
}

/// Our settings and the tenant's LiteLLM key agree: max_budget is the block amount
/// (budget × grace %), soft_budget the alert amount, the period the same, and the key
/// LiteLLM holds under the tenant's alias is the one we stored.
async fn assert_agree(stack: &Stack, cell: &str, id: &str) {
    let ours = stack.config(id).await.unwrap();
    let key = stack
        .sim()
        .key(&format!("tenant-{id}"))
        .unwrap_or_else(|| panic!("[{cell}] LiteLLM has no key for {id}"));
    let budget = ours.max_budget_micros as f64 / USD as f64;
    assert_eq!(
        (
            key.max_budget,
            key.soft_budget,
            key.budget_duration.as_deref()
        ),
        (
            Some(budget * f64::from(ours.grace_threshold_percent) / 100.0),
            Some(budget * f64::from(ours.alert_threshold_percent) / 100.0),
            Some(ours.budget_duration.as_str())
        ),
        "[{cell}] LiteLLM's key and our settings for {id}"
    );
    let stored = stack
        .store
        .tenant_config(&budget_service::domain::TenantId::parse(id).unwrap())
        .await
        .unwrap()
        .unwrap()
        .0
        .key_hash;
    assert_eq!(
        stored, key.token,
        "[{cell}] the stored key is LiteLLM's key"
    );
}

/// After the fault: spend past the alert threshold; one pass records exactly one
/// THRESHOLD alert, and a second pass adds none.
async fn assert_one_alert(stack: &Stack, cell: &str, id: &str) {
    let budget = stack.config(id).await.unwrap().max_budget_micros / USD;
    // 90 % of the budget: past the 80 % alert, under 100 %.
    let spend = budget as f64 * 0.9;
    stack
        .sim()
        .set_spend(&format!("tenant-{id}"), spend)
        .unwrap();
    for round in 0..2 {
        pass(stack).await.unwrap();
        assert_eq!(
            stack.alert_types(id).await,
            vec![pb::AlertType::Threshold],
            "[{cell}] alerts of {id} after pass {round}"
        );
    }
}

#[tokio::test]
async fn get_budget_status_under_each_litellm_fault() {
    let stack = fault_stack().await;
    for (i, (name, fault)) in litellm_faults().into_iter().enumerate() {
        let id = format!("status-{i}");
        let cell = format!("GetBudgetStatus × {name}");
        stack.create_tenant(&id, 100).await;
        let expect = match fault {
            Fault::NotFound => key_unknown(&id),
            Fault::Slow(d) if d < TIMEOUT => Expect::Ok,
            _ => data_unavailable(),
        };
        stack
            .sim()
            .inject(FaultRule::new("/key/info", fault.clone()));
        check(&cell, &expect, get_status(&stack, &id).await);
        stack.sim().clear_faults();
        tokio::time::sleep(late_effects(&fault)).await;
        // Errors are not cached: the same call works at once.
        get_status(&stack, &id)
            .await
            .unwrap_or_else(|e| panic!("[{cell}] after the fault: {e:?}"));
        assert_agree(&stack, &cell, &id).await;
        assert_one_alert(&stack, &cell, &id).await;
    }
    stack.stop().await;
}

#[tokio::test]
async fn update_budget_config_under_each_litellm_fault() {
    let stack = fault_stack().await;
    for (i, (name, fault)) in litellm_faults().into_iter().enumerate() {
        let id = format!("update-{i}");
        let cell = format!("UpdateBudgetConfig × {name}");
        stack.create_tenant(&id, 100).await;
        let before = stack.config(&id).await.unwrap();
        let expect = match fault {
            Fault::NotFound => key_unknown(&id),
            Fault::Slow(d) if d < TIMEOUT => Expect::Ok,
            _ => write_failed(),
        };
        stack
            .sim()
            .inject(FaultRule::new("/key/update", fault.clone()));
        let answer = update(&stack, &id, 120, &before.etag).await;
        let saved = answer.is_ok();
        check(&cell, &expect, answer.map(|_| ()));
        let after = stack.config(&id).await.unwrap();
        if saved {
            assert_eq!(after.max_budget_micros, 120 * USD, "[{cell}] saved");
        } else {
            assert_eq!(after, before, "[{cell}] nothing saved");
        }
        stack.sim().clear_faults();
        let late = late_effects(&fault);
        if saved || late.is_zero() {
            // An answer LiteLLM sent but we could not read: the change was put back at once.
            assert_agree(&stack, &cell, &id).await;
        } else {
            // LiteLLM applies the change after we gave up (the drift is real) ...
            tokio::time::sleep(late).await;
            let key = stack.sim().key(&format!("tenant-{id}")).unwrap();
            assert_eq!(
                key.max_budget,
                Some(132.0),
                "[{cell}] the late change landed"
            );
        }
        // ... and the next pass puts our settings back.
        pass(&stack).await.unwrap();
        assert_agree(&stack, &cell, &id).await;
        if !saved {
            // The same call, with the same etag, now works.
            update(&stack, &id, 120, &before.etag)
                .await
                .unwrap_or_else(|e| panic!("[{cell}] retry: {e:?}"));
            assert_agree(&stack, &cell, &id).await;
        }
        assert_one_alert(&stack, &cell, &id).await;
    }
    stack.stop().await;
}

#[tokio::test]
async fn create_tenant_under_each_litellm_fault() {
    let stack = fault_stack().await;
    for (i, (name, fault)) in litellm_faults().into_iter().enumerate() {
        let id = format!("create-{i}");
        let cell = format!("CreateTenant × {name}");
        let expect = match fault {
            Fault::Slow(d) if d < TIMEOUT => Expect::Ok,
            _ => write_failed(),
        };
        stack
            .sim()
            .inject(FaultRule::new("/key/generate", fault.clone()));
        let answer = create(&stack, &id).await;
        let created = answer.is_ok();
        check(&cell, &expect, answer.map(|_| ()));
        if !created {
            let missing = stack.config(&id).await.unwrap_err();
            assert_eq!(missing.code(), Code::NotFound, "[{cell}] nothing saved");
        }
        stack.sim().clear_faults();
        tokio::time::sleep(late_effects(&fault)).await;
        pass(&stack).await.unwrap();
        let key = if created {
            None
        } else {
            // The same call now works, whatever LiteLLM did with the failed one.
            let retried = create(&stack, &id)
                .await
                .unwrap_or_else(|e| panic!("[{cell}] retry: {e:?}"));
            Some(retried.virtual_key)
        };
        assert_agree(&stack, &cell, &id).await;
        if let Some(raw) = key {
            let live = stack.sim().key(&raw).unwrap();
            assert_eq!(
                live.key_alias.as_deref(),
                Some(format!("tenant-{id}").as_str()),
                "[{cell}] the returned key is the tenant's"
            );
        }
        assert_one_alert(&stack, &cell, &id).await;
    }
    stack.stop().await;
}

#[tokio::test]
async fn evaluator_pass_under_each_litellm_fault() {
    let stack = fault_stack().await;
    for (i, (name, fault)) in litellm_faults().into_iter().enumerate() {
        let id = format!("eval-{i}");
        let cell = format!("evaluator pass × {name}");
        stack.create_tenant(&id, 100).await;
        // Past the alert threshold before the pass that meets the fault.
        stack
            .sim()
            .set_spend(&format!("tenant-{id}"), 90.0)
            .unwrap();
        stack
            .sim()
            .inject(FaultRule::new("/key/list", fault.clone()));
        let result = pass(&stack).await;
        let completes = matches!(fault, Fault::Slow(d) if d < TIMEOUT);
        match &result {
            Ok(report) => {
                assert!(completes, "[{cell}] expected the pass to fail: {report:?}");
                assert_eq!(report.failed, 0, "[{cell}] {report:?}");
            }
            Err(error) => {
                assert!(
                    !completes,
                    "[{cell}] expected the pass to complete: {error}"
                );
                assert!(
                    matches!(error, BudgetError::BudgetDataUnavailable(_)),
                    "[{cell}] {error:?}"
                );
                let status = tonic::Status::from(result.unwrap_err());
                assert_eq!(
                    (status.code(), status.message()),
                    (Code::Unavailable, "Budget data unavailable"),
                    "[{cell}]"
                );
                assert_eq!(
                    stack.alert_types(&id).await,
                    vec![],
                    "[{cell}] nothing recorded"
                );
            }
        }
        stack.sim().clear_faults();
        tokio::time::sleep(late_effects(&fault)).await;
        // The next pass records the alert the failed one could not, exactly once.
        assert_one_alert(&stack, &cell, &id).await;
        assert_agree(&stack, &cell, &id).await;
    }
    stack.stop().await;
}

#[tokio::test]
async fn get_spend_history_under_each_litellm_fault() {
    let stack = fault_stack().await;
    let today = chrono::Utc::now().date_naive();
    for (i, (name, fault)) in litellm_faults().into_iter().enumerate() {
        let id = format!("history-{i}");
        let cell = format!("GetSpendHistory × {name}");
        let key = stack.create_tenant(&id, 100).await.virtual_key;
        stack.sim().set_daily_spend(&key, today, 4.0).unwrap();
        let expect = match fault {
            Fault::NotFound => key_unknown(&id),
            Fault::Slow(d) if d < TIMEOUT => Expect::Ok,
            _ => data_unavailable(),
        };
        // The first read of a tenant's history comes from LiteLLM.
        stack
            .sim()
            .inject(FaultRule::new("/user/daily/activity", fault.clone()));
        let answer = spend_history(&stack, &id).await;
        if let Ok(days) = &answer {
            assert_eq!(days.last(), Some(&(4 * USD)), "[{cell}] today's spend");
        }
        check(&cell, &expect, answer.map(|_| ()));
        stack.sim().clear_faults();
        tokio::time::sleep(late_effects(&fault)).await;
        let days = spend_history(&stack, &id)
            .await
            .unwrap_or_else(|e| panic!("[{cell}] after the fault: {e:?}"));
        assert_eq!(days, vec![0, 0, 0, 0, 0, 0, 4 * USD], "[{cell}] history");
        assert_agree(&stack, &cell, &id).await;
        assert_one_alert(&stack, &cell, &id).await;
    }
    stack.stop().await;
}

/// A key that only a failed create could have left is replaced on the next create; a key
/// someone made by hand (other metadata, or with spend) is left alone for `tenant adopt-key`.
#[tokio::test]
async fn create_tenant_replaces_only_keys_a_failed_create_left() {
    let stack = fault_stack().await;
    let http = reqwest::Client::new();
    let make_key = |alias: &str, tenant: &str| {
        let request = http
            .post(format!("{}/key/generate", stack.sim.base_url()))
            .bearer_auth(budget_e2e::SIM_MASTER_KEY)
            .json(&serde_json::json!({"key_alias": alias, "metadata": {"tenant_id": tenant}}));
        async move {
            let answer: serde_json::Value = request
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["key"].as_str().unwrap().to_owned()
        }
    };
    let alias_taken = Expect::Fails(
        Code::FailedPrecondition,
        "LiteLLM already has a key with alias tenant-byhand; adopt it with `budget-service tenant adopt-key`"
            .into(),
    );
    // Made by hand for another use: refused, key kept.
    let by_hand = make_key("tenant-byhand", "someone-else").await;
    check(
        "create over a hand-made key",
        &alias_taken,
        create(&stack, "byhand").await.map(|_| ()),
    );
    assert_eq!(
        stack.sim().key(&by_hand).unwrap().status,
        litellm_sim::KeyStatus::Active
    );
    // Our metadata, but already used: kept too.
    let used = make_key("tenant-used", "used").await;
    stack.sim().set_spend(&used, 1.0).unwrap();
    let err = create(&stack, "used").await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(
        stack.sim().key(&used).unwrap().status,
        litellm_sim::KeyStatus::Active
    );
    // Unused, naming the tenant: what a create whose answer was lost leaves. Replaced.
    let orphan = make_key("tenant-lost", "lost").await;
    let created = create(&stack, "lost").await.unwrap();
    assert_eq!(
        stack.sim().key(&orphan).unwrap().status,
        litellm_sim::KeyStatus::Deleted
    );
    assert_ne!(created.virtual_key, orphan);
    assert_agree(&stack, "create over a lost create's key", "lost").await;
    stack.stop().await;
}

/// What a caller may see while PostgreSQL is unreachable: the token check or the call itself
/// could not reach the database.
const DATABASE_DOWN: [&str; 2] = [
    "Budget database unavailable; nothing was saved",
    "Cannot check tokens right now",
];

/// The call's answer; a call still unanswered after 10 s (the acquire timeout is 1 s) fails.
async fn within<T>(cell: &str, call: impl std::future::Future<Output = T>) -> T {
    let bound = Duration::from_secs(10);
    tokio::time::timeout(bound, call)
        .await
        .unwrap_or_else(|_| panic!("[{cell}] no answer within {bound:?}"))
}

fn assert_database_down(cell: &str, got: Result<(), tonic::Status>) {
    let status = got.expect_err(cell);
    assert_eq!(status.code(), Code::Unavailable, "[{cell}] {status:?}");
    assert!(
        DATABASE_DOWN.contains(&status.message()),
        "[{cell}] {status:?}"
    );
}

/// Terminates every session of the stack's database, as an operator or a failover would.
async fn terminate_backends(stack: &Stack) -> i64 {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&budget_e2e::admin_database_url())
        .await
        .unwrap();
    sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&stack.db.name)
    .fetch_one(&mut admin)
    .await
    .unwrap()
}

/// Starts an update that holds the tenant's settings row locked while LiteLLM answers slowly.
fn slow_update(
    stack: &Stack,
    id: &str,
    budget_usd: i64,
    etag: &str,
) -> tokio::task::JoinHandle<Result<(), tonic::Status>> {
    stack
        .sim()
        .inject(FaultRule::new("/key/update", Fault::Slow(Duration::from_millis(1500))).times(1));
    let mut client = stack.client();
    let request = pb::UpdateBudgetConfigRequest {
        tenant_id: id.into(),
        config: Some(config(budget_usd, 80, 110, "30d")),
        etag: etag.into(),
        update_mask: None,
    };
    tokio::spawn(async move { client.update_budget_config(request).await.map(|_| ()) })
}

#[tokio::test]
async fn postgres_connection_killed_mid_update_changes_nothing() {
    let stack = Stack::start().await;
    let cell = "UpdateBudgetConfig × pg_terminate_backend mid-transaction";
    stack.create_tenant("acme", 100).await;
    let before = stack.config("acme").await.unwrap();
    let update_call = slow_update(&stack, "acme", 200, &before.etag);
    // The update now holds the row lock in an open transaction and waits on LiteLLM.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        terminate_backends(&stack).await >= 1,
        "[{cell}] sessions killed"
    );
    let status = update_call.await.unwrap().expect_err(cell);
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unavailable, DATABASE_DOWN[0]),
        "[{cell}]"
    );
    // LiteLLM took the change, then was put back: both stores hold the old settings.
    assert_eq!(
        stack.sim().calls("/key/update"),
        2,
        "[{cell}] pushed, then put back"
    );
    assert_eq!(stack.config("acme").await.unwrap(), before, "[{cell}]");
    assert_agree(&stack, cell, "acme").await;
    // The pool replaced its dead connections: the same update works at once.
    update(&stack, "acme", 200, &before.etag)
        .await
        .unwrap_or_else(|e| panic!("[{cell}] retry: {e:?}"));
    assert_agree(&stack, cell, "acme").await;
    get_status(&stack, "acme").await.unwrap();
    assert_one_alert(&stack, cell, "acme").await;

    // Killed again, and this time LiteLLM refuses to be put back: the caller is told, and
    // the evaluator's next pass puts our settings back on the key.
    let cell = "UpdateBudgetConfig × pg_terminate_backend, LiteLLM not restorable";
    let before = stack.config("acme").await.unwrap();
    stack.sim().reset_calls();
    let update_call = slow_update(&stack, "acme", 300, &before.etag);
    stack
        .sim()
        .inject(FaultRule::new("/key/update", Fault::Status500).times(1));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        terminate_backends(&stack).await >= 1,
        "[{cell}] sessions killed"
    );
    let status = update_call.await.unwrap().expect_err(cell);
    assert_eq!(
        (status.code(), status.message()),
        (
            Code::Internal,
            "The change reached LiteLLM but could not be saved; it will be repaired automatically"
        ),
        "[{cell}]"
    );
    assert_eq!(stack.config("acme").await.unwrap(), before, "[{cell}]");
    let key = stack.sim().key("tenant-acme").unwrap();
    assert_eq!(
        key.max_budget,
        Some(330.0),
        "[{cell}] LiteLLM kept the change"
    );
    let report = pass(&stack).await.unwrap();
    assert_eq!(report.keys_repaired, 1, "[{cell}] {report:?}");
    assert_agree(&stack, cell, "acme").await;
    assert_eq!(
        stack.alert_types("acme").await.len(),
        1,
        "[{cell}] no new alert"
    );
    stack.stop().await;
}

#[tokio::test]
async fn postgres_unreachable_gives_unavailable_and_recovers() {
    let stack = Stack::start_with(StackOptions {
        database_via_proxy: true,
        db_acquire_timeout_secs: 1,
        ..Default::default()
    })
    .await;
    let proxy = stack.db_proxy.as_ref().unwrap();
    stack.create_tenant("acme", 100).await;
    let before = stack.config("acme").await.unwrap();
    let fresh_token = stack
        .token("reader", budget_service::domain::auth::Role::Service, None)
        .await;

    // The link is cut while an update holds its transaction open across the LiteLLM call.
    let update_call = slow_update(&stack, "acme", 200, &before.etag);
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.cut();
    let cell = "UpdateBudgetConfig × database cut mid-transaction";
    let status = update_call.await.unwrap().expect_err(cell);
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unavailable, DATABASE_DOWN[0]),
        "[{cell}]"
    );
    assert_eq!(
        stack.sim().calls("/key/update"),
        2,
        "[{cell}] pushed, then put back"
    );

    // While it is down every call answers UNAVAILABLE within the acquire timeout, and
    // nothing reaches LiteLLM half-done.
    stack.sim().reset_calls();
    assert_database_down(
        "GetBudgetConfig × database unreachable",
        within("GetBudgetConfig", stack.config("acme"))
            .await
            .map(|_| ()),
    );
    assert_database_down(
        "UpdateBudgetConfig × database unreachable",
        within(
            "UpdateBudgetConfig",
            update(&stack, "acme", 300, &before.etag),
        )
        .await
        .map(|_| ()),
    );
    assert_database_down(
        "CreateTenant × database unreachable",
        within("CreateTenant", create(&stack, "beta"))
            .await
            .map(|_| ()),
    );
    assert_database_down(
        "GetBudgetStatus × database unreachable",
        within("GetBudgetStatus", get_status(&stack, "acme")).await,
    );
    assert_database_down(
        "GetSpendHistory × database unreachable",
        within("GetSpendHistory", spend_history(&stack, "acme"))
            .await
            .map(|_| ()),
    );
    // A token the service has not checked lately cannot be checked at all.
    let status = within(
        "token check",
        stack
            .client_with(Some(&fresh_token))
            .get_budget_config(pb::GetBudgetConfigRequest {
                tenant_id: "acme".into(),
            }),
    )
    .await
    .expect_err("token check × database unreachable");
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unavailable, DATABASE_DOWN[1]),
        "[token check × database unreachable]"
    );
    let pass_result = within("evaluator pass", pass(&stack)).await;
    assert!(
        matches!(pass_result, Err(BudgetError::DatabaseUnavailable(_))),
        "[evaluator pass × database unreachable] {pass_result:?}"
    );
    assert_eq!(
        stack.sim().calls("/key/update"),
        0,
        "no LiteLLM write while down"
    );
    assert_eq!(
        stack.sim().calls("/key/generate"),
        0,
        "no key made while down"
    );

    // Restored: the same calls work, without a restart.
    proxy.restore();
    let cell = "database restored";
    assert_eq!(stack.config("acme").await.unwrap(), before, "[{cell}]");
    assert_agree(&stack, cell, "acme").await;
    update(&stack, "acme", 300, &before.etag)
        .await
        .unwrap_or_else(|e| panic!("[{cell}] update: {e:?}"));
    assert_agree(&stack, cell, "acme").await;
    create(&stack, "beta")
        .await
        .unwrap_or_else(|e| panic!("[{cell}] create: {e:?}"));
    assert_agree(&stack, cell, "beta").await;
    spend_history(&stack, "acme").await.unwrap();
    assert_one_alert(&stack, cell, "acme").await;
    stack.stop().await;
}

/// Waits until the tenant has `want` alerts (the background evaluator's pace), or fails.
async fn wait_for_alerts(stack: &Stack, cell: &str, id: &str, want: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let got = stack.alert_types(id).await;
        if got.len() >= want {
            assert_eq!(
                got,
                vec![pb::AlertType::Threshold],
                "[{cell}] alerts of {id}"
            );
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "[{cell}] no alert from the background evaluator: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The background evaluator keeps running through LiteLLM and PostgreSQL outages and records
/// the alert it could not record during them, once.
#[tokio::test]
async fn background_evaluator_recovers_after_outages() {
    let stack = Stack::start_with(StackOptions {
        database_via_proxy: true,
        db_acquire_timeout_secs: 1,
        litellm_timeout_secs: TIMEOUT.as_secs(),
        eval_interval_secs: 1,
        ..Default::default()
    })
    .await;
    let proxy = stack.db_proxy.as_ref().unwrap();

    let cell = "background evaluator × LiteLLM 500";
    stack.create_tenant("acme", 100).await;
    stack
        .sim()
        .inject(FaultRule::new("/key/list", Fault::Status500));
    stack.sim().set_spend("tenant-acme", 90.0).unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(stack.sim().calls("/key/list") >= 2, "[{cell}] passes ran");
    assert_eq!(stack.alert_types("acme").await, vec![], "[{cell}]");
    stack.sim().clear_faults();
    wait_for_alerts(&stack, cell, "acme", 1).await;

    let cell = "background evaluator × database unreachable";
    stack.create_tenant("globex", 100).await;
    proxy.cut();
    stack.sim().set_spend("tenant-globex", 90.0).unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    proxy.restore();
    wait_for_alerts(&stack, cell, "globex", 1).await;
    // Later passes add nothing.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(stack.alert_types("acme").await.len(), 1, "[{cell}] acme");
    assert_eq!(
        stack.alert_types("globex").await.len(),
        1,
        "[{cell}] globex"
    );
    stack.stop().await;
}
