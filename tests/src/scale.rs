//! The scale benchmark behind `scale-bench` (and its smoke test): N tenants inserted straight
//! into PostgreSQL (10,000 rows per `UNNEST` statement), N keys in an in-process litellm-sim,
//! budget-service in-process with its background evaluator off. Measures evaluation passes
//! (time, split into LiteLLM's listing and our own work, PostgreSQL statements, LiteLLM calls
//! and bytes), ListTenants pages over gRPC, and the process's RSS before and after every
//! status is cached. Pass 1 finds every tenant new, pass 2 nothing changed, and from pass 3
//! on a tenth of the keys have new spend before each pass (a busy hour).
//!
//! The split, the statement count, the pages and the unchanged tenants are what the pass
//! itself reports (`PassReport`, the same figures budget-service exports as
//! `budget_evaluation_listing_seconds`, `budget_evaluation_own_seconds`,
//! `budget_evaluator_db_statements` and `budget_evaluation_tenants_unchanged`).
//!
//! [`ScaleReport::write_section`] keeps one row per fleet size in BENCHMARKS.md's scale
//! section, between markers that `budget-bench` carries over when it rewrites the file.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use budget_proto::v1 as pb;
use budget_service::Settings;
use futures::StreamExt;
use litellm_sim::SimServer;

use crate::{ADMIN_TOKEN, SIM_MASTER_KEY, TestDatabase};

/// What to measure.
#[derive(Clone, Debug)]
pub struct ScaleOptions {
    pub tenants: usize,
    /// Concurrent requests while creating keys and filling the status cache.
    pub concurrency: usize,
    /// Evaluation passes to time (the first writes every tenant's status and its alerts; 0:
    /// none, the memory benchmark fills the cache with GetBudgetStatus alone).
    pub passes: usize,
    /// Keep the database afterwards (its name is printed).
    pub keep_database: bool,
    /// Live heap bytes of this process, where the binary counts them (budget-bench's memory
    /// figure installs a counting allocator); read next to each RSS reading.
    pub heap_bytes: Option<fn() -> usize>,
}

impl Default for ScaleOptions {
    fn default() -> ScaleOptions {
        ScaleOptions {
            tenants: 100_000,
            concurrency: 64,
            passes: 3,
            keep_database: false,
            heap_bytes: None,
        }
    }
}

/// One evaluation pass.
#[derive(Clone, Debug)]
pub struct PassFigures {
    pub duration: Duration,
    /// Keys whose spend changed since the previous pass.
    pub keys_changed: usize,
    /// Time reading LiteLLM's key list and daily spend, as the pass reports it.
    pub listing: Duration,
    /// The rest of the pass: PostgreSQL, computation, repairs.
    pub own: Duration,
    /// PostgreSQL statements the pass executed.
    pub db_statements: u64,
    /// Pages of tenants the pass went through.
    pub pages: usize,
    /// Tenants the pass found unchanged (no PostgreSQL work).
    pub unchanged: usize,
    /// LiteLLM calls by path.
    pub calls: BTreeMap<String, u64>,
    /// Response bytes of the pass's `/key/list` pages and activity call (re-fetched with the
    /// same requests after the pass; other paths are counted in `calls` only).
    pub response_bytes: u64,
    pub evaluated: usize,
    pub failed: usize,
    pub alerts_recorded: usize,
    pub keys_repaired: usize,
}

impl PassFigures {
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }

    /// `listing s / own s`.
    fn split(&self) -> String {
        format!(
            "{:.2} s / {:.2} s",
            self.listing.as_secs_f64(),
            self.own.as_secs_f64()
        )
    }

    /// PostgreSQL statements per page of tenants.
    pub fn statements_per_page(&self) -> f64 {
        self.db_statements as f64 / self.pages.max(1) as f64
    }
}

/// Microseconds per tenant of `time`.
fn per_tenant_us(time: Duration, tenants: usize) -> f64 {
    time.as_secs_f64() * 1e6 / tenants.max(1) as f64
}

/// Everything the benchmark measured.
#[derive(Clone, Debug)]
pub struct ScaleReport {
    pub tenants: usize,
    pub seed_keys: Duration,
    pub seed_sql: Duration,
    /// Median of several first pages (500 tenants) ordered by id.
    pub list_by_id_first_page: Duration,
    /// Median page time while walking up to 20 pages of 500 by id (keyset pages).
    pub list_by_id_deep_page: Duration,
    /// Median of several first pages ordered by percent used, highest first.
    pub list_by_percent_first_page: Duration,
    pub list_by_percent_deep_page: Duration,
    pub passes: Vec<PassFigures>,
    /// GetBudgetStatus for every tenant (filling the cache), in-process, `concurrency` at once.
    pub cache_fill: Duration,
    pub cache_fill_failed: usize,
    /// LiteLLM calls the fill made (0 when the passes already left every status cached).
    pub cache_fill_litellm_calls: u64,
    /// VmRSS (KiB) of this process: at start, after the sim holds every key, after
    /// budget-service started and ran its passes, after every status is cached.
    pub rss_start_kib: u64,
    pub rss_after_keys_kib: u64,
    pub rss_after_passes_kib: u64,
    pub rss_all_cached_kib: u64,
    /// Live heap bytes after the passes and with every status cached (with `heap_bytes`).
    pub heap_after_passes: Option<usize>,
    pub heap_all_cached: Option<usize>,
}

impl ScaleReport {
    /// The report as printed by `scale-bench`.
    pub fn render(&self) -> String {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
        let mut out = String::new();
        out.push_str(&format!("tenants: {}\n", self.tenants));
        out.push_str(&format!(
            "seeding: {:.1} s keys in litellm-sim, {:.1} s SQL\n",
            self.seed_keys.as_secs_f64(),
            self.seed_sql.as_secs_f64()
        ));
        out.push_str(&format!(
            "ListTenants (500/page, gRPC): by id first {} deep {}; by percent used first {} deep {}\n",
            ms(self.list_by_id_first_page),
            ms(self.list_by_id_deep_page),
            ms(self.list_by_percent_first_page),
            ms(self.list_by_percent_deep_page)
        ));
        for (i, pass) in self.passes.iter().enumerate() {
            out.push_str(&format!(
                "evaluation pass {} ({} keys changed): {:.2} s ({:.1} µs per tenant), LiteLLM listing / own work {}, own work {:.1} µs per tenant, PostgreSQL statements {} ({:.1} per page of {}), unchanged {}, {} LiteLLM calls {:?}, {:.1} MiB of /key/list + activity responses, evaluated {}, failed {}, alerts {}, repaired {}\n",
                i + 1,
                pass.keys_changed,
                pass.duration.as_secs_f64(),
                per_tenant_us(pass.duration, self.tenants),
                pass.split(),
                per_tenant_us(pass.own, self.tenants),
                pass.db_statements,
                pass.statements_per_page(),
                budget_service::service::EVAL_PAGE,
                pass.unchanged,
                pass.total_calls(),
                pass.calls,
                pass.response_bytes as f64 / (1024.0 * 1024.0),
                pass.evaluated,
                pass.failed,
                pass.alerts_recorded,
                pass.keys_repaired
            ));
        }
        out.push_str(&format!(
            "GetBudgetStatus for every tenant: {:.2} s, {} LiteLLM calls ({} failed)\n",
            self.cache_fill.as_secs_f64(),
            self.cache_fill_litellm_calls,
            self.cache_fill_failed
        ));
        out.push_str(&format!(
            "RSS: start {}, sim holding keys {}, + budget-service after passes {}, all statuses cached {}\n",
            mib(self.rss_start_kib),
            mib(self.rss_after_keys_kib),
            mib(self.rss_after_passes_kib),
            mib(self.rss_all_cached_kib)
        ));
        out.push_str(&format!(
            "budget-service share (RSS minus the sim's): ~{} with every status cached\n",
            mib(self
                .rss_all_cached_kib
                .saturating_sub(self.rss_after_keys_kib)
                .saturating_add(self.rss_start_kib))
        ));
        out
    }
}

/// This process's resident set size in KiB (0 where /proc is missing).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Tenant i's budget in dollars, spend in dollars (0..119 % of its budget) and raw key.
fn tenant_row(i: usize) -> (String, f64, f64, String) {
    let budget = 100.0 + (i % 10) as f64 * 50.0;
    let percent = (i.wrapping_mul(7919) % 120) as f64;
    (
        format!("t{i:07}"),
        budget,
        budget * percent / 100.0,
        format!("sk-scale-{i:07}"),
    )
}

/// Before pass `pass` (2 and up): a tenth of the keys (a different tenth each time) spend
/// 1 % of their budget more. Returns how many changed.
fn spend_more(control: &litellm_sim::SimControl, n: usize, pass: usize) -> anyhow::Result<usize> {
    let mut changed = 0;
    for i in (pass % 10..n).step_by(10) {
        let (_, budget, spend, raw) = tenant_row(i);
        control.set_spend(&raw, spend + budget * 0.01 * (pass - 1) as f64)?;
        changed += 1;
    }
    Ok(changed)
}

fn hash(raw: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(raw.as_bytes()))
}

/// Runs the whole benchmark against PostgreSQL at `TEST_DATABASE_ADMIN_URL` (or the local
/// default) in a database of its own.
pub async fn run(options: &ScaleOptions) -> anyhow::Result<ScaleReport> {
    let rss_start_kib = rss_kib();
    let db = TestDatabase::create().await;
    let result = run_in(&db, options, rss_start_kib).await;
    if options.keep_database {
        eprintln!("kept database {}", db.name);
    } else {
        db.drop_database().await;
    }
    result
}

async fn run_in(
    db: &TestDatabase,
    options: &ScaleOptions,
    rss_start_kib: u64,
) -> anyhow::Result<ScaleReport> {
    let n = options.tenants;
    let sim = SimServer::start("127.0.0.1:0", SIM_MASTER_KEY).await?;
    let control = sim.control();
    let base = sim.base_url();
    let http = reqwest::Client::new();

    // Keys, through the sim's real /key/generate, with the limits budget-service would set
    // (block = budget x 110 %, soft = budget x 80 %), so the evaluator has nothing to repair.
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..n)
        .map(|i| {
            let http = http.clone();
            let base = base.clone();
            async move {
                let (_, budget, spend, raw) = tenant_row(i);
                let body = serde_json::json!({
                    "key": raw,
                    "max_budget": budget * 1.1,
                    "soft_budget": budget * 0.8,
                    "budget_duration": "30d",
                    "spend": spend,
                });
                let answer = http
                    .post(format!("{base}/key/generate"))
                    .bearer_auth(SIM_MASTER_KEY)
                    .json(&body)
                    .send()
                    .await?;
                anyhow::ensure!(
                    answer.status().is_success(),
                    "/key/generate: {}",
                    answer.status()
                );
                Ok(())
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    let seed_keys = started.elapsed();
    let rss_after_keys_kib = rss_kib();

    // Tenants and configs straight into our schema, 10,000 rows per statement.
    let started = Instant::now();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&db.url)
        .await?;
    let mut settings = Settings::new(&db.url, &base, SIM_MASTER_KEY);
    settings.grpc_addr = "127.0.0.1:0".parse()?;
    settings.http_addr = "127.0.0.1:0".parse()?;
    settings.bootstrap_token = Some(ADMIN_TOKEN.into());
    settings.eval_interval_secs = 0;
    settings.delivery_poll_ms = 0;
    settings.cache_ttl_secs = 3600;
    settings.shutdown_grace_secs = 1;
    // Migrations run here, before the rows go in.
    let app = budget_service::Application::build(settings).await?;
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let mut ids = Vec::with_capacity(chunk.len());
        let mut names = Vec::with_capacity(chunk.len());
        let mut aliases = Vec::with_capacity(chunk.len());
        let mut hashes = Vec::with_capacity(chunk.len());
        let mut budgets = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let (id, budget, _, raw) = tenant_row(i);
            names.push(format!("Tenant {i}"));
            aliases.push(format!("tenant-{id}"));
            ids.push(id);
            hashes.push(hash(&raw));
            budgets.push((budget * 1_000_000.0) as i64);
        }
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO tenants (tenant_id, display_name, key_alias, key_hash, history_loaded_at)
             SELECT id, name, alias, hash, now()
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS t(id, name, alias, hash)",
        )
        .bind(&ids)
        .bind(&names)
        .bind(&aliases)
        .bind(&hashes)
        .execute(&mut *tx)
        .await
        .context("inserting tenants")?;
        sqlx::query(
            "INSERT INTO tenant_configs (tenant_id, max_budget_micros, alert_threshold_percent,
                                         grace_threshold_percent, budget_duration)
             SELECT id, budget, 80, 110, '30d'
             FROM UNNEST($1::text[], $2::bigint[]) AS t(id, budget)",
        )
        .bind(&ids)
        .bind(&budgets)
        .execute(&mut *tx)
        .await
        .context("inserting tenant configs")?;
        tx.commit().await?;
    }
    sqlx::query("ANALYZE").execute(&pool).await?;
    let seed_sql = started.elapsed();

    let addr = app.local_addr();
    let budgets = app.budgets();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stop_rx.await;
    }));

    // Evaluation passes.
    let mut passes = Vec::new();
    for pass in 0..options.passes {
        let keys_changed = if pass >= 2 {
            spend_more(&control, n, pass)?
        } else if pass == 0 {
            n
        } else {
            0
        };
        control.reset_calls();
        let (_keep, stop) = tokio::sync::watch::channel(false);
        let started = Instant::now();
        let report = budgets.evaluation_pass(&stop).await?;
        let duration = started.elapsed();
        let calls = control.all_calls();
        let response_bytes = pass_bytes(&http, &base, &calls, control.now()).await?;
        let figures = PassFigures {
            duration,
            keys_changed,
            listing: report.listing_time,
            own: report.own_time,
            db_statements: report.db_statements,
            pages: report.pages,
            unchanged: report.unchanged,
            calls,
            response_bytes,
            evaluated: report.evaluated,
            failed: report.failed,
            alerts_recorded: report.alerts_recorded,
            keys_repaired: report.keys_repaired,
        };
        passes.push(figures);
    }
    let rss_after_passes_kib = rss_kib();
    let heap_after_passes = options.heap_bytes.map(|read| read());

    // ListTenants over gRPC with the admin token.
    let client = budget_demo::connect(addr, ADMIN_TOKEN).await?;
    let (by_id_first, by_id_deep) = time_pages(&client, "tenant_id").await?;
    let (by_pct_first, by_pct_deep) = time_pages(&client, "percent_used desc").await?;

    // Every status into the cache (one /key/info per tenant not cached yet).
    control.reset_calls();
    let started = Instant::now();
    let failed = futures::stream::iter(0..n)
        .map(|i| {
            let budgets = Arc::clone(&budgets);
            async move { budgets.status(&tenant_row(i).0).await.is_err() }
        })
        .buffer_unordered(options.concurrency.max(1))
        .filter(|failed| futures::future::ready(*failed))
        .count()
        .await;
    let cache_fill = started.elapsed();
    let cache_fill_litellm_calls = control.all_calls().values().sum();
    let rss_all_cached_kib = rss_kib();
    let heap_all_cached = options.heap_bytes.map(|read| read());

    let _ = stop_tx.send(());
    let _ = server.await;
    pool.close().await;
    sim.shutdown().await;

    Ok(ScaleReport {
        tenants: n,
        seed_keys,
        seed_sql,
        list_by_id_first_page: by_id_first,
        list_by_id_deep_page: by_id_deep,
        list_by_percent_first_page: by_pct_first,
        list_by_percent_deep_page: by_pct_deep,
        passes,
        cache_fill,
        cache_fill_failed: failed,
        cache_fill_litellm_calls,
        rss_start_kib,
        rss_after_keys_kib,
        rss_after_passes_kib,
        rss_all_cached_kib,
        heap_after_passes,
        heap_all_cached,
    })
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// (median first page of 5, median page while walking up to 20 pages).
async fn time_pages(
    client: &crate::AuthedClient,
    order_by: &str,
) -> anyhow::Result<(Duration, Duration)> {
    let request = |token: String| pb::ListTenantsRequest {
        page_size: 500,
        page_token: token,
        order_by: order_by.to_owned(),
        ..Default::default()
    };
    let mut firsts = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let page = client
            .clone()
            .list_tenants(request(String::new()))
            .await?
            .into_inner();
        firsts.push(started.elapsed());
        anyhow::ensure!(!page.tenants.is_empty(), "ListTenants answered no tenants");
    }
    let mut deep = Vec::new();
    let mut token = String::new();
    for _ in 0..20 {
        let started = Instant::now();
        let page = client
            .clone()
            .list_tenants(request(token))
            .await?
            .into_inner();
        deep.push(started.elapsed());
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok((median(firsts), median(deep)))
}

/// Re-fetches the pass's `/key/list` pages and its activity call with the same queries
/// budget-service sends, and sums the response bytes.
async fn pass_bytes(
    http: &reqwest::Client,
    base: &str,
    calls: &BTreeMap<String, u64>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<u64> {
    let mut bytes = 0_u64;
    let pages = calls.get("/key/list").copied().unwrap_or(0);
    for page in 1..=pages {
        let body = http
            .get(format!("{base}/key/list"))
            .bearer_auth(SIM_MASTER_KEY)
            .query(&[
                ("return_full_object", "true"),
                ("page", page.to_string().as_str()),
                ("size", "100"),
            ])
            .send()
            .await?
            .bytes()
            .await?;
        bytes += body.len() as u64;
    }
    let activity = calls
        .get("/user/daily/activity/aggregated")
        .copied()
        .unwrap_or(0);
    if activity > 0 {
        let today = now.date_naive();
        let yesterday = today.pred_opt().unwrap_or(today);
        let body = http
            .get(format!("{base}/user/daily/activity/aggregated"))
            .bearer_auth(SIM_MASTER_KEY)
            .query(&[
                (
                    "start_date",
                    yesterday.format("%Y-%m-%d").to_string().as_str(),
                ),
                ("end_date", today.format("%Y-%m-%d").to_string().as_str()),
                ("include_current_utc_day", "true"),
            ])
            .send()
            .await?
            .bytes()
            .await?;
        bytes += body.len() as u64 * activity;
    }
    Ok(bytes)
}

/// The first line of BENCHMARKS.md's scale section (which `budget-bench` carries over).
pub const SECTION_BEGIN: &str = "<!-- scale-bench: begin -->";
/// The last line of the scale section.
pub const SECTION_END: &str = "<!-- scale-bench: end -->";

const SECTION_HEAD: &str = "## Scale: evaluation pass and ListTenants by fleet size

Written by `cargo run --release -p budget-e2e --bin scale-bench -- --tenants N --write` (one row \
per fleet size, each from the commit it names; README's sizing section reads them). In-process \
litellm-sim and budget-service, PostgreSQL on the same 2-core host. A pass cell is its time, \
then (LiteLLM listing / our own work) and PostgreSQL statements. Pass 1 finds every tenant new, \
pass 2 finds nothing changed, pass 3 follows new spend on a tenth of the keys. Targets (issue \
20): 100,000 tenants' pass under 60 s with our own work under 15 s; per-tenant cost at 100,000 \
within 1.2x of 10,000; ListTenants first page under 50 ms at 1,000,000.

| tenants | commit | pass 1: all new | pass 2: quiet | pass 3: 10 % changed | µs per tenant, pass 1: all / own | ListTenants first page (500): by id / by % used | RSS all cached: process / budget-service share |
|---|---|---|---|---|---|---|---|";

impl ScaleReport {
    fn pass_cell(&self, index: usize) -> String {
        self.passes.get(index).map_or("-".into(), |pass| {
            format!(
                "{:.1} s ({}), {} statements",
                pass.duration.as_secs_f64(),
                pass.split(),
                pass.db_statements
            )
        })
    }

    /// This run's row of the scale table.
    pub fn table_row(&self, commit: &str) -> String {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let mib = |kib: u64| format!("{:.0} MiB", kib as f64 / 1024.0);
        let per_tenant = self.passes.first().map_or("-".into(), |pass| {
            format!(
                "{:.0} / {:.0}",
                per_tenant_us(pass.duration, self.tenants),
                per_tenant_us(pass.own, self.tenants)
            )
        });
        format!(
            "| {} | {} | {} | {} | {} | {} | {} / {} | {} / {} |",
            self.tenants,
            commit,
            self.pass_cell(0),
            self.pass_cell(1),
            self.pass_cell(2),
            per_tenant,
            ms(self.list_by_id_first_page),
            ms(self.list_by_percent_first_page),
            mib(self.rss_all_cached_kib),
            mib(self.service_share_kib()),
        )
    }

    /// RSS added by budget-service: the process with every status cached minus the process
    /// when only the sim held its keys (an upper bound: the sim's own work during the passes
    /// is counted too).
    pub fn service_share_kib(&self) -> u64 {
        self.rss_all_cached_kib
            .saturating_sub(self.rss_after_keys_kib)
            .saturating_add(self.rss_start_kib)
    }

    /// `benchmarks` (BENCHMARKS.md's text) with this run's row in the scale section, replacing
    /// the row of the same fleet size; the section is added at the end if it is missing.
    pub fn write_section(&self, benchmarks: &str, commit: &str) -> String {
        let mut rows: BTreeMap<usize, String> = carried_section(benchmarks)
            .into_iter()
            .flat_map(str::lines)
            .filter_map(|line| {
                let first = line.strip_prefix("| ")?.split(" |").next()?;
                Some((first.trim().parse().ok()?, line.to_owned()))
            })
            .collect();
        rows.insert(self.tenants, self.table_row(commit));
        let mut section = format!("{SECTION_BEGIN}\n{SECTION_HEAD}\n");
        for row in rows.values() {
            section.push_str(row);
            section.push('\n');
        }
        section.push_str(SECTION_END);
        match (benchmarks.find(SECTION_BEGIN), benchmarks.find(SECTION_END)) {
            (Some(begin), Some(end)) if begin < end => format!(
                "{}{section}{}",
                &benchmarks[..begin],
                &benchmarks[end + SECTION_END.len()..]
            ),
            _ => format!("{}\n\n{section}\n", benchmarks.trim_end()),
        }
    }
}

/// The scale section of BENCHMARKS.md's text, markers included, if it has one.
pub fn carried_section(benchmarks: &str) -> Option<&str> {
    let begin = benchmarks.find(SECTION_BEGIN)?;
    let end = benchmarks[begin..].find(SECTION_END)? + begin + SECTION_END.len();
    Some(&benchmarks[begin..end])
}
