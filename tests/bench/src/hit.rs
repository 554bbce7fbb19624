//! Figure 1: GetBudgetStatus answered from the cache, over a real tonic channel on loopback
//! with the bearer-token check on the path, beside a bare tonic echo of the same-sized answer,
//! driven by the same load generator in interleaved rounds.

use budget_e2e::{ADMIN_TOKEN, Stack, StackOptions};
use budget_proto::v1 as pb;
use budget_proto::v1::budget_service_client::BudgetServiceClient;
use prost::Message;
use tonic::transport::Channel;

use crate::load::{self, Load};
use crate::{Figure, Sizes};

pub async fn run(sizes: &Sizes) -> anyhow::Result<Figure> {
    let stack = Stack::start_with(StackOptions {
        cache_ttl_secs: 3600,
        ..StackOptions::default()
    })
    .await;
    stack.create_tenant("hit-tenant", 100).await;
    let token = stack
        .token(
            "bench-reader",
            budget_service::domain::auth::Role::PlatformAdmin,
            None,
        )
        .await;
    let service = budget_demo::connect(stack.addr, &token).await?;
    // Fills the cache; every measured call is a hit.
    let answer = service
        .clone()
        .get_budget_status(pb::GetBudgetStatusRequest {
            tenant_id: "hit-tenant".into(),
        })
        .await?
        .into_inner();
    let message_bytes = answer.encoded_len();
    let (echo_addr, echo_stop) = load::start_echo(answer).await?;
    let echo_channel = Channel::from_shared(format!("http://{echo_addr}"))?
        .connect()
        .await?;
    let echo =
        BudgetServiceClient::with_interceptor(echo_channel, budget_demo::Bearer::new(ADMIN_TOKEN)?);

    let product = |service: budget_demo::AuthedClient| {
        move |_caller: usize| {
            let mut client = service.clone();
            async move {
                client
                    .get_budget_status(pb::GetBudgetStatusRequest {
                        tenant_id: "hit-tenant".into(),
                    })
                    .await
                    .is_ok()
            }
        }
    };
    // Warm both up, then alternate rounds so drift hits both alike.
    let warmup = sizes.round / 2;
    load::drive(sizes.callers, warmup, product(service.clone())).await;
    load::drive(sizes.callers, warmup, product(echo.clone())).await;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..sizes.rounds.max(1) {
        ours.push(load::drive(sizes.callers, sizes.round, product(service.clone())).await);
        theirs.push(load::drive(sizes.callers, sizes.round, product(echo.clone())).await);
    }
    let _ = echo_stop.send(());
    stack.stop().await;
    let ours = load::median_round(ours).ok_or_else(|| anyhow::anyhow!("no rounds"))?;
    let echo = load::median_round(theirs).ok_or_else(|| anyhow::anyhow!("no rounds"))?;
    Ok(figure(sizes, &ours, &echo, message_bytes))
}

fn figure(sizes: &Sizes, ours: &Load, echo: &Load, message_bytes: usize) -> Figure {
    let throughput = load::ratio(ours.throughput(), echo.throughput());
    let p99 = load::ratio(ours.p99_ms(), echo.p99_ms());
    Figure {
        number: 1,
        title: "GetBudgetStatus, cache hit, vs bare tonic echo".into(),
        target: "throughput >= 0.8x echo; p99 <= 1.5x echo p99".into(),
        measured: format!(
            "GetBudgetStatus: {}\n\necho ({message_bytes}-byte answer): {}\n\n{} callers, median of {} rounds of {:.1} s",
            ours.summary(),
            echo.summary(),
            sizes.callers,
            sizes.rounds,
            sizes.round.as_secs_f64()
        ),
        ratio: format!("throughput {throughput:.2}x, p99 {p99:.2}x"),
        met: Some(throughput >= 0.8 && p99 <= 1.5),
        values: vec![
            ("throughput_ratio".into(), throughput),
            ("p99_ratio".into(), p99),
            ("ours_calls_per_sec".into(), ours.throughput()),
            ("echo_calls_per_sec".into(), echo.throughput()),
            ("ours_p50_ms".into(), ours.p50_ms()),
            ("ours_p99_ms".into(), ours.p99_ms()),
            ("echo_p99_ms".into(), echo.p99_ms()),
            ("errors".into(), (ours.errors + echo.errors) as f64),
        ],
        explanation: String::new(),
    }
}
