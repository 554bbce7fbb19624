//! Concurrent writes on one tenant over real gRPC, PostgreSQL and litellm-sim: the settings
//! row lock serialises updates, so an etag lets exactly one of many racing writers win, and
//! without etags LiteLLM still ends with the values of the last committed row; racing creates
//! of one id make one tenant and one live LiteLLM key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use budget_e2e::{SIM_MASTER_KEY, Stack, StackOptions, config, key_hash};
use budget_proto::v1 as pb;
use futures::future::join_all;
use tonic::Code;

/// Concurrent writers in each race.
const WRITERS: usize = 50;

/// A generous write rate, so the per-token limit never answers instead of the lock.
fn options() -> StackOptions {
    StackOptions {
        write_rate_per_sec: 10_000.0,
        write_burst: 10_000.0,
        ..StackOptions::default()
    }
}

/// Distinct valid settings for writer `i`: budget $(100 + i), alert 50..=99 %, grace
/// 100..=149 %, and one of the three periods.
fn settings_of(i: usize) -> pb::BudgetConfig {
    let i32_of = |n: usize| i32::try_from(n).unwrap();
    let duration = ["30d", "60d", "90d"][i % 3];
    config(
        100 + i64::try_from(i).unwrap(),
        50 + i32_of(i % 50),
        100 + i32_of((i * 7) % 50),
        duration,
    )
}

/// The settings row as PostgreSQL holds it: (budget, alert %, grace %, period).
async fn db_row(stack: &Stack, id: &str) -> (i64, i32, i32, String) {
    sqlx::query_as(
        "SELECT max_budget_micros, alert_threshold_percent, grace_threshold_percent, budget_duration
         FROM tenant_configs WHERE tenant_id = $1",
    )
    .bind(id)
    .fetch_one(stack.store.pool())
    .await
    .unwrap()
}

/// `amount x percent / 100` in dollars, as the key's limits are sent (micros rounded half up).
fn dollars(budget_micros: i64, percent: i32) -> f64 {
    let micros = (i128::from(budget_micros) * i128::from(percent) + 50) / 100;
    micros as f64 / 1e6
}

/// Asserts the tenant's LiteLLM key carries the grace mapping of its database row:
/// max_budget = budget x grace %, soft_budget = budget x alert %, budget_duration = period.
async fn assert_key_matches_row(stack: &Stack, id: &str, raw_key: &str) {
    let (budget, alert, grace, duration) = db_row(stack, id).await;
    let key = stack.sim().key(raw_key).expect("the tenant's key");
    assert_eq!(
        key.max_budget,
        Some(dollars(budget, grace)),
        "max_budget is the block amount of the row"
    );
    assert_eq!(
        key.soft_budget,
        Some(dollars(budget, alert)),
        "soft_budget is the alert amount of the row"
    );
    assert_eq!(key.budget_duration.as_deref(), Some(duration.as_str()));
}

async fn update_count(stack: &Stack, id: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'budget_config_updated'",
    )
    .bind(id)
    .fetch_one(stack.store.pool())
    .await
    .unwrap();
    n
}

/// Sends every writer's update at once; `etag` is sent by all of them.
async fn race(
    stack: &Stack,
    id: &str,
    etag: &str,
    writers: impl Iterator<Item = usize>,
) -> Vec<(usize, Result<pb::BudgetConfig, tonic::Status>)> {
    let calls = writers.map(|i| {
        let mut client = stack.client();
        let request = pb::UpdateBudgetConfigRequest {
            tenant_id: id.into(),
            config: Some(settings_of(i)),
            etag: etag.into(),
            update_mask: None,
        };
        async move {
            let answer = client
                .update_budget_config(request)
                .await
                .map(|r| r.into_inner().config.unwrap());
            (i, answer)
        }
    });
    join_all(calls).await
}

#[tokio::test]
async fn racing_updates_with_one_etag_let_exactly_one_win() {
    let stack = Stack::start_with(options()).await;
    let created = stack.create_tenant("acme", 500).await;
    let etag = stack.config("acme").await.unwrap().etag;

    let answers = race(&stack, "acme", &etag, 0..WRITERS).await;
    let winners: Vec<usize> = answers
        .iter()
        .filter(|(_, a)| a.is_ok())
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one writer wins: {winners:?}");
    for (i, answer) in &answers {
        if let Err(status) = answer {
            assert_eq!(status.code(), Code::Aborted, "writer {i}: {status:?}");
        }
    }
    let winner = settings_of(winners[0]);

    // The database, the API and LiteLLM all hold the winner's values, and one change is audited.
    let row = db_row(&stack, "acme").await;
    assert_eq!(
        row,
        (
            winner.max_budget_micros,
            winner.alert_threshold_percent,
            winner.grace_threshold_percent,
            winner.budget_duration.clone()
        )
    );
    let now = stack.config("acme").await.unwrap();
    assert_ne!(now.etag, etag, "the winner moved the etag on");
    assert_eq!(now.max_budget_micros, winner.max_budget_micros);
    assert_key_matches_row(&stack, "acme", &created.virtual_key).await;
    assert_eq!(update_count(&stack, "acme").await, 1);

    // The old etag stays stale for everyone.
    let late = race(&stack, "acme", &etag, 0..3).await;
    assert!(
        late.iter()
            .all(|(_, a)| a.as_ref().err().map(tonic::Status::code) == Some(Code::Aborted))
    );
    stack.stop().await;
}

#[tokio::test]
async fn racing_updates_without_etags_leave_litellm_equal_to_the_database() {
    let stack = Stack::start_with(options()).await;
    let created = stack.create_tenant("acme", 500).await;
    let mut applied = 0;
    // A few rounds with different writers, to meet different interleavings.
    for round in 0..4 {
        let writers = (0..WRITERS).map(|i| i + round * 13);
        let answers = race(&stack, "acme", "", writers).await;
        for (i, answer) in &answers {
            let saved = answer
                .as_ref()
                .unwrap_or_else(|e| panic!("round {round} writer {i}: {e:?}"));
            assert_eq!(saved.max_budget_micros, settings_of(*i).max_budget_micros);
        }
        applied += answers.len();

        // Whatever order the writers committed in, the last committed row is what LiteLLM has.
        let row = db_row(&stack, "acme").await;
        let last = (0..WRITERS)
            .map(|i| settings_of(i + round * 13))
            .find(|s| s.max_budget_micros == row.0)
            .expect("the row holds one writer's values");
        assert_eq!(
            (row.1, row.2, row.3.as_str()),
            (
                last.alert_threshold_percent,
                last.grace_threshold_percent,
                last.budget_duration.as_str()
            ),
            "round {round}: the row is one writer's settings, not a mix"
        );
        assert_key_matches_row(&stack, "acme", &created.virtual_key).await;
        assert_eq!(
            update_count(&stack, "acme").await,
            i64::try_from(applied).unwrap()
        );
    }
    stack.stop().await;
}

/// The live (not deleted) LiteLLM keys whose metadata names `tenant`, from `/key/list`.
async fn live_keys_of(stack: &Stack, tenant: &str) -> Vec<String> {
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/key/list?return_full_object=true&size=100",
            stack.sim.base_url()
        ))
        .bearer_auth(SIM_MASTER_KEY)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["metadata"]["tenant_id"] == tenant)
        .map(|k| k["token"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn concurrent_creates_of_one_id_make_one_tenant_and_one_key() {
    let stack = Stack::start_with(options()).await;
    for round in 0..3 {
        let id = format!("acme-{round}");
        let attempts = (0..8).map(|_| {
            let mut client = stack.client();
            let request = pb::CreateTenantRequest {
                tenant_id: id.clone(),
                display_name: "Acme".into(),
                config: Some(config(100, 80, 110, "30d")),
            };
            async move { client.create_tenant(request).await }
        });
        let answers = join_all(attempts).await;
        let created: Vec<_> = answers
            .iter()
            .filter_map(|a| a.as_ref().ok())
            .map(|r| r.get_ref().virtual_key.clone())
            .collect();
        assert_eq!(created.len(), 1, "round {round}: one create wins");
        for answer in &answers {
            if let Err(status) = answer {
                assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
            }
        }

        // One tenant row, holding the hash of the one live key LiteLLM has for the tenant.
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT key_hash FROM tenants WHERE tenant_id = $1")
                .bind(&id)
                .fetch_all(stack.store.pool())
                .await
                .unwrap();
        assert_eq!(rows, vec![(key_hash(&created[0]),)]);
        let live = live_keys_of(&stack, &id).await;
        assert_eq!(live, vec![key_hash(&created[0])], "round {round}");
        let key = stack.sim().key(&created[0]).unwrap();
        assert_eq!(key.status, litellm_sim::KeyStatus::Active);
        assert_key_matches_row(&stack, &id, &created[0]).await;
    }
    stack.stop().await;
}
