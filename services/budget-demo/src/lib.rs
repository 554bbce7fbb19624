//! The whole product in one process for the demo and the browser tests: litellm-sim,
//! budget-service and the gateway on loopback, plus seeding of tenants, spend and alerts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use budget_proto::v1 as pb;
use budget_proto::v1::budget_service_client::BudgetServiceClient;
use budget_service::domain::{AlertKind, TenantId};
use budget_service::service::{Budgets, Clock, SystemClock};
use budget_service::store::NewAlert;
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use litellm_sim::{SimControl, SimServer};
use serde::Deserialize;

pub mod ports;
pub mod receiver;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    pub fn new(token: &str) -> anyhow::Result<Bearer> {
        Ok(Bearer(Some(
            format!("Bearer {token}")
                .parse()
                .context("token is not valid header text")?,
        )))
    }

    /// Sends no authorization at all (tests of anonymous callers).
    pub fn absent() -> Bearer {
        Bearer(None)
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A budget-service client that sends a token.
pub type AuthedClient =
    BudgetServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>;

/// Connects a client that sends `token` on every call.
pub async fn connect(addr: SocketAddr, token: &str) -> anyhow::Result<AuthedClient> {
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    Ok(BudgetServiceClient::with_interceptor(
        channel,
        Bearer::new(token)?,
    ))
}

/// Where each part listens; port 0 picks a free port.
#[derive(Clone, Debug)]
pub struct StackConfig {
    pub database_url: String,
    pub sim_addr: String,
    pub sim_master_key: String,
    pub grpc_addr: SocketAddr,
    /// budget-service's HTTP side: the LiteLLM webhook receiver.
    pub http_addr: SocketAddr,
    pub webhook_secret: String,
    pub gateway_addr: SocketAddr,
    pub cache_ttl_secs: u64,
    /// Seconds between evaluator passes; 0 turns the background evaluator off.
    pub eval_interval_secs: u64,
    /// Run a local receiver for alert notifications and point every demo tenant at it.
    pub notification_receiver: bool,
    /// The platform-admin token budget-service accepts from its environment.
    pub bootstrap_token: String,
    /// Run the whole stack as if it were this time (litellm-sim's clock, which keeps running,
    /// and budget-service's "now" both read it). Unset: the wall clock.
    pub start_at: Option<DateTime<Utc>>,
    /// Where budget-service and the gateway send traces (none by default). Each exports under
    /// its own service name, whatever OTEL_SERVICE_NAME says, so the two stay apart.
    pub traces: budget_telemetry::TraceArgs,
}

/// budget-service's "now" read from litellm-sim's clock, so both agree on the date.
pub struct SimTime(pub SimControl);

impl Clock for SimTime {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

/// The signing secret the demo's receiver checks.
pub const DEMO_RECEIVER_SECRET: &str = "demo-receiver-signing-secret";

/// litellm-sim, budget-service and the gateway, running.
pub struct RunningStack {
    /// The demo's notification receiver, when started with one.
    pub receiver: Option<receiver::Receiver>,
    pub sim: SimServer,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub gateway_addr: SocketAddr,
    pub budgets: Arc<Budgets>,
    /// budget-service's database, for seeding what no use case writes (past alerts).
    pub store: budget_service::store::Store,
    /// A client with the platform-admin bootstrap token.
    pub client: AuthedClient,
    pub authenticator: Arc<budget_service::service::auth::Authenticator>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningStack {
    /// Starts the three parts and connects a gRPC client to budget-service.
    pub async fn start(config: &StackConfig) -> anyhow::Result<RunningStack> {
        let sim = SimServer::start(&config.sim_addr, &config.sim_master_key)
            .await
            .with_context(|| format!("starting litellm-sim on {}", config.sim_addr))?;
        let mut settings = budget_service::Settings::new(
            &config.database_url,
            &sim.base_url(),
            &config.sim_master_key,
        );
        settings.grpc_addr = config.grpc_addr;
        settings.bootstrap_token = Some(config.bootstrap_token.clone());
        settings.http_addr = config.http_addr;
        settings.webhook_secret = Some(config.webhook_secret.clone());
        settings.cache_ttl_secs = config.cache_ttl_secs;
        settings.eval_interval_secs = config.eval_interval_secs;
        settings.shutdown_grace_secs = 3;
        let traces = budget_telemetry::TraceArgs {
            service_name: None,
            ..config.traces.clone()
        };
        settings.traces = traces.clone();
        // The receiver starts first: budget-service refuses loopback and plain http targets
        // unless allowed, so the demo allows exactly its receiver's address.
        let receiver = if config.notification_receiver {
            let receiver = receiver::Receiver::start(DEMO_RECEIVER_SECRET).await?;
            settings.notify_allow_http = true;
            settings.notify_allow_hosts = receiver
                .addr
                .to_string()
                .parse()
                .context("the receiver's address as an allow-list entry")?;
            Some(receiver)
        } else {
            None
        };
        let clock: Arc<dyn Clock> = match config.start_at {
            Some(at) => {
                sim.control().set_clock(at);
                Arc::new(SimTime(sim.control()))
            }
            None => Arc::new(SystemClock),
        };
        let app = budget_service::Application::build_with_clock(settings, clock)
            .await
            .context("starting budget-service")?;
        let grpc_addr = app.local_addr();
        let http_addr = app.http_addr();
        let budgets = app.budgets();
        let store = app.store();
        let authenticator = app.authenticator();

        let gateway = budget_gateway::Gateway::build(budget_gateway::Config {
            addr: config.gateway_addr,
            budget_service_url: format!("http://{grpc_addr}")
                .parse()
                .context("budget-service URL")?,
            upstream_timeout: Duration::from_secs(10),
            // A fresh random key per run: signing in again after a restart is fine here.
            session_key: None,
            session_ttl: Duration::from_secs(12 * 3600),
            service_ca_file: None,
            metrics_addr: "127.0.0.1:0".parse()?,
            cookie_secure: None,
            signin_failure_burst: 10,
            signin_failures_per_min: 10,
            traces,
        })
        .await
        .context("starting the gateway")?;
        let gateway_addr = gateway.local_addr();

        let (stop, _) = watch::channel(false);
        let stopped = |stop: &watch::Sender<bool>| {
            let mut rx = stop.subscribe();
            async move {
                let _ = rx.wait_for(|stopped| *stopped).await;
            }
        };
        let service_stopped = stopped(&stop);
        let gateway_stopped = stopped(&stop);
        let tasks = vec![
            tokio::spawn(async move {
                if let Err(error) = app.run_until_stopped(service_stopped).await {
                    tracing::error!(error = %error, "budget-service stopped with an error");
                }
            }),
            tokio::spawn(async move {
                if let Err(error) = gateway.run_until_stopped(gateway_stopped).await {
                    tracing::error!(error = %error, "gateway stopped with an error");
                }
            }),
        ];
        let client = connect(grpc_addr, &config.bootstrap_token).await?;
        Ok(RunningStack {
            receiver,
            sim,
            grpc_addr,
            http_addr,
            gateway_addr,
            budgets,
            store,
            client,
            authenticator,
            stop,
            tasks,
        })
    }

    pub fn sim(&self) -> SimControl {
        self.sim.control()
    }

    /// Stops the gateway and budget-service (each drains), then litellm-sim.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
        self.sim.shutdown().await;
    }

    /// Creates the tenant through the API, then gives its key the seed's spend and history
    /// and records the seed's alerts. Returns the raw virtual key.
    pub async fn seed_tenant(&self, seed: &TenantSeed) -> anyhow::Result<String> {
        let created = self
            .client
            .clone()
            .create_tenant(pb::CreateTenantRequest {
                tenant_id: seed.id.clone(),
                display_name: seed.display_name.clone(),
                config: Some(pb::BudgetConfig {
                    max_budget_micros: dollars_to_micros(seed.max_budget_usd),
                    alert_threshold_percent: seed.alert_threshold_percent,
                    grace_threshold_percent: seed.grace_threshold_percent,
                    budget_duration: seed.budget_duration.clone(),
                    ..Default::default()
                }),
            })
            .await
            .with_context(|| format!("creating tenant {}", seed.id))?
            .into_inner();
        let key = created.virtual_key;
        let sim = self.sim();
        let now = sim.now();
        let today = now.date_naive();
        let reset = sim.key(&key).and_then(|k| k.budget_reset_at);
        let period_start = reset.map_or(today, |reset| {
            period_start(&seed.budget_duration, reset, today)
        });
        let pace = Pace::for_seed(seed, now, reset);
        for (date, usd) in
            daily_series(seed.spend_usd, seed.history_days, period_start, today, pace)
        {
            sim.set_daily_spend(&key, date, usd)?;
        }
        for model in &seed.models {
            sim.add_model_spend(&key, today, &model.model, model.usd)?;
        }
        let models_usd: f64 = seed.models.iter().map(|m| m.usd).sum();
        sim.set_spend(&key, seed.spend_usd + models_usd)?;
        let id = TenantId::parse(&seed.id).context("tenant id")?;
        for (n, alert) in seed.alerts.iter().enumerate() {
            let kind = AlertKind::parse(&alert.kind)
                .with_context(|| format!("alert type {}", alert.kind))?;
            let created_at = now - chrono::Duration::minutes(alert.minutes_ago);
            let record = NewAlert {
                tenant_id: id.clone(),
                kind,
                spend_micros: dollars_to_micros(alert.spend_usd),
                max_budget_micros: dollars_to_micros(seed.max_budget_usd),
                percent: alert.spend_usd / seed.max_budget_usd * 100.0,
                threshold_percent: alert.threshold_percent,
                message: alert.message.clone(),
                dedupe_key: format!("seed:{}:{}:{}", seed.id, n, created_at.timestamp_micros()),
                created_at: Some(created_at),
            };
            self.store.insert_alert(&record).await?;
        }
        // So the fleet view shows the tenant at once, before the evaluator's next pass.
        self.budgets.refresh_status(&seed.id).await?;
        Ok(key)
    }
}

/// A tenant to create, with its spend and alerts.
#[derive(Clone, Debug, Deserialize)]
pub struct TenantSeed {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    pub max_budget_usd: f64,
    #[serde(default = "default_alert")]
    pub alert_threshold_percent: i32,
    #[serde(default = "default_grace")]
    pub grace_threshold_percent: i32,
    #[serde(default = "default_duration")]
    pub budget_duration: String,
    /// Spend in the current period.
    #[serde(default)]
    pub spend_usd: f64,
    /// Days of history ending today (the current period's days sum to `spend_usd`).
    #[serde(default)]
    pub history_days: u32,
    /// Keep the forecast at the reset at or under this % of the budget, on any day of the
    /// period (the recent daily spend is held down to fit). Unset: spend is spread evenly.
    #[serde(default)]
    pub projected_max_percent: Option<f64>,
    #[serde(default)]
    pub alerts: Vec<AlertSeed>,
    /// Calls made today on these models, on top of `spend_usd` (which they add to).
    #[serde(default)]
    pub models: Vec<ModelSeed>,
}

/// Spend on one model today, as LiteLLM's daily activity reports it (`openai/<model>`).
#[derive(Clone, Debug, Deserialize)]
pub struct ModelSeed {
    pub model: String,
    pub usd: f64,
}

/// An alert to record for a seeded tenant.
#[derive(Clone, Debug, Deserialize)]
pub struct AlertSeed {
    /// "threshold", "budget_exceeded", "blocked" or "projected_limit".
    pub kind: String,
    pub spend_usd: f64,
    pub threshold_percent: i32,
    pub message: String,
    pub minutes_ago: i64,
}

fn default_alert() -> i32 {
    80
}
fn default_grace() -> i32 {
    110
}
fn default_duration() -> String {
    "30d".into()
}

fn dollars_to_micros(usd: f64) -> i64 {
    (usd * 1_000_000.0).round() as i64
}

/// The first day of the current period: the 1st of the month for "30d" (LiteLLM snaps it),
/// otherwise the reset minus the period.
fn period_start(duration: &str, reset: DateTime<Utc>, today: NaiveDate) -> NaiveDate {
    let start = match duration {
        "30d" => today.with_day(1),
        other => other
            .trim_end_matches('d')
            .parse::<u64>()
            .ok()
            .and_then(|days| reset.date_naive().checked_sub_days(Days::new(days))),
    };
    start.unwrap_or(today).min(today)
}

/// How fast a seeded tenant has been spending lately, in dollars per day.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// The most the last complete days (what the forecast's rate reads) may average.
    pub recent_max: f64,
    /// The most a day before the current period may hold.
    pub before_period_max: f64,
}

impl Pace {
    /// The pace of a tenant whose forecast at `reset` must stay at or under
    /// `projected_max_percent` of its budget, and whose earlier periods ran at most at the
    /// block amount over 30 days.
    pub fn for_seed(seed: &TenantSeed, now: DateTime<Utc>, reset: Option<DateTime<Utc>>) -> Pace {
        let block = seed.max_budget_usd * f64::from(seed.grace_threshold_percent) / 100.0;
        let recent_max = match (seed.projected_max_percent, reset) {
            // A tenant already at or over its budget gets no forecast alert: no limit.
            (Some(percent), Some(reset)) if seed.spend_usd < seed.max_budget_usd => {
                let days_left = (reset - now).num_seconds().max(1) as f64 / 86_400.0;
                // Up to the target, or half the way to the budget when already past it.
                let room = (seed.max_budget_usd * percent / 100.0 - seed.spend_usd)
                    .max((seed.max_budget_usd - seed.spend_usd) / 2.0);
                room / days_left
            }
            _ => f64::INFINITY,
        };
        Pace {
            recent_max,
            before_period_max: block / 30.0,
        }
    }
}

/// Complete days before today that the forecast's daily rate reads.
const RATE_WINDOW_DAYS: u64 = 7;

/// Daily spends for `history_days` days ending today. The days from `period_start` sum to
/// `period_spend` exactly (to the cent), whatever day of the period today is. The period's
/// complete days inside the forecast's 7-day window run at the period's mean daily spend,
/// held to `pace.recent_max`; the rest of the period's spend falls on its earlier days and
/// on today (a partial day). Days before the period run at the same rate, held to
/// `pace.before_period_max`. Gently varying and deterministic.
pub fn daily_series(
    period_spend: f64,
    history_days: u32,
    period_start: NaiveDate,
    today: NaiveDate,
    pace: Pace,
) -> Vec<(NaiveDate, f64)> {
    let days: Vec<NaiveDate> = (0..history_days)
        .rev()
        .filter_map(|back| today.checked_sub_days(Days::new(u64::from(back))))
        .collect();
    let window_start = today
        .checked_sub_days(Days::new(RATE_WINDOW_DAYS))
        .unwrap_or(today);
    let raw_wave = |d: &NaiveDate| 1.0 + 0.35 * (f64::from(d.ordinal()) * 0.9).sin();
    // Inside the window the wave averages exactly 1, so the window's mean is the rate.
    let window_days: Vec<&NaiveDate> = days
        .iter()
        .filter(|d| **d >= window_start && **d < today)
        .collect();
    let window_norm = if window_days.is_empty() {
        1.0
    } else {
        window_days.iter().map(|d| raw_wave(d)).sum::<f64>() / window_days.len() as f64
    };
    let wave = |d: &NaiveDate| {
        if *d >= window_start && *d < today {
            raw_wave(d) / window_norm
        } else {
            raw_wave(d)
        }
    };
    let complete_in_period = days
        .iter()
        .filter(|d| **d >= period_start && **d < today)
        .count();
    let rate = (period_spend / (complete_in_period as f64 + 0.5))
        .min(pace.recent_max)
        .max(0.0);
    let cents = |usd: f64| (usd * 100.0).round() as i64;
    let period_cents = cents(period_spend);
    let in_window = |d: &NaiveDate| *d >= period_start && *d >= window_start && *d < today;

    // The period's days inside the window first, scaled down if they alone would exceed it.
    let mut window: Vec<(NaiveDate, i64)> = days
        .iter()
        .filter(|d| in_window(d))
        .map(|d| (*d, cents(rate * wave(d))))
        .collect();
    let window_total: i64 = window.iter().map(|(_, c)| c).sum();
    if window_total > period_cents && window_total > 0 {
        for (_, c) in &mut window {
            *c = *c * period_cents / window_total;
        }
    }
    let window_total: i64 = window.iter().map(|(_, c)| c).sum();

    // The rest of the period's spend: its earlier days and today, by weight (today half).
    let rest: Vec<NaiveDate> = days
        .iter()
        .filter(|d| **d >= period_start && !in_window(d))
        .copied()
        .collect();
    let weight = |d: &NaiveDate| if *d == today { wave(d) * 0.5 } else { wave(d) };
    let rest_weight: f64 = rest.iter().map(weight).sum();
    let rest_cents = period_cents - window_total;
    // Cumulative rounding: every share is >= 0 and they sum to the rest exactly.
    let mut cumulative = 0.0;
    let mut assigned = 0i64;
    let mut spread = Vec::with_capacity(rest.len());
    for d in &rest {
        cumulative += weight(d);
        let upto = (rest_cents as f64 * cumulative / rest_weight).round() as i64;
        let upto = if *d == today {
            rest_cents
        } else {
            upto.min(rest_cents)
        };
        spread.push((*d, upto - assigned));
        assigned = upto;
    }

    let before_rate = rate.min(pace.before_period_max);
    days.iter()
        .map(|d| {
            let c = if *d < period_start {
                cents(before_rate * wave(d))
            } else {
                window
                    .iter()
                    .chain(&spread)
                    .find(|(day, _)| day == d)
                    .map_or(0, |(_, c)| *c)
            };
            (*d, c as f64 / 100.0)
        })
        .collect()
}

/// The demo's five tenants: one in each state plus one too new for the trend chart. Their
/// alerts are not seeded: the evaluator records them from the spend, as in production.
pub fn demo_tenants() -> Vec<TenantSeed> {
    let tenant = |id: &str, name: &str, budget: f64, spend: f64, history_days: u32| TenantSeed {
        id: id.into(),
        display_name: name.into(),
        max_budget_usd: budget,
        alert_threshold_percent: 80,
        grace_threshold_percent: 110,
        budget_duration: "30d".into(),
        spend_usd: spend,
        history_days,
        // Each story state holds on every day of the month: the thresholds decide the
        // alerts, never a forecast inflated early in a period.
        projected_max_percent: Some(90.0),
        alerts: Vec::new(),
        models: Vec::new(),
    };
    vec![
        tenant("acme", "Acme Corp", 500.0, 210.0, 45),
        tenant("globex", "Globex", 1000.0, 880.0, 45),
        tenant("initech", "Initech", 200.0, 208.0, 45),
        tenant("umbrella", "Umbrella Corporation", 300.0, 348.0, 45),
        tenant("hooli", "Hooli", 500.0, 15.0, 3),
    ]
}

impl RunningStack {
    /// Seeds the demo's tenants, points litellm-sim's budget webhooks at budget-service and
    /// runs one evaluation pass so alerts and the fleet view are there at once. Returns each
    /// tenant's raw key.
    pub async fn seed_demo(&self, webhook_secret: &str) -> anyhow::Result<Vec<(String, String)>> {
        let mut keys = Vec::new();
        for seed in demo_tenants() {
            keys.push((seed.id.clone(), self.seed_tenant(&seed).await?));
        }
        if let Some(receiver) = &self.receiver {
            // Every tenant notifies the demo's own receiver, signed.
            for (id, _) in &keys {
                self.client
                    .clone()
                    .set_notification_targets(pb::SetNotificationTargetsRequest {
                        tenant_id: id.clone(),
                        targets: vec![pb::NotificationTarget {
                            kind: pb::NotificationKind::Webhook.into(),
                            url: format!("http://{}/budget-alerts", receiver.addr),
                            secret: DEMO_RECEIVER_SECRET.into(),
                            description: "demo receiver (prints to the terminal)".into(),
                            ..Default::default()
                        }],
                    })
                    .await
                    .with_context(|| format!("notification target for {id}"))?;
            }
        }
        self.sim().set_webhook_url(Some(format!(
            "http://{}/hooks/litellm/{webhook_secret}",
            self.http_addr
        )));
        let (_keep, stop) = watch::channel(false);
        self.budgets
            .evaluation_pass(&stop)
            .await
            .map_err(|e| anyhow::anyhow!("first evaluation pass: {e}"))?;
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use budget_service::domain::forecast::forecast;
    use budget_service::domain::history::DailyHistory;
    use chrono::TimeZone;

    /// LiteLLM's "30d" reset: the 1st of the next month, 00:00 UTC.
    fn next_first(now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (y, m) = if now.month() == 12 {
            (now.year() + 1, 1)
        } else {
            (now.year(), now.month() + 1)
        };
        Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()
    }

    #[test]
    fn every_day_of_two_years_keeps_each_demo_tenant_in_its_story() {
        let micros = |usd: f64| (usd * 1_000_000.0).round() as i64;
        let Some(mut day) = NaiveDate::from_ymd_opt(2027, 1, 1) else {
            panic!("a valid date");
        };
        // 2027 and the leap year 2028, each day at three times of day.
        while day.year() <= 2028 {
            for hour in [0, 12, 23] {
                let Some(now) = day.and_hms_opt(hour, 30, 0).map(|t| t.and_utc()) else {
                    panic!("a valid time");
                };
                let reset = next_first(now);
                let start = period_start("30d", reset.unwrap_or(now), day);
                for seed in demo_tenants() {
                    let series = daily_series(
                        seed.spend_usd,
                        seed.history_days,
                        start,
                        day,
                        Pace::for_seed(&seed, now, reset),
                    );
                    assert!(
                        series.iter().all(|(_, usd)| *usd >= 0.0),
                        "{} {now}",
                        seed.id
                    );
                    let period: f64 = series
                        .iter()
                        .filter(|(d, _)| *d >= start)
                        .map(|(_, usd)| usd)
                        .sum();
                    assert!(
                        (period - seed.spend_usd).abs() < 0.005,
                        "{} {now}: {period}",
                        seed.id
                    );
                    let history =
                        DailyHistory::from_days(series.iter().map(|(d, usd)| (*d, micros(*usd))));
                    let budget = micros(seed.max_budget_usd);
                    let f = forecast(micros(seed.spend_usd), budget, &history, now, reset);
                    // Enough history for the trend chart: spend on most days.
                    let spending_days = series.iter().filter(|(_, usd)| *usd > 0.0).count();
                    assert!(
                        spending_days * 10 >= series.len() * 9,
                        "{} {now}: {spending_days} of {} days",
                        seed.id,
                        series.len()
                    );
                    if seed.spend_usd < seed.max_budget_usd {
                        // No forecast alert for the tenants under budget: acme, globex, hooli.
                        assert!(
                            f.projected_spend_micros <= budget,
                            "{} {now}: {f:?}",
                            seed.id
                        );
                    }
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
    }
}
