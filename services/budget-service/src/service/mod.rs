//! The budget use cases: status, settings, alerts, history, tenants, audit and alert
//! notifications, one module per use case.
//!
//! Holds the one store, the one LiteLLM client and the caches. Knows neither protobuf
//! nor SQL; errors are [`BudgetError`](crate::error::BudgetError). Children share helpers
//! through `shared`, never through this module.

pub mod auth;
mod config;
mod evaluation;
mod exports;
mod fleet;
mod increases;
mod invalidation;
mod lifecycle;
mod lists;
mod notifications;
mod preview;
pub(crate) mod retention;
mod shared;
mod status;
mod status_cache;
mod tenants;

pub(crate) use evaluation::KeyWebhook;
pub use evaluation::{EVAL_PAGE, PassReport};
pub(crate) use fleet::FleetSummary;
pub(crate) use lists::{AlertEntry, TenantOverview};
pub use notifications::Deliveries;
pub(crate) use notifications::{DeliveryOutcome, DeliveryPolicy};
pub(crate) use shared::Actor;

// The clock lives in `crate::clock`; re-exported so callers naming `service::Clock` compile.
pub use crate::clock::{Clock, SystemClock};

use std::sync::Arc;
use std::time::Duration;

use crate::litellm::LiteLlmClient;
use crate::store::Store;

/// The budget service's use cases.
pub struct Budgets {
    store: Store,
    litellm: LiteLlmClient,
    clock: Arc<dyn Clock>,
    statuses: status_cache::StatusCache,
    /// This application's Prometheus metrics, built at startup (the use cases record status
    /// cache reads, evaluation passes and alerts in it).
    metrics: Arc<crate::metrics::Metrics>,
    /// Counts invalidations from other replicas' notifications, so a fill that raced one
    /// is not kept (see `status`).
    invalidations: std::sync::atomic::AtomicU64,
    /// Whether this replica's evaluator leads (see `invalidation.rs`).
    leading: std::sync::atomic::AtomicBool,
    /// Test-only panic injection (`crate::panic_points`); never armed in production.
    panic_points: Arc<crate::panic_points::PanicPoints>,
    /// The egress rules notification targets are checked against when saved.
    target_guard: crate::notify::TargetGuard,
    /// Makes the evaluation passes' spans (none when traces are off).
    tracer: budget_telemetry::Tracer,
    /// `/key/list` pages fetched at a time during a pass (BUDGET_EVAL_LIST_CONCURRENCY).
    list_concurrency: usize,
}

impl Budgets {
    /// The use cases over `store` and `litellm` (built with the same `clock` and `metrics` by
    /// `startup`), recording in `metrics`.
    pub fn new(
        store: Store,
        litellm: LiteLlmClient,
        clock: Arc<dyn Clock>,
        cache_ttl: Duration,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Budgets {
        Budgets {
            store,
            litellm,
            metrics,
            clock,
            statuses: status_cache::StatusCache::new(cache_ttl),
            invalidations: std::sync::atomic::AtomicU64::new(0),
            leading: std::sync::atomic::AtomicBool::new(false),
            panic_points: Arc::default(),
            target_guard: crate::notify::TargetGuard::new(Default::default()),
            tracer: budget_telemetry::Tracer::disabled(),
            list_concurrency: 4,
        }
    }

    /// Fetches LiteLLM's `/key/list` pages `concurrency` at a time in a pass (at least one).
    pub fn with_list_concurrency(mut self, concurrency: u32) -> Budgets {
        self.list_concurrency = usize::try_from(concurrency.max(1)).unwrap_or(1);
        self
    }

    /// Makes spans with `tracer`: an evaluation pass and each page of tenants in it, and
    /// every LiteLLM call (under the span of the RPC or pass that makes it).
    pub fn with_tracer(mut self, tracer: budget_telemetry::Tracer) -> Budgets {
        self.litellm = self.litellm.with_tracer(tracer.clone());
        self.tracer = tracer;
        self
    }

    /// Test-only panic injection points (see `crate::panic_points`).
    pub fn panic_points(&self) -> &Arc<crate::panic_points::PanicPoints> {
        &self.panic_points
    }

    /// The application's metrics (one registry per application), as handed to `new`.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }
}
