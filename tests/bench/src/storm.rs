//! Figure 2: many concurrent GetBudgetStatus calls over a few tenants with an empty cache.
//! Concurrent misses of one tenant share one fill, so LiteLLM should see one `/key/info` per
//! tenant.

use std::collections::BTreeMap;
use std::time::Instant;

use budget_e2e::{Stack, StackOptions};
use budget_proto::v1 as pb;

use crate::{Figure, Sizes};

pub async fn run(sizes: &Sizes) -> anyhow::Result<Figure> {
    let stack = Stack::start_with(StackOptions {
        cache_ttl_secs: 3600,
        ..StackOptions::default()
    })
    .await;
    let tenants: Vec<String> = (0..sizes.storm_tenants)
        .map(|i| format!("storm-{i:04}"))
        .collect();
    for tenant in &tenants {
        stack.create_tenant(tenant, 100).await;
    }
    // The first status ever also loads the tenant's 90-day history from LiteLLM (once per
    // tenant). Read each once so that is done, then empty the cache: the storm is what a
    // restart or a cache flush meets.
    let first_calls_before = stack.sim().all_calls().values().sum::<u64>();
    for tenant in &tenants {
        stack.budgets.status(tenant).await?;
    }
    let first_reads = stack.sim().all_calls().values().sum::<u64>() - first_calls_before;
    stack.budgets.forget_all_statuses();
    let sim = stack.sim();
    sim.reset_calls();
    // A few channels, as a fleet of callers would open.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(budget_demo::connect(stack.addr, budget_e2e::ADMIN_TOKEN).await?);
    }
    let started = Instant::now();
    let calls: Vec<_> = (0..sizes.storm_calls)
        .map(|i| {
            let mut client = clients[i % clients.len()].clone();
            let tenant = tenants[i % tenants.len()].clone();
            tokio::spawn(async move {
                client
                    .get_budget_status(pb::GetBudgetStatusRequest { tenant_id: tenant })
                    .await
                    .map(|_| ())
                    .map_err(|status| describe(&status))
            })
        })
        .collect();
    // Failures tallied by gRPC code and message, so a miss says what went wrong.
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    for call in calls {
        let outcome = call
            .await
            .unwrap_or_else(|e| Err(format!("task failed: {e}")));
        if let Err(what) = outcome {
            *failures.entry(what).or_default() += 1;
        }
    }
    let failed: usize = failures.values().sum();
    let elapsed = started.elapsed();
    let by_path = sim.all_calls();
    let key_info = by_path.get("/key/info").copied().unwrap_or(0);
    let total: u64 = by_path.values().sum();
    stack.stop().await;
    let met = total == sizes.storm_tenants as u64 && failed == 0;
    let explanation = if met {
        String::new()
    } else {
        format!(
            "Missed: {total} LiteLLM calls for {} tenants ({by_path:?}) and {failed} failed calls{}. More calls than \
             tenants means concurrent misses of one tenant did not share one cache fill; failed calls are listed by \
             what they answered.",
            sizes.storm_tenants,
            failure_tally(&failures),
        )
    };
    Ok(Figure {
        number: 2,
        title: "Cache-miss storm".into(),
        target: format!("exactly {} LiteLLM calls", sizes.storm_tenants),
        measured: format!(
            "{} concurrent GetBudgetStatus calls over {} tenants, empty cache: all answered in {:.1} ms ({} failed{}); LiteLLM calls {total} ({by_path:?}). \
             (Each tenant's first status ever made {:.1} LiteLLM calls: /key/info plus the one-time history load; done before the storm.)",
            sizes.storm_calls,
            sizes.storm_tenants,
            elapsed.as_secs_f64() * 1000.0,
            failed,
            failure_tally(&failures),
            first_reads as f64 / sizes.storm_tenants.max(1) as f64
        ),
        ratio: format!("{total} calls / {} tenants", sizes.storm_tenants),
        met: Some(met),
        values: vec![
            ("litellm_calls".into(), total as f64),
            ("key_info_calls".into(), key_info as f64),
            ("failed".into(), failed as f64),
            ("all_answered_ms".into(), elapsed.as_secs_f64() * 1000.0),
        ],
        explanation,
    })
}

/// ": 12 × Unavailable: ..., 3 × ..." for the failures, or nothing when there were none.
fn failure_tally(failures: &BTreeMap<String, usize>) -> String {
    if failures.is_empty() {
        return String::new();
    }
    let mut by_count: Vec<_> = failures.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = by_count
        .iter()
        .map(|(what, n)| format!("{n} × {what}"))
        .collect();
    format!(": {}", parts.join("; "))
}

/// A failed call's gRPC code and message, with the transport error's causes when there are any.
fn describe(status: &tonic::Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        text.push_str(&format!(" ({cause})"));
        source = cause.source();
    }
    text
}
