//! gRPC load across replicas and replicas leaving: behind a connection balancer (a
//! round-robin TCP proxy standing in for a Kubernetes Service), the gateway's one HTTP/2
//! connection is closed by budget-service once it reaches BUDGET_GRPC_MAX_CONNECTION_AGE_SECS,
//! so its later calls reach the other replica; and a replica shutting down
//! reports NOT_SERVING while it still accepts for BUDGET_SHUTDOWN_DRAIN_SECS, then closes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use budget_e2e::tcp_proxy::TcpProxy;
use budget_e2e::{ADMIN_TOKEN, SIM_MASTER_KEY, TestDatabase, init_test_logs};
use budget_proto::v1 as pb;
use budget_service::Settings;
use budget_service::metrics::Metrics;
use grpc_web_client::{Reply, Wire};
use litellm_sim::SimServer;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic_health::pb::health_check_response::ServingStatus;

struct Replica {
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Replica {
    async fn start(db: &TestDatabase, sim: &SimServer, tune: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings::new(&db.url, &sim.base_url(), SIM_MASTER_KEY);
        settings.grpc_addr = "127.0.0.1:0".parse().unwrap();
        settings.http_addr = "127.0.0.1:0".parse().unwrap();
        settings.bootstrap_token = Some(ADMIN_TOKEN.into());
        settings.eval_interval_secs = 0;
        settings.delivery_poll_ms = 0;
        settings.shutdown_grace_secs = 2;
        tune(&mut settings);
        let app = budget_service::Application::build(settings)
            .await
            .expect("budget-service builds");
        let addr = app.local_addr();
        let metrics = app.metrics();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Replica {
            addr,
            metrics,
            stop: Some(stop),
            task,
        }
    }

    /// WhoAmI calls this replica answered OK.
    fn who_am_i_served(&self) -> f64 {
        let series =
            "budget_grpc_requests_total{code=\"OK\",method=\"budget.v1.BudgetService/WhoAmI\"}";
        self.metrics
            .render()
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    async fn stop(mut self) {
        self.begin_shutdown();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("the replica stops")
            .unwrap()
            .unwrap();
    }
}

async fn who_am_i(http: &reqwest::Client, gateway: SocketAddr, cookie: &str) -> Reply {
    let response = grpc_web_client::post(
        http,
        &format!("http://{gateway}/budget.v1.BudgetService/WhoAmI"),
        Wire::Binary.content_type(),
        grpc_web_client::data_frame(&pb::WhoAmIRequest::default()),
    )
    .header("cookie", cookie)
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    Reply::read(response, Wire::Binary).await.unwrap()
}

#[tokio::test]
async fn the_gateways_calls_reach_a_second_replica_once_its_connection_reaches_its_age() {
    init_test_logs();
    let db = TestDatabase::create().await;
    let sim = SimServer::start("127.0.0.1:0", SIM_MASTER_KEY)
        .await
        .unwrap();
    let aged = |settings: &mut Settings| {
        settings.grpc_max_connection_age_secs = 1;
        settings.grpc_max_connection_age_grace_secs = 1;
    };
    let first = Replica::start(&db, &sim, aged).await;
    let second = Replica::start(&db, &sim, aged).await;
    // The Service: each new connection to the next replica, the first one to `first`.
    let service = TcpProxy::round_robin(vec![first.addr, second.addr])
        .await
        .unwrap();
    let gateway = budget_gateway::Gateway::build(budget_e2e::gateway_config(&format!(
        "http://{}",
        service.addr()
    )))
    .await
    .expect("the gateway builds");
    let gateway_addr = gateway.local_addr();
    let (stop_gateway, gateway_stopped) = oneshot::channel::<()>();
    let gateway_task = tokio::spawn(gateway.run_until_stopped(async {
        let _ = gateway_stopped.await;
    }));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Signing in is the gateway's first call: it opens the one connection, to `first`.
    let cookie = grpc_web_client::sign_in(&http, &format!("http://{gateway_addr}"), ADMIN_TOKEN)
        .await
        .expect("signing in");
    assert_eq!(first.who_am_i_served(), 1.0);
    assert_eq!(second.who_am_i_served(), 0.0);

    // The dashboard keeps calling; the aged connection is replaced and the Service sends the
    // new one to `second`. A call sent just as the old connection closes can fail, and then
    // only as UNAVAILABLE (retryable): at most one, for the one connection replaced here.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut answered, mut unavailable) = (0_u32, 0_u32);
    while second.who_am_i_served() == 0.0 {
        assert!(
            Instant::now() < deadline,
            "after {answered} calls, the second replica has served none"
        );
        let reply = who_am_i(&http, gateway_addr, &cookie).await;
        match reply.grpc_status() {
            Some(0) => answered += 1,
            Some(14) => unavailable += 1,
            _ => panic!("call {answered}: {reply:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(unavailable <= 1, "{unavailable} calls failed");
    assert!(
        first.who_am_i_served() >= 2.0,
        "the first connection served calls"
    );
    assert_eq!(
        first.who_am_i_served() + second.who_am_i_served(),
        f64::from(answered + 1),
        "every answered call was served once"
    );

    let _ = stop_gateway.send(());
    let _ = tokio::time::timeout(Duration::from_secs(15), gateway_task).await;
    drop(service);
    first.stop().await;
    second.stop().await;
    db.drop_database().await;
}

async fn health_over_a_new_connection(addr: SocketAddr) -> Result<ServingStatus, String> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let answer = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .map_err(|e| format!("health: {e}"))?;
    Ok(answer.into_inner().status())
}

#[tokio::test]
async fn a_stopping_replica_reports_not_serving_and_accepts_until_the_drain_delay_ends() {
    init_test_logs();
    let db = TestDatabase::create().await;
    let sim = SimServer::start("127.0.0.1:0", SIM_MASTER_KEY)
        .await
        .unwrap();
    let mut replica = Replica::start(&db, &sim, |settings| {
        settings.shutdown_drain_secs = 2;
    })
    .await;
    assert_eq!(
        health_over_a_new_connection(replica.addr).await,
        Ok(ServingStatus::Serving)
    );
    replica.begin_shutdown();
    // During the drain delay a new connection is accepted and told NOT_SERVING.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = health_over_a_new_connection(replica.addr).await;
        assert!(status.is_ok(), "refused before the drain delay: {status:?}");
        if status == Ok(ServingStatus::NotServing) {
            break;
        }
        assert!(Instant::now() < deadline, "still SERVING after shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Then the listener closes and the replica stops.
    let deadline = Instant::now() + Duration::from_secs(10);
    while health_over_a_new_connection(replica.addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after the drain");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    replica.stop().await;
    db.drop_database().await;
}
