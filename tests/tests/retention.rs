//! The retention purge: only rows older than the window go, from all four tables
//! (deliveries before their alerts), in batches, and one replica at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use budget_e2e::Stack;
use budget_service::store::PurgeCounts;
use sqlx::Connection;

async fn count(conn: &mut sqlx::PgConnection, table: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(conn)
        .await
        .unwrap();
    n
}

/// `n` alerts of acme created `days_ago` days ago, each with one delivery to `target`.
async fn alerts(conn: &mut sqlx::PgConnection, target: i64, n: i32, days_ago: i32, tag: &str) {
    sqlx::query(
        "WITH a AS (INSERT INTO budget_alert_history (tenant_id, alert_type, spend_micros, \
         max_budget_micros, percent, threshold_percent, message, created_at, dedupe_key) \
         SELECT 'acme', 'threshold', 1, 1, 1.0, 80, 'old', now() - make_interval(days => $2), \
         $3 || ':' || i FROM generate_series(1, $1) AS i RETURNING alert_id) \
         INSERT INTO notification_deliveries (alert_id, target_id, status, created_at) \
         SELECT alert_id, $4, 'delivered', now() - make_interval(days => $2) FROM a",
    )
    .bind(n)
    .bind(days_ago)
    .bind(tag)
    .bind(target)
    .execute(conn)
    .await
    .unwrap();
}

async fn audit_events(conn: &mut sqlx::PgConnection, n: i32, days_ago: i32) {
    sqlx::query(
        "INSERT INTO audit_events (tenant_id, actor, action, detail, created_at) \
         SELECT 'acme', 'test', 'old_event', 'x', now() - make_interval(days => $2) \
         FROM generate_series(1, $1)",
    )
    .bind(n)
    .bind(days_ago)
    .execute(conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn purge_removes_only_rows_older_than_the_window_in_batches() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 100).await;
    let mut conn = sqlx::PgConnection::connect(&stack.db.url).await.unwrap();
    let (target,): (i64,) = sqlx::query_as(
        "INSERT INTO notification_targets (tenant_id, kind, url, secret) \
         VALUES ('acme', 'webhook', 'https://example.com/hook', 's3cret') RETURNING target_id",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    // Old: 2,500 alerts with a delivery each, 2,500 audit events, 1,200 days of spend.
    alerts(&mut conn, target, 2_500, 401, "old").await;
    audit_events(&mut conn, 2_500, 500).await;
    sqlx::query(
        "INSERT INTO daily_spend (tenant_id, day, spend_micros) \
         SELECT 'acme', d::date, 1 FROM generate_series(current_date - 1600, current_date - 401, '1 day') AS d",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    // Spend by model on 1,100 of those old days, two models each.
    sqlx::query(
        "INSERT INTO model_spend (tenant_id, day, model, spend_micros) \
         SELECT 'acme', d::date, m, 1 FROM generate_series(current_date - 1500, current_date - 401, '1 day') AS d, \
         unnest(ARRAY['openai/a', 'openai/b']) AS m",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO model_spend (tenant_id, day, model, spend_micros) \
         SELECT 'acme', d::date, 'openai/a', 1 FROM generate_series(current_date - 399, current_date - 390, '1 day') AS d",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    // Newer: inside the 400-day window, including just inside its edge.
    alerts(&mut conn, target, 5, 10, "new").await;
    alerts(&mut conn, target, 2, 399, "edge").await;
    audit_events(&mut conn, 3, 399).await;
    sqlx::query(
        "INSERT INTO daily_spend (tenant_id, day, spend_micros) \
         SELECT 'acme', d::date, 1 FROM generate_series(current_date - 399, current_date - 370, '1 day') AS d",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let audit_before = count(&mut conn, "audit_events").await;
    assert_eq!(count(&mut conn, "daily_spend").await, 1_230);

    let (_keep, stop) = tokio::sync::watch::channel(false);
    let counts = stack
        .budgets
        .purge_old_data(chrono::Duration::days(400), 1_000, &stop)
        .await
        .unwrap()
        .expect("the purge lock is free");
    assert_eq!(
        counts,
        PurgeCounts {
            deliveries: 2_500,
            alerts: 2_500,
            audit_events: 2_500,
            daily_spend: 1_200,
            model_spend: 2_200,
            // 1,000 + 1,000 + 500 for each 2,500-row table, 1,000 + 200 for daily spend,
            // 1,000 + 1,000 + 200 for spend by model.
            batches: 3 + 3 + 3 + 2 + 3,
        }
    );
    assert_eq!(count(&mut conn, "budget_alert_history").await, 7);
    assert_eq!(count(&mut conn, "notification_deliveries").await, 7);
    assert_eq!(count(&mut conn, "audit_events").await, audit_before - 2_500);
    assert_eq!(count(&mut conn, "daily_spend").await, 30);
    assert_eq!(count(&mut conn, "model_spend").await, 10);
    let (oldest_day,): (chrono::NaiveDate,) = sqlx::query_as("SELECT min(day) FROM daily_spend")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let today = chrono::Utc::now().date_naive();
    assert_eq!((today - oldest_day).num_days(), 399);
    // The tenant's own audit trail of this test (tenant_created) is kept.
    let (created,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM audit_events WHERE action = 'tenant_created'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(created, 1);

    // A second purge finds nothing.
    let again = stack
        .budgets
        .purge_old_data(chrono::Duration::days(400), 1_000, &stop)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            again.alerts,
            again.deliveries,
            again.audit_events,
            again.daily_spend
        ),
        (0, 0, 0, 0)
    );
    drop(conn);
    stack.stop().await;
}

#[tokio::test]
async fn one_replica_purges_at_a_time_and_a_stop_ends_the_purge() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 100).await;
    let mut conn = sqlx::PgConnection::connect(&stack.db.url).await.unwrap();
    audit_events(&mut conn, 50, 500).await;
    // Another replica holds the purge lock.
    let mut other = sqlx::PgConnection::connect(&stack.db.url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(hashtextextended('budget-service:retention-purge', 0))")
        .execute(&mut other)
        .await
        .unwrap();
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let skipped = stack
        .budgets
        .purge_old_data(chrono::Duration::days(400), 10, &stop)
        .await
        .unwrap();
    assert!(skipped.is_none());
    assert_eq!(count(&mut conn, "audit_events").await, 51);
    sqlx::query("SELECT pg_advisory_unlock(hashtextextended('budget-service:retention-purge', 0))")
        .execute(&mut other)
        .await
        .unwrap();

    // A stop signal before the first batch: nothing deleted, and the lock is released.
    let (stopped_tx, stopped) = tokio::sync::watch::channel(true);
    let counts = stack
        .budgets
        .purge_old_data(chrono::Duration::days(400), 10, &stopped)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counts, PurgeCounts::default());
    drop(stopped_tx);
    let counts = stack
        .budgets
        .purge_old_data(chrono::Duration::days(400), 10, &stop)
        .await
        .unwrap()
        .unwrap();
    // One batch for each table with nothing to delete, six for the audit events.
    assert_eq!(
        (counts.audit_events, counts.batches),
        (50, 1 + 1 + 6 + 1 + 1)
    );
    assert_eq!(count(&mut conn, "audit_events").await, 1);
    // The lock was released: another session can take it.
    let (free,): (bool,) = sqlx::query_as(
        "SELECT pg_try_advisory_lock(hashtextextended('budget-service:retention-purge', 0))",
    )
    .fetch_one(&mut other)
    .await
    .unwrap();
    assert!(free);
    drop((conn, other));
    stack.stop().await;
}
