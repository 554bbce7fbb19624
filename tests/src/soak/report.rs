//! The soak's report: the figures, the verdict, and the Markdown the `soak` binary writes.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Class, SoakReport};

impl SoakReport {
    pub fn count(&self, class: Class) -> u64 {
        self.results
            .iter()
            .filter(|((_, c), _)| *c == class)
            .map(|(_, n)| n)
            .sum()
    }

    /// UNAVAILABLE answers to one method.
    pub fn unavailable(&self, method: &str) -> u64 {
        self.results
            .get(&(method.to_owned(), Class::ExpectedUnavailable))
            .copied()
            .unwrap_or(0)
    }

    pub fn injected_total(&self) -> u64 {
        self.injected.values().sum()
    }

    pub fn rss_warm_kib(&self) -> u64 {
        self.samples.get(self.warm_index).map_or(0, |s| s.rss_kib)
    }

    pub fn rss_end_kib(&self) -> u64 {
        self.samples.last().map_or(0, |s| s.rss_kib)
    }

    /// RSS growth from the first sample after warm-up to the last, in percent.
    pub fn rss_growth_percent(&self) -> f64 {
        let warm = self.rss_warm_kib() as f64;
        if warm == 0.0 {
            return 0.0;
        }
        (self.rss_end_kib() as f64 - warm) / warm * 100.0
    }

    pub fn pg_connections_min_max(&self) -> (i64, i64) {
        let counts = self.samples.iter().map(|s| s.pg_connections);
        (counts.clone().min().unwrap_or(0), counts.max().unwrap_or(0))
    }

    /// The most connections the service may hold: its pool, the cache listener, the
    /// evaluator's and the purger's lock connections, and one spare.
    pub fn pg_connection_bound(&self) -> i64 {
        i64::from(self.db_max_connections) + 4
    }

    /// (criterion, passed) for the soak's checks.
    pub fn checks(&self) -> Vec<(String, bool)> {
        let unexpected = self.count(Class::Unexpected) + self.not_started;
        let unavailable = self.count(Class::ExpectedUnavailable);
        let (min, max) = self.pg_connections_min_max();
        vec![
            (
                format!("zero unexpected results ({unexpected})"),
                unexpected == 0,
            ),
            (
                format!("faults were injected ({})", self.injected_total()),
                self.injected_total() > 0,
            ),
            (
                format!(
                    "failed LiteLLM uses ({}; {unavailable} UNAVAILABLE answers) <= injected faults ({})",
                    self.failed_litellm_uses,
                    self.injected_total()
                ),
                self.failed_litellm_uses <= self.injected_total(),
            ),
            (
                format!(
                    "UpdateBudgetConfig UNAVAILABLE ({}) <= faults injected into /key/update ({})",
                    self.unavailable("UpdateBudgetConfig"),
                    self.injected.get("/key/update").copied().unwrap_or(0)
                ),
                self.unavailable("UpdateBudgetConfig")
                    <= self.injected.get("/key/update").copied().unwrap_or(0),
            ),
            (
                format!(
                    "RSS growth after warm-up < 10 % ({:.1} %)",
                    self.rss_growth_percent()
                ),
                self.rss_growth_percent() < 10.0,
            ),
            (
                format!(
                    "PostgreSQL connections bounded by the pool ({min}..{max} <= {})",
                    self.pg_connection_bound()
                ),
                max <= self.pg_connection_bound(),
            ),
        ]
    }

    /// The report as `soak` prints it (plain text).
    pub fn render(&self) -> String {
        self.markdown()
    }

    /// The figures as a markdown section body.
    pub fn markdown(&self) -> String {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
        let secs = self.load_duration.as_secs_f64().max(0.001);
        let o = &self.options;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Load: {:.0} s at {} RPC/s scheduled (open loop), {} tenants, LiteLLM faults on {:.0} % of calls \
             (500 / connection reset / slower than the {} s timeout, one third each), status cache TTL {} s, \
             evaluator every {} s. Everything in one process (litellm-sim, budget-service, gateway, load \
             generator); load average at the end: {}.\n",
            secs,
            o.rps,
            o.tenants,
            o.fault_rate * 100.0,
            o.litellm_timeout_secs,
            o.cache_ttl_secs,
            o.eval_interval_secs,
            self.load_average.trim()
        );
        out.push_str("| path | RPCs | RPC/s | p50 | p99 | max |\n|---|---|---|---|---|---|\n");
        for (via, n) in &self.calls_by_via {
            let (p50, p99, max) = self.latency.get(via).copied().unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {n} | {:.1} | {} | {} | {} |",
                via.name(),
                *n as f64 / secs,
                ms(p50),
                ms(p99),
                ms(max)
            );
        }
        out.push_str(
            "\n| method | OK | UNAVAILABLE (injected fault) | ABORTED (etag race) | unexpected |\n|---|---|---|---|---|\n",
        );
        let mut methods: Vec<&String> = self.results.keys().map(|(m, _)| m).collect();
        methods.dedup();
        for method in methods {
            let n = |class| {
                self.results
                    .get(&(method.clone(), class))
                    .copied()
                    .unwrap_or(0)
            };
            let _ = writeln!(
                out,
                "| {method} | {} | {} | {} | {} |",
                n(Class::Ok),
                n(Class::ExpectedUnavailable),
                n(Class::ExpectedAborted),
                n(Class::Unexpected)
            );
        }
        let _ = writeln!(
            out,
            "\nLiteLLM calls: {:?}; injected faults: {:?} ({} in all).",
            self.litellm_calls,
            self.injected,
            self.injected_total()
        );
        if !self.unexpected.is_empty() {
            let _ = writeln!(out, "\nUnexpected: {:?}", self.unexpected);
        }
        if self.not_started > 0 {
            let _ = writeln!(
                out,
                "\nCalls not started (too many in flight): {}",
                self.not_started
            );
        }
        let (min, max) = self.pg_connections_min_max();
        let _ = writeln!(
            out,
            "\nRSS: {} after warm-up ({:.0} s), {} at the end: {:+.1} %. PostgreSQL connections to the \
             soak's database: min {min}, max {max} (pool {}). Evaluation passes: {:?}.\n",
            mib(self.rss_warm_kib()),
            self.samples
                .get(self.warm_index)
                .map_or(0.0, |s| s.at.as_secs_f64()),
            mib(self.rss_end_kib()),
            self.rss_growth_percent(),
            self.db_max_connections,
            self.passes
        );
        out.push_str("| check | result |\n|---|---|\n");
        for (check, ok) in self.checks() {
            let _ = writeln!(out, "| {check} | {} |", if ok { "pass" } else { "FAIL" });
        }
        out.push_str("\nSamples (s: RSS MiB / PG connections): ");
        let samples: Vec<String> = self
            .samples
            .iter()
            .map(|s| {
                format!(
                    "{:.0}: {:.1}/{}",
                    s.at.as_secs_f64(),
                    s.rss_kib as f64 / 1024.0,
                    s.pg_connections
                )
            })
            .collect();
        out.push_str(&samples.join(", "));
        out.push('\n');
        out
    }
}
