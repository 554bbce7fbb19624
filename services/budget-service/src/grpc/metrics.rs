//! The gRPC series, registered in the application's one [`Metrics`] registry and recorded by
//! the gRPC layers: `RpcLayer` counts every answered call (through budget-proto's
//! [`CallMetrics`], the counting it shares with the gateway), `CatchPanicLayer` counts panics.

use std::time::Duration;

use budget_proto::wire::{BUDGET_SERVICE_PATHS, CallMetrics};
use prometheus::{HistogramVec, IntCounterVec};

use crate::metrics::{LATENCY_BUCKETS, Metrics, counter_vec, histogram_vec};

/// `budget_grpc_requests_total`, `budget_grpc_request_duration_seconds` and
/// `budget_grpc_panics_total`.
pub struct GrpcMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    panics: IntCounterVec,
}

impl GrpcMetrics {
    /// Registers the gRPC series in `metrics`' registry; once per registry. Panics start at 0
    /// for every method of the budget API (our handlers), so the first one is an increase the
    /// alert rules see.
    pub fn register(metrics: &Metrics) -> GrpcMetrics {
        let registry = metrics.registry();
        let requests = counter_vec(
            registry,
            "budget_grpc_requests_total",
            "gRPC calls answered, by method and gRPC status code.",
            &["method", "code"],
        );
        let duration = histogram_vec(
            registry,
            "budget_grpc_request_duration_seconds",
            "Time from a gRPC call's arrival to its last byte (its trailers).",
            &["method", "code"],
            LATENCY_BUCKETS,
        );
        let panics = counter_vec(
            registry,
            "budget_grpc_panics_total",
            "gRPC calls whose handler panicked; each was answered INTERNAL.",
            &["method"],
        );
        for method in BUDGET_SERVICE_PATHS {
            panics.with_label_values(&[method]);
        }
        GrpcMetrics {
            requests,
            duration,
            panics,
        }
    }

    /// A gRPC handler panicked (`method` is a known method name or "unknown").
    pub fn rpc_panicked(&self, method: &str) {
        self.panics.with_label_values(&[method]).inc();
    }
}

impl CallMetrics for GrpcMetrics {
    /// One answered gRPC call.
    fn grpc_call(&self, method: &str, code: &str, elapsed: Duration) {
        self.requests.with_label_values(&[method, code]).inc();
        self.duration
            .with_label_values(&[method, code])
            .observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_and_panics_in_the_shared_registry() {
        let metrics = Metrics::new();
        let grpc = GrpcMetrics::register(&metrics);
        grpc.grpc_call(
            "budget.v1.BudgetService/GetBudgetStatus",
            "OK",
            Duration::from_millis(3),
        );
        grpc.rpc_panicked("budget.v1.BudgetService/GetBudgetStatus");
        let text = metrics.render();
        assert!(text.contains(
            "budget_grpc_requests_total{code=\"OK\",method=\"budget.v1.BudgetService/GetBudgetStatus\"} 1"
        ));
        assert!(text.contains(
            "budget_grpc_panics_total{method=\"budget.v1.BudgetService/GetBudgetStatus\"} 1"
        ));
    }
}
