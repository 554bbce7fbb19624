//! Figure 1: GetBudgetStatus answered from the cache, over a real tonic channel on loopback
//! with the bearer-token check on the path, beside a bare tonic echo of the same-sized answer,
//! driven by the same load generator in interleaved rounds.

use budget_e2e::{ADMIN_TOKEN, Stack, StackOptions};
use budget_proto::v1 as pb;
use budget_proto::v1::budget_service_client::BudgetServiceClient;
use prost::Message;
use tonic::transport::Channel;

use std::net::SocketAddr;

use crate::cpu::{CallCpu, CpuSample, LOAD_THREADS, Named};
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
    // The load generator (clients and their connection tasks) runs on a runtime of its own, so
    // each round's CPU splits into the generator's and the server's (budget-service or echo).
    let load_runtime = Named::new(LOAD_THREADS)?;
    let measured = load_runtime
        .handle()?
        .spawn(drive(stack.addr, token, echo_addr, sizes.clone()))
        .await?;
    let _ = echo_stop.send(());
    stack.stop().await;
    let Measured {
        ours,
        echo,
        ours_cpu,
        echo_cpu,
    } = measured?;
    Ok(figure(
        sizes,
        &ours,
        &echo,
        &ours_cpu,
        &echo_cpu,
        message_bytes,
    ))
}

const LOAD: &str = "load generator";
const SERVER: &str = "server";

fn component(thread: &str) -> String {
    if thread == LOAD_THREADS { LOAD } else { SERVER }.to_owned()
}

struct Measured {
    ours: Load,
    echo: Load,
    ours_cpu: CallCpu,
    echo_cpu: CallCpu,
}

async fn drive(
    service_addr: SocketAddr,
    token: String,
    echo_addr: SocketAddr,
    sizes: Sizes,
) -> anyhow::Result<Measured> {
    let sizes = &sizes;
    let service = budget_demo::connect(service_addr, &token).await?;
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
    let (mut ours_cpu, mut echo_cpu) = (CallCpu::default(), CallCpu::default());
    for _ in 0..sizes.rounds.max(1) {
        for (client, rounds, cpu) in [
            (&service, &mut ours, &mut ours_cpu),
            (&echo, &mut theirs, &mut echo_cpu),
        ] {
            let before = CpuSample::now();
            let round = load::drive(sizes.callers, sizes.round, product(client.clone())).await;
            cpu.split.add(&CpuSample::now().since(&before, component));
            cpu.calls += round.calls;
            rounds.push(round);
        }
    }
    Ok(Measured {
        ours: load::median_round(ours).ok_or_else(|| anyhow::anyhow!("no rounds"))?,
        echo: load::median_round(theirs).ok_or_else(|| anyhow::anyhow!("no rounds"))?,
        ours_cpu,
        echo_cpu,
    })
}

fn figure(
    sizes: &Sizes,
    ours: &Load,
    echo: &Load,
    ours_cpu: &CallCpu,
    echo_cpu: &CallCpu,
    message_bytes: usize,
) -> Figure {
    let throughput = load::ratio(ours.throughput(), echo.throughput());
    let p99 = load::ratio(ours.p99_ms(), echo.p99_ms());
    let met = throughput >= 0.8 && p99 <= 1.5;
    Figure {
        number: 1,
        title: "GetBudgetStatus, cache hit, vs bare tonic echo".into(),
        target: "throughput >= 0.8x echo; p99 <= 1.5x echo p99".into(),
        measured: format!(
            "GetBudgetStatus: {}\n\necho ({message_bytes}-byte answer): {}\n\nCPU in all rounds (the load generator on a 2-worker runtime of its own; the server is budget-service or the echo):\n\n- GetBudgetStatus: {}\n- echo: {}\n\n{} callers, median of {} rounds of {:.1} s",
            ours.summary(),
            echo.summary(),
            ours_cpu.summary(),
            echo_cpu.summary(),
            sizes.callers,
            sizes.rounds,
            sizes.round.as_secs_f64()
        ),
        ratio: format!("throughput {throughput:.2}x, p99 {p99:.2}x"),
        met: Some(met),
        values: vec![
            ("throughput_ratio".into(), throughput),
            ("p99_ratio".into(), p99),
            ("ours_calls_per_sec".into(), ours.throughput()),
            ("echo_calls_per_sec".into(), echo.throughput()),
            ("ours_p50_ms".into(), ours.p50_ms()),
            ("ours_p99_ms".into(), ours.p99_ms()),
            ("echo_p99_ms".into(), echo.p99_ms()),
            ("errors".into(), (ours.errors + echo.errors) as f64),
            ("ours_server_cpu_us_per_call".into(), ours_cpu.us(SERVER)),
            ("echo_server_cpu_us_per_call".into(), echo_cpu.us(SERVER)),
        ],
        explanation: if met {
            String::new()
        } else {
            format!(
                "Missed: throughput follows the CPU one call costs end to end, {:.1} µs for GetBudgetStatus against \
                 {:.1} µs for the echo (ratio {:.2}; measured throughput ratio {throughput:.2}). The server side costs \
                 {:.1} µs per call against the echo's {:.1} µs: the difference is budget-service's own work per call \
                 (the token check, the cache lookup, the RPC span and metrics). A p99 above 1.5x with the ratio met \
                 points at queueing, not cost.",
                ours_cpu.total_us(),
                echo_cpu.total_us(),
                echo_cpu.total_us() / ours_cpu.total_us().max(1e-9),
                ours_cpu.us(SERVER),
                echo_cpu.us(SERVER),
            )
        },
    }
}
