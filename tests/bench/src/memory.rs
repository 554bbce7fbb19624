//! Figure 7: budget-service's memory with many tenants' statuses cached, by the scale
//! benchmark of the test harness (tenants inserted with SQL, keys in an in-process
//! litellm-sim, every status read once with GetBudgetStatus so it is cached). Runs first in
//! a fresh process, so the baseline RSS is the bare harness.

use budget_e2e::scale::{self, ScaleOptions};

use crate::{Figure, Sizes};

pub async fn run(sizes: &Sizes) -> anyhow::Result<Figure> {
    let report = scale::run(&ScaleOptions {
        tenants: sizes.memory_tenants,
        concurrency: 64,
        passes: 0,
        keep_database: false,
    })
    .await?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    // What budget-service added: the process after every status is cached, minus the process
    // once the sim held every key (the sim's keys are LiteLLM's memory, not ours).
    let service_kib = report
        .rss_all_cached_kib
        .saturating_sub(report.rss_after_keys_kib);
    let per_tenant = service_kib as f64 * 1024.0 / report.tenants.max(1) as f64;
    Ok(Figure {
        number: 7,
        title: "Memory: budget-service RSS with every status cached".into(),
        target: "measurement (no target)".into(),
        measured: format!(
            "{} tenants, {} statuses read in {:.1} s ({} failed, {} LiteLLM calls). VmRSS of the benchmark process: \
             bare {:.1} MiB, sim holding {} keys {:.1} MiB, budget-service started {:.1} MiB, every status cached {:.1} MiB. \
             budget-service's share (cached minus the sim-only process): {:.1} MiB, {:.0} bytes per tenant",
            report.tenants,
            report.tenants,
            report.cache_fill.as_secs_f64(),
            report.cache_fill_failed,
            report.cache_fill_litellm_calls,
            mib(report.rss_start_kib),
            report.tenants,
            mib(report.rss_after_keys_kib),
            mib(report.rss_after_passes_kib),
            mib(report.rss_all_cached_kib),
            mib(service_kib),
            per_tenant,
        ),
        ratio: format!("{:.1} MiB for {} tenants", mib(service_kib), report.tenants),
        met: None,
        values: vec![
            ("service_mib".into(), mib(service_kib)),
            ("bytes_per_tenant".into(), per_tenant),
            ("cache_fill_failed".into(), report.cache_fill_failed as f64),
            ("tenants".into(), report.tenants as f64),
        ],
        explanation: String::new(),
    })
}
