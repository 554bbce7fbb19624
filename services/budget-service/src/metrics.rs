//! Prometheus metrics of one budget-service: one registry per [`Metrics`], built once by
//! `startup` and handed (in an `Arc`) to what records them: the use cases, the LiteLLM client,
//! the supervisor and, through [`crate::grpc::metrics::GrpcMetrics`] (which registers the gRPC
//! series here), the gRPC layers; the HTTP side's `/metrics` renders it. No global state, so
//! several applications in one process (the tests) each count only their own calls.
//!
//! Series (all prefixed `budget_`):
//! - `grpc_requests_total{method,code}`, `grpc_request_duration_seconds{method,code}`,
//!   `grpc_panics_total{method}` (calls whose handler panicked, answered INTERNAL): registered
//!   by `grpc::metrics`
//! - `status_cache_requests_total{result="hit"|"miss"}`
//! - `litellm_request_duration_seconds{endpoint}`, `litellm_errors_total{endpoint,kind}`
//! - `evaluation_pass_duration_seconds`, `evaluation_passes_total{outcome}`,
//!   `evaluation_lag_seconds` (since the last completed pass, or since start before the first),
//!   `evaluation_interval_seconds` (BUDGET_EVAL_INTERVAL_SECS; 0 when the evaluator is off)
//! - `evaluator_db_statements`, `evaluation_listing_seconds`, `evaluation_own_seconds`,
//!   `evaluation_tenants_unchanged`: the last completed pass's PostgreSQL statements, its
//!   time reading LiteLLM's key list and daily spend vs the rest (our own work), and the
//!   tenants it found unchanged (no PostgreSQL work)
//! - `alerts_recorded_total{type}`
//! - `evaluation_tenant_failures_total{reason="error"|"panic"}`: tenants a pass skipped
//! - `background_task_restarts_total{task}`: supervised tasks started again
//! - `notification_deliveries_pending`, `notification_oldest_pending_age_seconds`: the
//!   delivery backlog of all tenants, sampled by each replica's deliverer
//!
//! Counters whose labels come from a fixed list start at 0 for each value (and a supervised
//! task's restarts once it starts), so the first increase is a visible change to `increase()`
//! and the deploy/monitoring rules; only LiteLLM's (endpoint, kind) pairs, and the gRPC
//! (method, code) pairs, appear on first use.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::{AlertKind, DeliveryBacklog};

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry,
    TextEncoder,
};

/// Buckets for calls that usually take milliseconds and time out after seconds.
pub(crate) const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets for evaluation passes, which take seconds to minutes on a large fleet.
const PASS_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// The process's (or one test application's) metrics.
pub struct Metrics {
    registry: Registry,
    cache_requests: IntCounterVec,
    litellm_duration: HistogramVec,
    litellm_errors: IntCounterVec,
    pass_duration: Histogram,
    passes: IntCounterVec,
    lag: Gauge,
    interval: Gauge,
    last_pass: Mutex<Instant>,
    pass_statements: Gauge,
    pass_listing: Gauge,
    pass_own: Gauge,
    pass_unchanged: Gauge,
    alerts: IntCounterVec,
    tenant_failures: IntCounterVec,
    task_restarts: IntCounterVec,
    deliveries_pending: Gauge,
    oldest_pending_age: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let cache_requests = counter_vec(
            &registry,
            "budget_status_cache_requests_total",
            "Status reads by the cache: hit, or miss (one LiteLLM fill; concurrent waiters on \
             that fill count as hits).",
            &["result"],
        );
        let litellm_duration = histogram_vec(
            &registry,
            "budget_litellm_request_duration_seconds",
            "LiteLLM admin API calls, by endpoint path, successful or not.",
            &["endpoint"],
            LATENCY_BUCKETS,
        );
        let litellm_errors = counter_vec(
            &registry,
            "budget_litellm_errors_total",
            "LiteLLM admin API calls that failed, by endpoint path and kind.",
            &["endpoint", "kind"],
        );
        let pass_duration = Histogram::with_opts(
            HistogramOpts::new(
                "budget_evaluation_pass_duration_seconds",
                "Duration of evaluation passes that completed.",
            )
            .buckets(PASS_BUCKETS.to_vec()),
        )
        .expect("valid static histogram options");
        register(&registry, pass_duration.clone());
        let passes = counter_vec(
            &registry,
            "budget_evaluation_passes_total",
            "Evaluation passes, by outcome: completed, interrupted or failed.",
            &["outcome"],
        );
        let lag = Gauge::with_opts(Opts::new(
            "budget_evaluation_lag_seconds",
            "Seconds since the last completed evaluation pass (since start before the first).",
        ))
        .expect("valid static gauge options");
        register(&registry, lag.clone());
        let interval = gauge(
            &registry,
            "budget_evaluation_interval_seconds",
            "The configured time between evaluation passes (BUDGET_EVAL_INTERVAL_SECS; 0 when \
             this replica runs no evaluator), the unit the lag is judged in.",
        );
        let pass_statements = gauge(
            &registry,
            "budget_evaluator_db_statements",
            "PostgreSQL statements the last completed evaluation pass executed.",
        );
        let pass_listing = gauge(
            &registry,
            "budget_evaluation_listing_seconds",
            "Time the last completed evaluation pass spent reading LiteLLM's key list and daily spend.",
        );
        let pass_own = gauge(
            &registry,
            "budget_evaluation_own_seconds",
            "Time the last completed evaluation pass spent on its own work (PostgreSQL, \
             computation, expiries and repairs): the pass minus the listing.",
        );
        let pass_unchanged = gauge(
            &registry,
            "budget_evaluation_tenants_unchanged",
            "Tenants the last completed evaluation pass found unchanged (no PostgreSQL work).",
        );
        let alerts = counter_vec(
            &registry,
            "budget_alerts_recorded_total",
            "Alerts recorded (new, after deduplication), by type.",
            &["type"],
        );
        let tenant_failures = counter_vec(
            &registry,
            "budget_evaluation_tenant_failures_total",
            "Tenants an evaluation pass could not evaluate (the pass went on with the next), \
             by reason: error or panic.",
            &["reason"],
        );
        let task_restarts = counter_vec(
            &registry,
            "budget_background_task_restarts_total",
            "Background tasks (evaluator, deliverer, cache_listener, purger) restarted after \
             they panicked or ended unexpectedly.",
            &["task"],
        );
        let deliveries_pending = gauge(
            &registry,
            "budget_notification_deliveries_pending",
            "Notification deliveries not yet delivered nor given up (due or waiting for a \
             retry), all tenants, as last sampled by this replica's deliverer.",
        );
        let oldest_pending_age = gauge(
            &registry,
            "budget_notification_oldest_pending_age_seconds",
            "Seconds since the alert of the oldest pending delivery was recorded (0 when none \
             is pending), as last sampled by this replica's deliverer.",
        );
        for result in ["hit", "miss"] {
            cache_requests.with_label_values(&[result]);
        }
        for outcome in ["completed", "interrupted", "failed"] {
            passes.with_label_values(&[outcome]);
        }
        for reason in ["error", "panic"] {
            tenant_failures.with_label_values(&[reason]);
        }
        for kind in AlertKind::ALL {
            alerts.with_label_values(&[kind.as_str()]);
        }
        Metrics {
            deliveries_pending,
            oldest_pending_age,
            tenant_failures,
            task_restarts,
            registry,
            cache_requests,
            litellm_duration,
            litellm_errors,
            pass_duration,
            passes,
            lag,
            interval,
            last_pass: Mutex::new(Instant::now()),
            pass_statements,
            pass_listing,
            pass_own,
            pass_unchanged,
            alerts,
        }
    }

    pub fn cache_hit(&self) {
        self.cache_requests.with_label_values(&["hit"]).inc();
    }

    pub fn cache_miss(&self) {
        self.cache_requests.with_label_values(&["miss"]).inc();
    }

    /// One LiteLLM call; `error` is the failure's kind, if it failed.
    pub fn litellm_call(&self, endpoint: &str, elapsed: Duration, error: Option<&str>) {
        self.litellm_duration
            .with_label_values(&[endpoint])
            .observe(elapsed.as_secs_f64());
        if let Some(kind) = error {
            self.litellm_errors
                .with_label_values(&[endpoint, kind])
                .inc();
        }
    }

    /// A pass that ran to its end.
    pub fn pass_completed(&self, elapsed: Duration) {
        self.pass_duration.observe(elapsed.as_secs_f64());
        self.passes.with_label_values(&["completed"]).inc();
        if let Ok(mut last) = self.last_pass.lock() {
            *last = Instant::now();
        }
    }

    /// What the last completed pass cost: PostgreSQL statements, LiteLLM listing time vs
    /// our own work, and the tenants it found unchanged.
    pub fn pass_cost(&self, statements: u64, listing: Duration, own: Duration, unchanged: usize) {
        // Counts stay far below f64's exact integer range.
        self.pass_statements.set(statements as f64);
        self.pass_listing.set(listing.as_secs_f64());
        self.pass_own.set(own.as_secs_f64());
        self.pass_unchanged.set(unchanged as f64);
    }

    /// BUDGET_EVAL_INTERVAL_SECS, set once at startup.
    pub fn evaluation_interval(&self, secs: u64) {
        // Settings cap the interval far below f64's exact integer range.
        self.interval.set(secs as f64);
    }

    /// A pass stopped by a shutdown (`interrupted`) or an error (`failed`).
    pub fn pass_ended(&self, outcome: &str) {
        self.passes.with_label_values(&[outcome]).inc();
    }

    /// An evaluation pass skipped a tenant: `reason` is "error" or "panic".
    pub fn tenant_evaluation_failed(&self, reason: &str) {
        self.tenant_failures.with_label_values(&[reason]).inc();
    }

    /// A supervised background task starts: its restart count is shown from now on, at 0.
    pub fn task_supervised(&self, task: &str) {
        self.task_restarts.with_label_values(&[task]);
    }

    /// A supervised background task was started again.
    pub fn task_restarted(&self, task: &str) {
        self.task_restarts.with_label_values(&[task]).inc();
    }

    /// The delivery backlog just read from the database.
    pub fn delivery_backlog(&self, backlog: &DeliveryBacklog) {
        // An i64 count far below f64's exact range.
        self.deliveries_pending.set(backlog.pending as f64);
        self.oldest_pending_age
            .set(backlog.oldest_age.as_secs_f64());
    }

    pub fn alert_recorded(&self, kind: &str) {
        self.alerts.with_label_values(&[kind]).inc();
    }

    /// The registry, for series registered by the layer that records them (`grpc::metrics`).
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Everything, in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        if let Ok(last) = self.last_pass.lock() {
            self.lag.set(last.elapsed().as_secs_f64());
        }
        let mut out = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %error, "encoding the metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn register<C: prometheus::core::Collector + 'static>(registry: &Registry, collector: C) {
    // Names are static and distinct, so this fails only on a programming error.
    registry
        .register(Box::new(collector))
        .expect("metric names are distinct");
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    let gauge = Gauge::with_opts(Opts::new(name, help)).expect("valid static gauge options");
    register(registry, gauge.clone());
    gauge
}

pub(crate) fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> IntCounterVec {
    let counter =
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid static counter options");
    register(registry, counter.clone());
    counter
}

pub(crate) fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let histogram = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("valid static histogram options");
    register(registry, histogram.clone());
    histogram
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_counted_series_with_labels() {
        let metrics = Metrics::new();
        metrics.cache_miss();
        metrics.litellm_call("/key/info", Duration::from_millis(2), Some("timeout"));
        metrics.alert_recorded("threshold");
        let text = metrics.render();
        assert!(text.contains("budget_status_cache_requests_total{result=\"miss\"} 1"));
        assert!(
            text.contains("budget_litellm_errors_total{endpoint=\"/key/info\",kind=\"timeout\"} 1")
        );
        assert!(text.contains("budget_alerts_recorded_total{type=\"threshold\"} 1"));
        assert!(text.contains("budget_evaluation_lag_seconds "));
    }

    #[test]
    fn fixed_label_values_start_at_zero_and_the_backlog_is_shown() {
        let metrics = Metrics::new();
        metrics.task_supervised("deliverer");
        metrics.evaluation_interval(60);
        metrics.delivery_backlog(&DeliveryBacklog {
            pending: 3,
            oldest_age: Duration::from_secs(90),
        });
        let text = metrics.render();
        for series in [
            "budget_evaluation_tenant_failures_total{reason=\"panic\"} 0",
            "budget_background_task_restarts_total{task=\"deliverer\"} 0",
            "budget_evaluation_passes_total{outcome=\"failed\"} 0",
            "budget_alerts_recorded_total{type=\"blocked\"} 0",
            "budget_status_cache_requests_total{result=\"hit\"} 0",
            "budget_evaluation_interval_seconds 60",
            "budget_notification_deliveries_pending 3",
            "budget_notification_oldest_pending_age_seconds 90",
        ] {
            assert!(text.contains(series), "{series} missing from {text}");
        }
    }

    #[test]
    fn two_instances_count_separately() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.cache_hit();
        assert!(a.render().contains("result=\"hit\"} 1"));
        assert!(b.render().contains("result=\"hit\"} 0"));
    }
}
