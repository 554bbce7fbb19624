//! The paced open-loop load: the mix of calls, the spend and faults moved in the sim while it
//! runs, and what is recorded of each call.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use budget_proto::v1 as pb;
use litellm_sim::{Fault, FaultRule, SimControl};
use tonic::Code;

use super::calls::call;
use super::classify::classify;
use super::{Sample, SoakOptions, SoakReport, Via, tenant_id};
use crate::scale::rss_kib;
use crate::{ADMIN_TOKEN, AuthedClient, admin_database_url};

/// One finished call.
pub(super) struct Outcome {
    pub(super) method: &'static str,
    /// The tenant the call was about (empty for the fleet list).
    pub(super) tenant: String,
    pub(super) via: Via,
    pub(super) started: Instant,
    pub(super) finished: Instant,
    pub(super) result: Result<(), (Code, String)>,
}

/// Results gathered while the load runs; every buffer is allocated before the load starts.
pub(super) struct Recorder {
    pub(super) latencies: BTreeMap<Via, Vec<u32>>,
    /// (method, code) counts of finished calls, classified at the end.
    pub(super) codes: BTreeMap<(&'static str, Via, i32, String), u64>,
    /// Calls that answered UNAVAILABLE: (method, tenant, started, finished, message).
    pub(super) unavailable: Vec<(&'static str, String, Instant, Instant, String)>,
}

impl Recorder {
    fn record(&mut self, outcome: Outcome) {
        let micros = outcome.finished.duration_since(outcome.started).as_micros();
        if let Some(latencies) = self.latencies.get_mut(&outcome.via) {
            latencies.push(u32::try_from(micros).unwrap_or(u32::MAX));
        }
        match outcome.result {
            Ok(()) => {
                *self
                    .codes
                    .entry((outcome.method, outcome.via, 0, String::new()))
                    .or_default() += 1;
            }
            Err((Code::Unavailable, message)) => {
                self.unavailable.push((
                    outcome.method,
                    outcome.tenant,
                    outcome.started,
                    outcome.finished,
                    message,
                ));
            }
            Err((code, message)) => {
                *self
                    .codes
                    .entry((outcome.method, outcome.via, i32::from(code), message))
                    .or_default() += 1;
            }
        }
    }
}

/// What the load needs to make calls.
pub(super) struct Target {
    pub(super) direct: AuthedClient,
    pub(super) http: reqwest::Client,
    pub(super) gateway: String,
    pub(super) cookie: String,
    pub(super) tenants: Vec<String>,
    /// Each tenant's raw virtual key, in the order of `tenants`.
    pub(super) keys: Vec<String>,
}

pub(super) async fn soak(
    options: &SoakOptions,
    control: &SimControl,
    addr: std::net::SocketAddr,
    gateway_addr: std::net::SocketAddr,
    db_name: &str,
    db_max_connections: u32,
) -> anyhow::Result<SoakReport> {
    let direct = budget_demo::connect(addr, ADMIN_TOKEN).await?;
    let tenants: Vec<String> = (0..options.tenants.max(1)).map(tenant_id).collect();
    let today = control.now().date_naive();
    let mut keys = Vec::with_capacity(tenants.len());
    for (i, id) in tenants.iter().enumerate() {
        let created = direct
            .clone()
            .create_tenant(pb::CreateTenantRequest {
                tenant_id: id.clone(),
                display_name: format!("Soak tenant {i}"),
                config: Some(pb::BudgetConfig {
                    max_budget_micros: 100_000_000,
                    alert_threshold_percent: 80,
                    grace_threshold_percent: 110,
                    budget_duration: "30d".into(),
                    ..Default::default()
                }),
            })
            .await
            .with_context(|| format!("creating {id}"))?
            .into_inner();
        let history: Vec<f64> = (0..7).map(|d| 1.0 + ((i + d) % 5) as f64).collect();
        control.seed_daily_history(&created.virtual_key, today, &history)?;
        control.set_spend(&created.virtual_key, ((i * 37) % 90) as f64)?;
        keys.push(created.virtual_key);
    }
    // Each tenant's history is loaded from LiteLLM once, before any fault.
    for id in &tenants {
        direct
            .clone()
            .get_spend_history(pb::GetSpendHistoryRequest {
                tenant_id: id.clone(),
                days: 30,
            })
            .await
            .with_context(|| format!("history of {id}"))?;
    }

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let gateway = format!("http://{gateway_addr}");
    let cookie = grpc_web_client::sign_in(&http, &gateway, ADMIN_TOKEN)
        .await
        .map_err(anyhow::Error::msg)?;
    let target = Arc::new(Target {
        direct,
        http,
        gateway,
        cookie,
        tenants,
        keys,
    });

    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&admin_database_url())
        .await?;

    // Faults from here on: one third each, each rule with its own seed.
    let share = options.fault_rate / 3.0;
    let slow = Duration::from_secs(options.litellm_timeout_secs) + Duration::from_millis(500);
    control.reset_calls();
    control.inject(FaultRule::new("/", Fault::Status500).rate(share).seed(1));
    control.inject(
        FaultRule::new("/", Fault::ConnectionReset)
            .rate(share)
            .seed(2),
    );
    control.inject(FaultRule::new("/", Fault::Slow(slow)).rate(share).seed(3));

    let secs = options.duration.as_secs_f64();
    let total = (options.rps * secs).round() as u64;
    let per_via = usize::try_from(total / 2 + 16).unwrap_or(usize::MAX);
    let recorder = Arc::new(Mutex::new(Recorder {
        latencies: [
            (Via::Grpc, Vec::with_capacity(per_via)),
            (Via::Gateway, Vec::with_capacity(per_via)),
        ]
        .into(),
        codes: BTreeMap::new(),
        unavailable: Vec::with_capacity(per_via / 4),
    }));
    // The sim's injected-fault total every 50 ms, to check each UNAVAILABLE against.
    let timeline_capacity = usize::try_from((secs * 20.0) as u64 + 400).unwrap_or(0);
    let timeline = Arc::new(Mutex::new(Vec::<(Instant, u64)>::with_capacity(
        timeline_capacity,
    )));
    let started = Instant::now();
    // Tells the background tasks to end (a watch: a change is never missed between ticks).
    let (finish, done) = tokio::sync::watch::channel(false);
    let sampler = {
        let admin = admin.clone();
        let db_name = db_name.to_owned();
        let mut done = done.clone();
        let every = options.sample_every;
        let capacity = (secs / every.as_secs_f64()) as usize + 4;
        tokio::spawn(async move {
            let mut samples = Vec::with_capacity(capacity);
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = done.changed() => break,
                }
                samples.push(Sample {
                    at: started.elapsed(),
                    rss_kib: rss_kib(),
                    pg_connections: pg_connections(&admin, &db_name).await,
                });
            }
            samples
        })
    };

    let watcher = {
        let control = control.clone();
        let timeline = timeline.clone();
        let mut done = done.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = done.changed() => break,
                }
                let total: u64 = control.all_injected().values().sum();
                if let Ok(mut timeline) = timeline.lock()
                    && timeline.len() < timeline.capacity()
                {
                    timeline.push((Instant::now(), total));
                }
            }
        })
    };
    // Spend grows: every 250 ms one tenant's spend goes up by 1 % of its budget.
    let mover = {
        let control = control.clone();
        let target = target.clone();
        let mut done = done.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let mut n = 0usize;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = done.changed() => break,
                }
                let raw = &target.keys[n % target.keys.len()];
                if let Some(key) = control.key(raw) {
                    let _ = control.set_spend(raw, key.spend + 1.0);
                }
                n += 1;
            }
        })
    };

    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut not_started = 0u64;
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / options.rps);
        tokio::time::sleep_until(due.into()).await;
        if in_flight.load(Ordering::Relaxed) >= options.max_in_flight {
            not_started += 1;
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let target = target.clone();
        let recorder = recorder.clone();
        let in_flight = in_flight.clone();
        // Detached: a kept JoinHandle would keep the finished task's memory until dropped.
        tokio::spawn(async move {
            for outcome in one_operation(&target, i).await {
                if let Ok(mut recorder) = recorder.lock() {
                    recorder.record(outcome);
                }
            }
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
    let load_duration = started.elapsed();
    // The calls still in flight finish within the clients' timeouts.
    let drained = Instant::now();
    while in_flight.load(Ordering::Relaxed) > 0 && drained.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last = Sample {
        at: started.elapsed(),
        rss_kib: rss_kib(),
        pg_connections: pg_connections(&admin, db_name).await,
    };
    let _ = finish.send(true);
    let _ = watcher.await;
    let _ = mover.await;
    let mut samples = sampler.await.unwrap_or_default();
    samples.push(last);
    control.clear_faults();
    admin.close().await;

    let recorder = {
        let mut guard = recorder
            .lock()
            .map_err(|_| anyhow::anyhow!("a call panicked while recording"))?;
        Recorder {
            latencies: std::mem::take(&mut guard.latencies),
            codes: std::mem::take(&mut guard.codes),
            unavailable: std::mem::take(&mut guard.unavailable),
        }
    };
    let timeline = timeline.lock().map(|t| t.clone()).unwrap_or_default();
    let window_slack = Duration::from_secs(options.litellm_timeout_secs) + slow;
    Ok(classify(
        recorder,
        &timeline,
        window_slack,
        SoakReport {
            options: options.clone(),
            load_duration,
            calls_by_via: BTreeMap::new(),
            results: BTreeMap::new(),
            unexpected: BTreeMap::new(),
            latency: BTreeMap::new(),
            not_started,
            litellm_calls: control.all_calls(),
            injected: control.all_injected(),
            warm_index: samples
                .iter()
                .position(|s| s.at >= options.warmup)
                .unwrap_or(0),
            samples,
            passes: BTreeMap::new(),
            db_max_connections,
            failed_litellm_uses: 0,
            load_average: std::fs::read_to_string("/proc/loadavg").unwrap_or_default(),
        },
    ))
}

/// Connections PostgreSQL has open to `database` (-1 when the count cannot be read).
pub(super) async fn pg_connections(admin: &sqlx::PgPool, database: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
        .bind(database)
        .fetch_one(admin)
        .await
        .unwrap_or(-1)
}

/// A deterministic pseudo-random number for call `i`.
pub(super) fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Call `i` of the mix: mostly statuses, then histories, alerts, the fleet list, and an update
/// (read the config for its etag, then write) on one of a few busy tenants, so updates race.
pub(super) async fn one_operation(target: &Target, i: u64) -> Vec<Outcome> {
    let via = if i.is_multiple_of(2) {
        Via::Grpc
    } else {
        Via::Gateway
    };
    let r = mix(i);
    let tenant = target.tenants[(r >> 8) as usize % target.tenants.len()].as_str();
    match r % 100 {
        0..=54 => vec![
            call::<_, pb::GetBudgetStatusResponse>(
                target,
                via,
                "GetBudgetStatus",
                tenant,
                pb::GetBudgetStatusRequest {
                    tenant_id: tenant.to_owned(),
                },
            )
            .await
            .0,
        ],
        55..=66 => vec![
            call::<_, pb::GetSpendHistoryResponse>(
                target,
                via,
                "GetSpendHistory",
                tenant,
                pb::GetSpendHistoryRequest {
                    tenant_id: tenant.to_owned(),
                    days: 30,
                },
            )
            .await
            .0,
        ],
        67..=78 => vec![
            call::<_, pb::ListAlertsResponse>(
                target,
                via,
                "ListAlerts",
                tenant,
                pb::ListAlertsRequest {
                    tenant_id: tenant.to_owned(),
                    page_size: 20,
                    ..Default::default()
                },
            )
            .await
            .0,
        ],
        79..=90 => vec![
            call::<_, pb::ListTenantsResponse>(
                target,
                via,
                "ListTenants",
                "",
                pb::ListTenantsRequest {
                    page_size: 50,
                    ..Default::default()
                },
            )
            .await
            .0,
        ],
        _ => {
            let busy = target.tenants[(r >> 8) as usize % target.tenants.len().min(4)].as_str();
            let (read, config) = call::<_, pb::GetBudgetConfigResponse>(
                target,
                via,
                "GetBudgetConfig",
                busy,
                pb::GetBudgetConfigRequest {
                    tenant_id: busy.to_owned(),
                },
            )
            .await;
            let Some(config) = config.and_then(|c| c.config) else {
                return vec![read];
            };
            // Alternate between two budgets so every update changes something.
            let max_budget_micros = if config.max_budget_micros == 100_000_000 {
                120_000_000
            } else {
                100_000_000
            };
            let etag = config.etag.clone();
            let (write, _) = call::<_, pb::UpdateBudgetConfigResponse>(
                target,
                via,
                "UpdateBudgetConfig",
                busy,
                pb::UpdateBudgetConfigRequest {
                    tenant_id: busy.to_owned(),
                    config: Some(pb::BudgetConfig {
                        max_budget_micros,
                        ..config
                    }),
                    etag,
                    update_mask: None,
                },
            )
            .await;
            vec![read, write]
        }
    }
}
