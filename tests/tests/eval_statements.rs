//! The evaluation pass's PostgreSQL statements grow with pages of tenants, not with tenants:
//! a quiet pass (nothing changed) over 500 tenants makes two statements per page of 100, a
//! pass where every tenant changed a small constant per page. Counted by the store itself
//! (`PassReport::db_statements`, `budget_evaluator_db_statements`), so a fast machine cannot
//! hide a per-tenant round trip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use budget_e2e::{SIM_MASTER_KEY, Stack, key_hash};
use budget_service::service::{EVAL_PAGE, PassReport};
use futures::StreamExt as _;

const TENANTS: usize = 500;
/// A quiet page: the page's SELECT and the UPDATE marking its statuses checked.
const QUIET_PER_PAGE: u64 = 2;
/// A changed page: SELECT, daily spend, the days' spend by model (one DELETE, or with models
/// a transaction: BEGIN, DELETE, INSERT, COMMIT), histories, reset times, the alerts'
/// transaction (BEGIN, alerts, deliveries, COMMIT) and the statuses.
const CHANGED_PER_PAGE: u64 = 13;
/// Per pass: the expired increases' query and the empty page that ends the pass.
const PER_PASS: u64 = 2;

fn raw_key(i: usize) -> String {
    format!("sk-statements-{i:04}")
}

/// 500 tenants with budgets of $100 and keys with our limits, straight into the sim and
/// our schema (as the scale bench seeds them); spend `usd(i)`.
async fn seed(stack: &Stack, usd: impl Fn(usize) -> f64) {
    let http = reqwest::Client::new();
    let base = stack.sim.base_url();
    let generated: Vec<bool> = futures::stream::iter(0..TENANTS)
        .map(|i| {
            let (http, base) = (http.clone(), base.clone());
            let body = serde_json::json!({
                "key": raw_key(i),
                "max_budget": 110.0,
                "soft_budget": 80.0,
                "budget_duration": "30d",
                "spend": usd(i),
            });
            async move {
                http.post(format!("{base}/key/generate"))
                    .bearer_auth(SIM_MASTER_KEY)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(generated.iter().all(|ok| *ok));
    let ids: Vec<String> = (0..TENANTS).map(|i| format!("t{i:04}")).collect();
    let hashes: Vec<String> = (0..TENANTS).map(|i| key_hash(&raw_key(i))).collect();
    sqlx::query(
        "INSERT INTO tenants (tenant_id, display_name, key_alias, key_hash, history_loaded_at) \
         SELECT id, id, 'tenant-' || id, hash, now() FROM UNNEST($1::text[], $2::text[]) AS t(id, hash)",
    )
    .bind(&ids)
    .bind(&hashes)
    .execute(stack.store.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO tenant_configs (tenant_id, max_budget_micros, alert_threshold_percent, \
         grace_threshold_percent, budget_duration) SELECT id, 100000000, 80, 110, '30d' FROM UNNEST($1::text[]) AS t(id)",
    )
    .bind(&ids)
    .execute(stack.store.pool())
    .await
    .unwrap();
}

fn pages() -> u64 {
    u64::try_from(TENANTS.div_ceil(usize::try_from(EVAL_PAGE).unwrap())).unwrap()
}

fn assert_statements(report: &PassReport, per_page: u64, what: &str) {
    assert_eq!(report.pages, usize::try_from(pages()).unwrap(), "{what}");
    let most = per_page * pages() + PER_PASS;
    assert!(
        report.db_statements <= most,
        "{what}: {} statements for {} tenants, at most {most} allowed: {report:?}",
        report.db_statements,
        report.tenants
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quiet_pass_makes_two_statements_per_page_and_a_busy_one_a_few() {
    let stack = Stack::start().await;
    // Every tenant between 0 and 119 % of its budget: alerts of every kind on the first pass.
    seed(&stack, |i| (i % 120) as f64).await;

    let first = stack.evaluate().await;
    assert_eq!(
        (first.tenants, first.evaluated, first.failed),
        (TENANTS, TENANTS, 0)
    );
    assert_eq!(first.unchanged, 0);
    assert!(first.alerts_recorded > 100, "{first:?}");
    assert_statements(&first, CHANGED_PER_PAGE, "first pass, every tenant new");

    let quiet = stack.evaluate().await;
    assert_eq!(
        (quiet.evaluated, quiet.unchanged, quiet.failed),
        (TENANTS, TENANTS, 0)
    );
    assert_eq!(quiet.alerts_recorded, 0);
    assert_statements(&quiet, QUIET_PER_PAGE, "quiet pass");
    assert_eq!(
        stack.metric("budget_evaluator_db_statements"),
        quiet.db_statements as f64
    );
    assert_eq!(
        stack.metric("budget_evaluation_tenants_unchanged"),
        TENANTS as f64
    );
    assert!(!quiet.listing_time.is_zero() && !quiet.own_time.is_zero());
    assert!(stack.metric("budget_evaluation_listing_seconds") > 0.0);
    assert!(stack.metric("budget_evaluation_own_seconds") > 0.0);

    // Every tenant spends more: every page is changed again, and new alerts are due.
    let sim = stack.sim();
    for i in 0..TENANTS {
        sim.set_spend(&raw_key(i), (i % 120) as f64 + 5.0).unwrap();
    }
    let busy = stack.evaluate().await;
    assert_eq!(
        (busy.evaluated, busy.unchanged, busy.failed),
        (TENANTS, 0, 0)
    );
    assert!(busy.alerts_recorded > 0, "{busy:?}");
    assert_statements(&busy, CHANGED_PER_PAGE, "every tenant changed");
    stack.stop().await;
}

/// Tenants for the plan test: enough that reading a table from its first row costs far more
/// than a page.
const PLAN_TENANTS: i64 = 5_000;

/// Rows read by the scans of an `EXPLAIN (ANALYZE, FORMAT JSON)` plan node and its children
/// (rows returned plus rows a filter removed, times the node's loops).
fn rows_scanned(node: &serde_json::Value) -> f64 {
    let own = match node["Node Type"].as_str() {
        Some(kind) if kind.ends_with("Scan") && kind != "Bitmap Index Scan" => {
            let loops = node["Actual Loops"].as_f64().unwrap_or(1.0);
            let removed = ["Rows Removed by Filter", "Rows Removed by Index Recheck"]
                .iter()
                .filter_map(|field| node[*field].as_f64())
                .sum::<f64>();
            (node["Actual Rows"].as_f64().unwrap_or(0.0) + removed) * loops
        }
        _ => 0.0,
    };
    own + node["Plans"]
        .as_array()
        .into_iter()
        .flatten()
        .map(rows_scanned)
        .sum::<f64>()
}

/// Executes `statement` (prepared as `name`) under a cached generic plan, the plan a pool
/// connection uses once it has run a statement a few times, and returns the rows its scans read.
async fn generic_plan_rows(
    conn: &mut sqlx::PgConnection,
    name: &str,
    types: &str,
    statement: &str,
    arguments: &str,
) -> f64 {
    let prepare = format!("PREPARE {name}({types}) AS {statement}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(prepare))
        .execute(&mut *conn)
        .await
        .unwrap();
    let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {name}({arguments})");
    let (plan,): (serde_json::Value,) = sqlx::query_as(sqlx::AssertSqlSafe(explain))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    rows_scanned(&plan[0]["Plan"])
}

/// The pass's page and history reads stay bounded under the generic plan PostgreSQL caches
/// for a statement a connection has run a few times: a page deep in the fleet reads about a
/// page of rows from each table, not every row before it (which made a 100,000-tenant pass
/// quadratic), and the histories one index lookup per tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_page_reads_a_page_of_rows_under_a_cached_plan() {
    let stack = Stack::start().await;
    let pool = stack.store.pool();
    for statement in [
        "INSERT INTO tenants (tenant_id, display_name, key_alias, key_hash, history_loaded_at) \
         SELECT 'p' || lpad(g::text, 5, '0'), 'p', 'key-' || g, md5('a' || g) || md5('b' || g), now() \
         FROM generate_series(1, $1) g",
        "INSERT INTO tenant_configs (tenant_id, max_budget_micros, alert_threshold_percent, \
         grace_threshold_percent, budget_duration) \
         SELECT 'p' || lpad(g::text, 5, '0'), 100000000, 80, 110, '30d' FROM generate_series(1, $1) g",
        "INSERT INTO tenant_status (tenant_id, spend_micros, max_budget_micros, percent_used, \
         state, fetch_time) \
         SELECT 'p' || lpad(g::text, 5, '0'), 0, 100000000, 0, 'ok', now() FROM generate_series(1, $1) g",
        "INSERT INTO daily_spend (tenant_id, day, spend_micros) \
         SELECT 'p' || lpad(g::text, 5, '0'), current_date - d, 1000 \
         FROM generate_series(1, $1) g, generate_series(0, 3) d",
    ] {
        sqlx::query(statement)
            .bind(PLAN_TENANTS)
            .execute(pool)
            .await
            .unwrap();
    }
    // Statistics of the full tables (autovacuum's ANALYZE), so the plans are the ones
    // PostgreSQL picks for a fleet of this size.
    sqlx::query("ANALYZE").execute(pool).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    sqlx::raw_sql("SET plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await
        .unwrap();

    let page = generic_plan_rows(
        &mut conn,
        "deep_page",
        "text, int8",
        budget_service::store::EVALUATION_PAGE_SQL,
        "'p04800', 100",
    )
    .await;
    // A page of 100 from each of three tables (and what the merge joins look at past it);
    // reading from the first row would be 4,800 or more from each.
    assert!(page <= 1_000.0, "a deep page read {page} rows");

    let ids: Vec<String> = (4_801..=4_900).map(|i| format!("'p{i:05}'")).collect();
    let histories = generic_plan_rows(
        &mut conn,
        "histories",
        "text[], date, int8",
        budget_service::store::DAILY_HISTORIES_SQL,
        &format!("ARRAY[{}], current_date - 3, 90", ids.join(",")),
    )
    .await;
    // Four days of 100 tenants, and the 100 ids; every tenant's days would be 20,000.
    assert!(
        histories <= 600.0,
        "100 tenants' histories read {histories} rows"
    );
    drop(conn);
    stack.stop().await;
}
