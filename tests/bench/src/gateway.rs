//! Figure 4: GetBudgetStatus through the gateway's gRPC-web (signed-in session cookie, as the
//! dashboard calls it) beside the same call as direct gRPC, same stack, same load generator.
//!
//! Throughput is measured with `Sizes::callers` concurrent callers. The added latency is the
//! per-call cost of the gateway hop, so it is measured without queueing: one caller making
//! sequential calls through each path, p50 of the difference. Under 64 callers on 2 cores the p50
//! is mostly time spent waiting for a core, which says how busy the machine is, not what the hop
//! costs.

use std::net::SocketAddr;
use std::time::Duration;

use budget_demo::{RunningStack, StackConfig};
use budget_e2e::{ADMIN_TOKEN, SIM_MASTER_KEY, TestDatabase};
use budget_proto::v1 as pb;
use prost::Message;

use crate::load::{self, Load};
use crate::{Figure, Sizes};

const TENANT: &str = "gateway-tenant";

/// One gRPC-web unary call; true when the answer is a GetBudgetStatus with grpc-status 0.
async fn grpc_web_call(http: &reqwest::Client, url: &str, cookie: &str, body: Vec<u8>) -> bool {
    let Ok(answer) = http
        .post(url)
        .header("content-type", "application/grpc-web+proto")
        .header("accept", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("cookie", cookie)
        .body(body)
        .send()
        .await
    else {
        return false;
    };
    if !answer.status().is_success() {
        return false;
    }
    let header_ok = answer
        .headers()
        .get("grpc-status")
        .map(|v| v.as_bytes() == b"0");
    let Ok(bytes) = answer.bytes().await else {
        return false;
    };
    // A data frame with the message, then a trailer frame with grpc-status.
    let mut rest = &bytes[..];
    let (mut message, mut trailer_ok) = (false, None);
    while rest.len() >= 5 {
        let flag = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let Some(frame) = rest.get(5..5 + len) else {
            return false;
        };
        if flag & 0x80 == 0 {
            message = pb::GetBudgetStatusResponse::decode(frame).is_ok();
        } else {
            trailer_ok = Some(String::from_utf8_lossy(frame).contains("grpc-status:0"));
        }
        rest = &rest[5 + len..];
    }
    message && header_ok.or(trailer_ok).unwrap_or(false)
}

async fn sign_in(http: &reqwest::Client, gateway: SocketAddr) -> anyhow::Result<String> {
    let signed_in = http
        .post(format!("http://{gateway}/session"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={ADMIN_TOKEN}"))
        .send()
        .await?;
    anyhow::ensure!(
        signed_in.status() == 303,
        "sign-in answered {}",
        signed_in.status()
    );
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| anyhow::anyhow!("no session cookie"))?;
    Ok(cookie.to_owned())
}

pub async fn run(sizes: &Sizes) -> anyhow::Result<Figure> {
    let db = TestDatabase::create().await;
    let stack = RunningStack::start(&StackConfig {
        database_url: db.url.clone(),
        sim_addr: "127.0.0.1:0".into(),
        sim_master_key: SIM_MASTER_KEY.into(),
        grpc_addr: "127.0.0.1:0".parse()?,
        http_addr: "127.0.0.1:0".parse()?,
        webhook_secret: "bench-webhook-secret".into(),
        gateway_addr: "127.0.0.1:0".parse()?,
        cache_ttl_secs: 3600,
        eval_interval_secs: 0,
        notification_receiver: false,
        bootstrap_token: ADMIN_TOKEN.into(),
    })
    .await?;
    let result = measure(&stack, sizes).await;
    stack.stop().await;
    db.drop_database().await;
    let Measured {
        direct,
        web,
        direct_one,
        web_one,
    } = result?;
    let ratio = load::ratio(web.throughput(), direct.throughput());
    let added_p50 = web_one.p50_ms() - direct_one.p50_ms();
    Ok(Figure {
        number: 4,
        title: "Gateway gRPC-web vs direct gRPC (GetBudgetStatus)".into(),
        target: "throughput >= 0.5x direct; added p50 <= 0.5 ms".into(),
        measured: format!(
            "throughput, {} callers, median of {} rounds of {:.1} s:\n\n- direct gRPC (one tonic HTTP/2 channel): {}\n- gRPC-web through the gateway (session cookie, HTTP/1.1 keep-alive, one connection per caller, as a browser over plain http): {}\n\nlatency, one caller making sequential calls, median of {} rounds of {:.1} s:\n\n- direct gRPC: {}\n- gRPC-web through the gateway: {}",
            sizes.callers,
            sizes.rounds,
            sizes.round.as_secs_f64(),
            direct.summary(),
            web.summary(),
            sizes.rounds,
            latency_round(sizes).as_secs_f64(),
            direct_one.summary(),
            web_one.summary(),
        ),
        ratio: format!("throughput {ratio:.2}x, p50 +{added_p50:.3} ms"),
        met: Some(ratio >= 0.5 && added_p50 <= 0.5),
        values: vec![
            ("throughput_ratio".into(), ratio),
            ("added_p50_ms".into(), added_p50),
            ("direct_calls_per_sec".into(), direct.throughput()),
            ("web_calls_per_sec".into(), web.throughput()),
            ("direct_p50_one_caller_ms".into(), direct_one.p50_ms()),
            ("web_p50_one_caller_ms".into(), web_one.p50_ms()),
            ("direct_p50_loaded_ms".into(), direct.p50_ms()),
            ("web_p50_loaded_ms".into(), web.p50_ms()),
            (
                "errors".into(),
                (direct.errors + web.errors + direct_one.errors + web_one.errors) as f64,
            ),
        ],
        explanation: String::new(),
    })
}

/// What `measure` returns: the loaded rounds (throughput) and the one-caller rounds (latency).
struct Measured {
    direct: Load,
    web: Load,
    direct_one: Load,
    web_one: Load,
}

/// The one-caller latency rounds: half a load round, at least 0.5 s.
fn latency_round(sizes: &Sizes) -> Duration {
    (sizes.round / 2).max(Duration::from_millis(500))
}

async fn measure(stack: &RunningStack, sizes: &Sizes) -> anyhow::Result<Measured> {
    stack
        .client
        .clone()
        .create_tenant(pb::CreateTenantRequest {
            tenant_id: TENANT.into(),
            display_name: "Gateway Inc.".into(),
            config: Some(budget_e2e::config(100, 80, 110, "30d")),
        })
        .await?;
    let direct_client = budget_demo::connect(stack.grpc_addr, ADMIN_TOKEN).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(sizes.callers.max(1))
        .tcp_nodelay(true)
        .build()?;
    let cookie = sign_in(&http, stack.gateway_addr).await?;
    let url = format!(
        "http://{}/budget.v1.BudgetService/GetBudgetStatus",
        stack.gateway_addr
    );
    let payload = pb::GetBudgetStatusRequest {
        tenant_id: TENANT.into(),
    }
    .encode_to_vec();
    let mut body = vec![0_u8];
    body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    body.extend_from_slice(&payload);
    anyhow::ensure!(
        grpc_web_call(&http, &url, &cookie, body.clone()).await,
        "a gRPC-web GetBudgetStatus through the gateway failed"
    );

    let direct = |client: budget_demo::AuthedClient| {
        move |_caller: usize| {
            let mut client = client.clone();
            async move {
                client
                    .get_budget_status(pb::GetBudgetStatusRequest {
                        tenant_id: TENANT.into(),
                    })
                    .await
                    .is_ok()
            }
        }
    };
    let web = |http: reqwest::Client, url: String, cookie: String, body: Vec<u8>| {
        move |_caller: usize| {
            let (http, url, cookie, body) =
                (http.clone(), url.clone(), cookie.clone(), body.clone());
            async move { grpc_web_call(&http, &url, &cookie, body).await }
        }
    };
    let warmup = sizes.round / 2;
    load::drive(sizes.callers, warmup, direct(direct_client.clone())).await;
    load::drive(
        sizes.callers,
        warmup,
        web(http.clone(), url.clone(), cookie.clone(), body.clone()),
    )
    .await;
    let (mut directs, mut webs) = (Vec::new(), Vec::new());
    for _ in 0..sizes.rounds.max(1) {
        directs.push(load::drive(sizes.callers, sizes.round, direct(direct_client.clone())).await);
        webs.push(
            load::drive(
                sizes.callers,
                sizes.round,
                web(http.clone(), url.clone(), cookie.clone(), body.clone()),
            )
            .await,
        );
    }
    let (mut direct_ones, mut web_ones) = (Vec::new(), Vec::new());
    for _ in 0..sizes.rounds.max(1) {
        direct_ones.push(load::drive(1, latency_round(sizes), direct(direct_client.clone())).await);
        web_ones.push(
            load::drive(
                1,
                latency_round(sizes),
                web(http.clone(), url.clone(), cookie.clone(), body.clone()),
            )
            .await,
        );
    }
    let median = |rounds| load::median_round(rounds).ok_or_else(|| anyhow::anyhow!("no rounds"));
    Ok(Measured {
        direct: median(directs)?,
        web: median(webs)?,
        direct_one: median(direct_ones)?,
        web_one: median(web_ones)?,
    })
}
