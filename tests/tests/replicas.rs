//! Several budget-service replicas on one PostgreSQL: a change on one replica reaches every
//! replica's status cache within a second (LISTEN/NOTIFY), a replica whose listener lost its
//! connection drops its whole cache, the evaluator runs on one replica at a time and another
//! takes over when it stops, and replicas starting at once on a fresh database migrate it
//! once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use budget_e2e::{
    AuthedClient, SIM_MASTER_KEY, TestDatabase, config, first_alerts, init_test_logs,
};
use budget_proto::v1 as pb;
use budget_service::Settings;
use budget_service::service::Budgets;
use budget_service::store::{LEADER_APPLICATION_NAME, LISTENER_APPLICATION_NAME};
use litellm_sim::SimServer;
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// One running replica.
struct Replica {
    client: AuthedClient,
    budgets: Arc<Budgets>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Replica {
    /// Stops the replica and waits for its shutdown to finish.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("replica stops in time")
                .unwrap()
                .unwrap();
        }
    }
}

fn settings(db_url: &str, sim: &SimServer, eval_interval_secs: u64) -> Settings {
    let mut settings = Settings::new(db_url, &sim.base_url(), SIM_MASTER_KEY);
    settings.grpc_addr = "127.0.0.1:0".parse().unwrap();
    settings.http_addr = "127.0.0.1:0".parse().unwrap();
    settings.bootstrap_token = Some(budget_e2e::ADMIN_TOKEN.into());
    settings.write_rate_per_sec = 1000.0;
    settings.write_burst = 1000.0;
    // Long enough that only an invalidation can explain a fresh value.
    settings.cache_ttl_secs = 600;
    settings.shutdown_grace_secs = 2;
    settings.eval_interval_secs = eval_interval_secs;
    settings
}

async fn start(settings: Settings) -> Replica {
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
    Replica {
        client,
        budgets,
        stop: Some(stop),
        task: Some(task),
    }
}

/// A fresh database, a litellm-sim and `n` replicas on them.
async fn cluster(n: usize, eval_interval_secs: u64) -> (TestDatabase, SimServer, Vec<Replica>) {
    init_test_logs();
    let db = TestDatabase::create().await;
    let sim = SimServer::start("127.0.0.1:0", SIM_MASTER_KEY)
        .await
        .unwrap();
    let mut replicas = Vec::new();
    for _ in 0..n {
        replicas.push(start(settings(&db.url, &sim, eval_interval_secs)).await);
    }
    // Each listener is connected (LISTEN issued) before the test starts changing things.
    wait_for_listeners(&db, n).await;
    (db, sim, replicas)
}

async fn admin_conn(db: &TestDatabase) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(&db.url).await.unwrap()
}

async fn count_sessions(db: &TestDatabase, application_name: &str) -> i64 {
    let mut conn = admin_conn(db).await;
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
    )
    .bind(&db.name)
    .bind(application_name)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    n
}

async fn wait_for_listeners(db: &TestDatabase, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while count_sessions(db, LISTENER_APPLICATION_NAME).await < n as i64 {
        assert!(Instant::now() < deadline, "listeners did not connect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // LISTEN follows the connection within the same task; give it a moment.
    tokio::time::sleep(Duration::from_millis(100)).await;
}

async fn status(client: &AuthedClient, id: &str) -> pb::BudgetStatus {
    client
        .clone()
        .get_budget_status(pb::GetBudgetStatusRequest {
            tenant_id: id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap()
}

async fn create_tenant(client: &AuthedClient, id: &str, budget_usd: i64) -> String {
    client
        .clone()
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

/// Polls `client`'s status of `id` until `done` holds; returns how long it took, or panics
/// after `within`.
async fn until_status(
    client: &AuthedClient,
    id: &str,
    within: Duration,
    what: &str,
    done: impl Fn(&pb::BudgetStatus) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let current = status(client, id).await;
        if done(&current) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{what}: not seen within {within:?}; last status {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_change_on_one_replica_reaches_every_replicas_cache_within_a_second() {
    let (db, _sim, mut replicas) = cluster(3, 0).await;
    let (a, b, c) = (
        replicas[0].client.clone(),
        replicas[1].client.clone(),
        replicas[2].client.clone(),
    );
    create_tenant(&a, "acme", 100).await;
    // Warm every cache.
    for client in [&a, &b, &c] {
        assert_eq!(status(client, "acme").await.max_budget_micros, 100_000_000);
    }

    // UpdateBudgetConfig on A.
    a.clone()
        .update_budget_config(pb::UpdateBudgetConfigRequest {
            tenant_id: "acme".into(),
            config: Some(config(200, 80, 110, "30d")),
            etag: String::new(),
            update_mask: None,
        })
        .await
        .unwrap();
    for client in [&b, &c] {
        until_status(client, "acme", Duration::from_secs(1), "new budget", |s| {
            s.max_budget_micros == 200_000_000
        })
        .await;
    }

    // A lifecycle change on B (suspend), seen on A and C.
    b.clone()
        .suspend_tenant(pb::SuspendTenantRequest {
            tenant_id: "acme".into(),
            reason: "replica test".into(),
        })
        .await
        .unwrap();
    for client in [&a, &c] {
        until_status(client, "acme", Duration::from_secs(1), "suspended", |s| {
            s.suspended
        })
        .await;
    }

    // A temporary increase on C, seen on A and B.
    let expire = chrono::Utc::now() + chrono::Duration::days(1);
    c.clone()
        .grant_temporary_increase(pb::GrantTemporaryIncreaseRequest {
            tenant_id: "acme".into(),
            amount_micros: 50_000_000,
            expire_time: Some(prost_types::Timestamp {
                seconds: expire.timestamp(),
                nanos: 0,
            }),
            reason: "launch".into(),
        })
        .await
        .unwrap();
    for client in [&a, &b] {
        until_status(client, "acme", Duration::from_secs(1), "increase", |s| {
            s.max_budget_micros == 250_000_000
        })
        .await;
    }

    for replica in &mut replicas {
        replica.stop().await;
    }
    db.drop_database().await;
}

#[tokio::test]
async fn a_replica_whose_listener_reconnects_drops_its_whole_cache() {
    let (db, sim, mut replicas) = cluster(2, 0).await;
    let (a, b) = (replicas[0].client.clone(), replicas[1].client.clone());
    let acme = create_tenant(&a, "acme", 100).await;
    let beta = create_tenant(&a, "beta", 100).await;
    for id in ["acme", "beta"] {
        assert_eq!(status(&b, id).await.spend_micros, 0);
    }

    // Spend changes in LiteLLM announce nothing: B keeps serving its cached values.
    sim.control().set_spend(&acme, 10.0).unwrap();
    sim.control().set_spend(&beta, 20.0).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in ["acme", "beta"] {
        assert_eq!(status(&b, id).await.spend_micros, 0, "{id} cached");
    }

    // Every listener's backend is terminated: each replica reconnects and drops everything.
    let mut conn = admin_conn(&db).await;
    let terminated: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = $2",
    )
    .bind(&db.name)
    .bind(LISTENER_APPLICATION_NAME)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(terminated.len(), 2, "one listener per replica");
    until_status(&b, "acme", Duration::from_secs(3), "re-read acme", |s| {
        s.spend_micros == 10_000_000
    })
    .await;
    assert_eq!(status(&b, "beta").await.spend_micros, 20_000_000);

    // The new listeners work: a change on A reaches B's cache again.
    wait_for_listeners(&db, 2).await;
    assert_eq!(status(&b, "acme").await.max_budget_micros, 100_000_000);
    a.clone()
        .update_budget_config(pb::UpdateBudgetConfigRequest {
            tenant_id: "acme".into(),
            config: Some(config(300, 80, 110, "30d")),
            etag: String::new(),
            update_mask: None,
        })
        .await
        .unwrap();
    until_status(&b, "acme", Duration::from_secs(1), "new budget", |s| {
        s.max_budget_micros == 300_000_000
    })
    .await;

    for replica in &mut replicas {
        replica.stop().await;
    }
    db.drop_database().await;
}

fn leaders(replicas: &[Replica]) -> Vec<usize> {
    replicas
        .iter()
        .enumerate()
        .filter(|(_, r)| r.stop.is_some() && r.budgets.leads_evaluation())
        .map(|(i, _)| i)
        .collect()
}

#[tokio::test]
async fn the_evaluator_runs_on_one_replica_and_another_takes_over_when_it_stops() {
    use pb::AlertType::{BudgetExceeded, Threshold};
    let (db, sim, mut replicas) = cluster(3, 1).await;
    let client = replicas[0].client.clone();
    let key = create_tenant(&client, "acme", 100).await;
    sim.control().set_spend(&key, 85.0).unwrap();

    // Exactly one replica leads, and its passes record the threshold alert.
    let deadline = Instant::now() + Duration::from_secs(5);
    while first_alerts(&client, "acme").await.is_empty() {
        assert!(Instant::now() < deadline, "no alert recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut leader = None;
    for _ in 0..20 {
        let now = leaders(&replicas);
        assert_eq!(now.len(), 1, "exactly one leader: {now:?}");
        assert_eq!(count_sessions(&db, LEADER_APPLICATION_NAME).await, 1);
        assert!(leader.is_none_or(|l| l == now[0]), "the leader changed");
        leader = Some(now[0]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let leader = leader.unwrap();

    // Stop the leader; another replica's pass records the next alert within ~2 intervals.
    replicas[leader].stop().await;
    let survivor = replicas.iter().position(|r| r.stop.is_some()).unwrap();
    let client = replicas[survivor].client.clone();
    sim.control().set_spend(&key, 105.0).unwrap();
    let started = Instant::now();
    loop {
        let types: Vec<_> = first_alerts(&client, "acme")
            .await
            .iter()
            .map(|a| a.r#type())
            .collect();
        if types.contains(&BudgetExceeded) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_millis(3500),
            "no takeover: alerts {types:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now = leaders(&replicas);
    assert_eq!(now.len(), 1, "one new leader: {now:?}");
    assert_ne!(now[0], leader);

    // A few more passes never duplicate an alert.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut types: Vec<_> = first_alerts(&client, "acme")
        .await
        .iter()
        .map(|a| a.r#type())
        .collect();
    types.sort_by_key(|t| *t as i32);
    assert_eq!(types, vec![Threshold, BudgetExceeded]);

    for replica in &mut replicas {
        replica.stop().await;
    }
    db.drop_database().await;
}

#[tokio::test]
async fn three_replicas_starting_at_once_migrate_a_fresh_database_once() {
    init_test_logs();
    let db = TestDatabase::create().await;
    let sim = SimServer::start("127.0.0.1:0", SIM_MASTER_KEY)
        .await
        .unwrap();
    let builds: Vec<_> = (0..3)
        .map(|_| {
            let settings = settings(&db.url, &sim, 0);
            tokio::spawn(async move { budget_service::Application::build(settings).await })
        })
        .collect();
    let mut apps = Vec::new();
    for build in builds {
        apps.push(build.await.unwrap().expect("a replica builds and migrates"));
    }
    let mut conn = admin_conn(&db).await;
    let (applied, failed): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE NOT success) FROM _sqlx_migrations",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".sql")
        })
        .count();
    assert_eq!((applied, failed), (files as i64, 0));

    // Every replica works on the migrated database.
    let mut replicas = Vec::new();
    for app in apps {
        let addr = app.local_addr();
        let budgets = app.budgets();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        let client = budget_demo::connect(addr, budget_e2e::ADMIN_TOKEN)
            .await
            .unwrap();
        replicas.push(Replica {
            client,
            budgets,
            stop: Some(stop),
            task: Some(task),
        });
    }
    for (i, replica) in replicas.iter().enumerate() {
        let id = format!("tenant-{i}");
        create_tenant(&replica.client, &id, 10).await;
        assert_eq!(
            status(&replica.client, &id).await.max_budget_micros,
            10_000_000
        );
    }
    for replica in &mut replicas {
        replica.stop().await;
    }
    db.drop_database().await;
}
