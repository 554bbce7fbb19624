//! Figure 7: budget-service's memory with many tenants' statuses cached, by the scale
//! benchmark of the test harness (tenants inserted with SQL, keys in an in-process
//! litellm-sim, every status read once with GetBudgetStatus so it is cached). Runs first in
//! a fresh process, so the baseline RSS is the bare harness. Target (issue 20): at most 500
//! bytes per tenant, judged by the live heap bytes the cached statuses hold (counted by the
//! allocator below); RSS is reported beside it, and is larger by what the allocator keeps of
//! the fill's freed request buffers.

use std::alloc::System;

use budget_e2e::scale::{self, ScaleOptions};
use cap::Cap;

use crate::{Figure, Sizes};

/// Every allocation of the benchmark process, counted: the live heap bytes are exact where
/// RSS moves in pages and arenas.
#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

fn live_heap_bytes() -> usize {
    HEAP.allocated()
}

/// The most budget-service may hold per cached tenant.
const TARGET_BYTES_PER_TENANT: f64 = 500.0;
/// Fewer tenants than this are judged by nothing: moka's table grows in steps (and RSS in
/// pages and allocator arenas), so a few hundred tenants' bytes per tenant are noise.
const FLEET_TO_JUDGE: usize = 10_000;

pub async fn run(sizes: &Sizes) -> anyhow::Result<Figure> {
    let report = scale::run(&ScaleOptions {
        tenants: sizes.memory_tenants,
        concurrency: 64,
        passes: 0,
        heap_bytes: Some(live_heap_bytes),
        ..ScaleOptions::default()
    })
    .await?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    // What budget-service added: the process after every status is cached, minus the process
    // once the sim held every key (the sim's keys are LiteLLM's memory, not ours).
    let service_kib = report
        .rss_all_cached_kib
        .saturating_sub(report.rss_after_keys_kib);
    // What the cached statuses added: minus the service started with none cached, in RSS
    // and in live heap bytes (the judged figure).
    let cache_kib = report
        .rss_all_cached_kib
        .saturating_sub(report.rss_after_passes_kib);
    let per_tenant_rss = cache_kib as f64 * 1024.0 / report.tenants.max(1) as f64;
    let heap_added = report
        .heap_all_cached
        .unwrap_or(0)
        .saturating_sub(report.heap_after_passes.unwrap_or(0));
    let per_tenant = heap_added as f64 / report.tenants.max(1) as f64;
    Ok(Figure {
        number: 7,
        title: "Memory: budget-service RSS with every status cached".into(),
        target: format!("<= {TARGET_BYTES_PER_TENANT:.0} bytes per tenant"),
        measured: format!(
            "{} tenants, {} statuses read in {:.1} s ({} failed, {} LiteLLM calls). VmRSS of the benchmark process: \
             bare {:.1} MiB, sim holding {} keys {:.1} MiB, budget-service started {:.1} MiB, every status cached {:.1} MiB. \
             budget-service's share (cached minus the sim-only process): {:.1} MiB; the cached statuses' (cached minus started): \
             {:.1} MiB of RSS, {:.0} bytes per tenant; live heap bytes they hold: {:.1} MiB, {:.0} bytes per tenant",
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
            mib(cache_kib),
            per_tenant_rss,
            heap_added as f64 / (1024.0 * 1024.0),
            per_tenant,
        ),
        ratio: format!(
            "{per_tenant:.0} heap bytes per tenant ({per_tenant_rss:.0} of RSS; service share {:.1} MiB for {} tenants)",
            mib(service_kib),
            report.tenants
        ),
        met: (report.tenants >= FLEET_TO_JUDGE).then_some(per_tenant <= TARGET_BYTES_PER_TENANT),
        values: vec![
            ("service_mib".into(), mib(service_kib)),
            ("bytes_per_tenant".into(), per_tenant),
            ("rss_bytes_per_tenant".into(), per_tenant_rss),
            ("cache_fill_failed".into(), report.cache_fill_failed as f64),
            ("tenants".into(), report.tenants as f64),
        ],
        explanation: if per_tenant > TARGET_BYTES_PER_TENANT && report.tenants >= FLEET_TO_JUDGE {
            format!(
                "Missed: {per_tenant:.0} heap bytes per tenant. Each entry is moka's bookkeeping (key, \
                 entry, access-order node, hash-table slot) plus the compact status \
                 (service/status_cache.rs)."
            )
        } else {
            String::new()
        },
    })
}
