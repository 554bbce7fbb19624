//! Figure 5: UpdateBudgetConfig throughput with litellm-sim answering at once, and how the
//! time splits between LiteLLM and the rest (PostgreSQL: the locked read, the write, the audit
//! row, the cache notification), read from budget-service's own /metrics histograms.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use budget_e2e::{Stack, StackOptions};
use budget_proto::v1 as pb;

use crate::{Figure, Sizes, load};

/// Sums of (UpdateBudgetConfig gRPC seconds, LiteLLM seconds, LiteLLM calls) in a /metrics text.
fn sums(metrics: &str) -> (f64, f64, f64) {
    let value = |line: &str| {
        line.rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let (mut grpc, mut litellm, mut litellm_calls) = (0.0, 0.0, 0.0);
    for line in metrics.lines() {
        if line.starts_with("budget_grpc_request_duration_seconds_sum")
            && line.contains("UpdateBudgetConfig")
        {
            grpc += value(line);
        } else if line.starts_with("budget_litellm_request_duration_seconds_sum") {
            litellm += value(line);
        } else if line.starts_with("budget_litellm_request_duration_seconds_count") {
            litellm_calls += value(line);
        }
    }
    (grpc, litellm, litellm_calls)
}

pub async fn run(sizes: &Sizes) -> anyhow::Result<Figure> {
    let stack = Stack::start_with(StackOptions {
        write_rate_per_sec: 1_000_000.0,
        write_burst: 1_000_000.0,
        ..StackOptions::default()
    })
    .await;
    let tenants: Vec<String> = (0..sizes.callers.max(1))
        .map(|i| format!("update-{i:03}"))
        .collect();
    for tenant in &tenants {
        stack.create_tenant(tenant, 100).await;
    }
    let metrics_url = format!("http://{}/metrics", stack.http_addr);
    let http = reqwest::Client::new();
    let before = sums(&http.get(&metrics_url).send().await?.text().await?);
    // Each caller owns one tenant (updates of one tenant are serialised by its row lock) and
    // alternates its budget, so every update changes LiteLLM's limits.
    let flips = Arc::new(AtomicU64::new(0));
    let client = stack.client();
    let tenants = Arc::new(tenants);
    let call = {
        let flips = Arc::clone(&flips);
        move |caller: usize| {
            let mut client = client.clone();
            let tenant = tenants[caller % tenants.len()].clone();
            let budget = 100 + (flips.fetch_add(1, Ordering::Relaxed) % 2) as i64 * 50;
            async move {
                client
                    .update_budget_config(pb::UpdateBudgetConfigRequest {
                        tenant_id: tenant,
                        config: Some(budget_e2e::config(budget, 80, 110, "30d")),
                        etag: String::new(),
                        update_mask: None,
                    })
                    .await
                    .is_ok()
            }
        }
    };
    let round = sizes.round * sizes.rounds.max(1) as u32;
    let measured = load::drive(sizes.callers, round, call).await;
    let after = sums(&http.get(&metrics_url).send().await?.text().await?);
    stack.stop().await;
    let grpc = after.0 - before.0;
    let litellm = after.1 - before.1;
    let litellm_calls = after.2 - before.2;
    let litellm_share = if grpc > 0.0 { litellm / grpc } else { 0.0 };
    let per_call = |s: f64| s * 1000.0 / measured.calls.max(1) as f64;
    Ok(Figure {
        number: 5,
        title: "UpdateBudgetConfig throughput".into(),
        target: "measurement (no target): throughput and the PostgreSQL / LiteLLM split".into(),
        measured: format!(
            "{}; {} tenants, one caller each, {:.1} s.\n\n\
             Per update, from budget-service's histograms: {:.3} ms in the RPC in all, {:.3} ms in LiteLLM calls ({:.2} calls per update), \
             {:.3} ms elsewhere (PostgreSQL: locked read, write, audit row, notification; plus validation and gRPC)",
            measured.summary(),
            sizes.callers,
            round.as_secs_f64(),
            per_call(grpc),
            per_call(litellm),
            litellm_calls / measured.calls.max(1) as f64,
            per_call(grpc - litellm),
        ),
        ratio: format!(
            "LiteLLM {:.0} % / PostgreSQL and rest {:.0} %",
            litellm_share * 100.0,
            (1.0 - litellm_share) * 100.0
        ),
        met: None,
        values: vec![
            ("calls_per_sec".into(), measured.throughput()),
            ("p50_ms".into(), measured.p50_ms()),
            ("p99_ms".into(), measured.p99_ms()),
            ("litellm_share".into(), litellm_share),
            (
                "litellm_calls_per_update".into(),
                litellm_calls / measured.calls.max(1) as f64,
            ),
            ("errors".into(), measured.errors as f64),
        ],
        explanation: String::new(),
    })
}
