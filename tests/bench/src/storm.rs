//! Figure 2: many concurrent GetBudgetStatus calls over a few tenants with an empty cache.
//! Concurrent misses of one tenant share one fill, so LiteLLM should see one `/key/info` per
//! tenant.

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
                    .is_ok()
            })
        })
        .collect();
    let mut failed = 0_usize;
    for call in calls {
        if !call.await.unwrap_or(false) {
            failed += 1;
        }
    }
    let elapsed = started.elapsed();
    let by_path = sim.all_calls();
    let key_info = by_path.get("/key/info").copied().unwrap_or(0);
    let total: u64 = by_path.values().sum();
    stack.stop().await;
    Ok(Figure {
        number: 2,
        title: "Cache-miss storm".into(),
        target: format!("exactly {} LiteLLM calls", sizes.storm_tenants),
        measured: format!(
            "{} concurrent GetBudgetStatus calls over {} tenants, empty cache: all answered in {:.1} ms ({} failed); LiteLLM calls {total} ({by_path:?}). \
             (Each tenant's first status ever made {:.1} LiteLLM calls: /key/info plus the one-time history load; done before the storm.)",
            sizes.storm_calls,
            sizes.storm_tenants,
            elapsed.as_secs_f64() * 1000.0,
            failed,
            first_reads as f64 / sizes.storm_tenants.max(1) as f64
        ),
        ratio: format!("{total} calls / {} tenants", sizes.storm_tenants),
        met: Some(total == sizes.storm_tenants as u64 && failed == 0),
        values: vec![
            ("litellm_calls".into(), total as f64),
            ("key_info_calls".into(), key_info as f64),
            ("failed".into(), failed as f64),
            ("all_answered_ms".into(), elapsed.as_secs_f64() * 1000.0),
        ],
        explanation: String::new(),
    })
}
