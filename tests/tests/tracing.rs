//! OpenTelemetry traces end to end. budget-service and the gateway export over OTLP/gRPC to a
//! collector run here (opentelemetry-proto's TraceService over tonic, on a real socket), with
//! LiteLLM (litellm-sim) behind a relay that records each request's `traceparent`. One
//! dashboard call is one trace: the caller's span, then the gateway's, budget-service's RPC and
//! its LiteLLM call, each the parent of the next. A call without `traceparent` starts its trace
//! at the gateway; an alert delivery is a trace of its own whose context reaches the receiver.
//! The applications flush their spans when they stop, so nothing here waits for a batch timer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use budget_e2e::relay::RecordingRelay;
use budget_e2e::{ADMIN_TOKEN, SIM_MASTER_KEY, TestDatabase, config, init_test_logs};
use budget_proto::v1 as pb;
use budget_telemetry::TraceArgs;
use grpc_web_client::{Reply, Wire};
use litellm_sim::SimServer;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------
// The collector.

/// One span as exported, with its resource's `service.name`.
#[derive(Clone, Debug)]
struct Collected {
    service: String,
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    /// Empty for a trace's root.
    parent_id: String,
    attributes: Vec<KeyValue>,
}

impl Collected {
    fn attribute(&self, key: &str) -> Option<String> {
        attribute(&self.attributes, key)
    }

    fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        Value::StringValue(text) => Some(text.clone()),
        Value::IntValue(number) => Some(number.to_string()),
        Value::BoolValue(flag) => Some(flag.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// An OTLP/gRPC trace receiver keeping every span it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Collected>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|resource| attribute(&resource.attributes, "service.name"))
                .unwrap_or_default();
            for span in resource_spans
                .scope_spans
                .into_iter()
                .flat_map(|scope| scope.spans)
            {
                spans.push(Collected {
                    service: service.clone(),
                    name: span.name,
                    kind: span.kind,
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_id: hex::encode(&span.parent_span_id),
                    attributes: span.attributes,
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    /// Serves on a free loopback port; returns the endpoint to export to.
    async fn start() -> (Collector, String) {
        let collector = Collector::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        tokio::spawn(server);
        (collector, format!("http://{addr}"))
    }

    fn spans(&self) -> Vec<Collected> {
        self.spans.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------
// The applications.

/// budget-service and the gateway exporting to one collector, LiteLLM behind a relay.
struct World {
    db: TestDatabase,
    _sim: SimServer,
    relay: RecordingRelay,
    collector: Collector,
    client: budget_demo::AuthedClient,
    budgets: Arc<budget_service::service::Budgets>,
    gateway: SocketAddr,
    http: reqwest::Client,
    cookie: String,
    sim_control: litellm_sim::SimControl,
    stops: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl World {
    async fn start() -> World {
        init_test_logs();
        let (collector, endpoint) = Collector::start().await;
        let traces = TraceArgs {
            endpoint: Some(endpoint),
            ..TraceArgs::default()
        };
        let db = TestDatabase::create().await;
        let sim = SimServer::start("127.0.0.1:0", SIM_MASTER_KEY)
            .await
            .expect("litellm-sim starts");
        let relay = RecordingRelay::start("127.0.0.1:0".parse().unwrap(), &sim.base_url())
            .await
            .unwrap();
        let mut settings =
            budget_service::Settings::new(&db.url, &relay.base_url(), SIM_MASTER_KEY);
        settings.grpc_addr = "127.0.0.1:0".parse().unwrap();
        settings.http_addr = "127.0.0.1:0".parse().unwrap();
        settings.eval_interval_secs = 0;
        settings.shutdown_grace_secs = 2;
        settings.delivery_poll_ms = 20;
        settings.bootstrap_token = Some(ADMIN_TOKEN.into());
        settings.notify_allow_http = true;
        settings.notify_allow_hosts = budget_e2e::LOOPBACK_RECEIVERS.parse().unwrap();
        settings.traces = traces.clone();
        let app = budget_service::Application::build(settings)
            .await
            .expect("budget-service builds");
        let service_addr = app.local_addr();
        let budgets = app.budgets();
        let mut stops = Vec::new();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            app.run_until_stopped(stopped).await.unwrap();
        });
        let client = budget_demo::connect(service_addr, ADMIN_TOKEN)
            .await
            .unwrap();

        let gateway = budget_gateway::Gateway::build(budget_gateway::Config {
            traces,
            ..budget_e2e::gateway_config(&format!("http://{service_addr}"))
        })
        .await
        .expect("the gateway builds");
        let gateway_addr = gateway.local_addr();
        let (gateway_stop, gateway_stopped) = oneshot::channel::<()>();
        let gateway_task = tokio::spawn(async move {
            let stopped = async {
                let _ = gateway_stopped.await;
            };
            gateway.run_until_stopped(stopped).await.unwrap();
        });
        // The gateway stops first: its calls end before budget-service's do.
        stops.push((gateway_stop, gateway_task));
        stops.push((stop, task));

        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let cookie =
            grpc_web_client::sign_in(&http, &format!("http://{gateway_addr}"), ADMIN_TOKEN)
                .await
                .expect("signing in");
        World {
            db,
            sim_control: sim.control(),
            _sim: sim,
            relay,
            collector,
            client,
            budgets,
            gateway: gateway_addr,
            http,
            cookie,
            stops,
        }
    }

    /// Creates a tenant and returns its virtual key.
    async fn create_tenant(&self, id: &str) -> String {
        self.client
            .clone()
            .create_tenant(pb::CreateTenantRequest {
                tenant_id: id.into(),
                display_name: format!("{id} Inc."),
                config: Some(config(100, 80, 110, "30d")),
            })
            .await
            .unwrap()
            .into_inner()
            .virtual_key
    }

    /// GetBudgetStatus through the gateway as the dashboard makes it (gRPC-web), with
    /// `traceparent` when given.
    async fn dashboard_status(&self, tenant_id: &str, traceparent: Option<&str>) {
        let mut request = grpc_web_client::post(
            &self.http,
            &format!(
                "http://{}/budget.v1.BudgetService/GetBudgetStatus",
                self.gateway
            ),
            Wire::Binary.content_type(),
            grpc_web_client::data_frame(&pb::GetBudgetStatusRequest {
                tenant_id: tenant_id.into(),
            }),
        )
        .header("cookie", &self.cookie);
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let reply = Reply::read(response, Wire::Binary).await.unwrap();
        assert_eq!(reply.grpc_status(), Some(0), "{reply:?}");
    }

    /// Stops both applications, which flushes their spans, and returns every span exported.
    async fn stop(mut self) -> (Vec<Collected>, RecordingRelay) {
        for (stop, task) in self.stops.drain(..) {
            let _ = stop.send(());
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("stops in time")
                .unwrap();
        }
        self.db.drop_database().await;
        (self.collector.spans(), self.relay)
    }
}

/// The spans of one trace.
fn trace(spans: &[Collected], trace_id: &str) -> Vec<Collected> {
    spans
        .iter()
        .filter(|span| span.trace_id == trace_id)
        .cloned()
        .collect()
}

/// The one span of `trace` with this service and name.
fn one<'a>(trace: &'a [Collected], service: &str, name: &str) -> &'a Collected {
    let found: Vec<_> = trace
        .iter()
        .filter(|span| span.service == service && span.name == name)
        .collect();
    assert_eq!(found.len(), 1, "one {service} span {name:?} in {trace:#?}");
    found[0]
}

/// Whether following parents up from `span` reaches `ancestor`.
fn descends_from(trace: &[Collected], span: &Collected, ancestor: &Collected) -> bool {
    let mut current = span;
    for _ in 0..trace.len() {
        if current.parent_id == ancestor.span_id {
            return true;
        }
        match trace.iter().find(|s| s.span_id == current.parent_id) {
            Some(parent) => current = parent,
            None => return false,
        }
    }
    false
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const STATUS: &str = "budget.v1.BudgetService/GetBudgetStatus";

// ---------------------------------------------------------------------------
// The tests.

#[tokio::test]
async fn a_dashboard_call_is_one_trace_from_the_caller_through_litellm() {
    let world = World::start().await;
    world.create_tenant("acme").await;
    let caller = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    world.dashboard_status("acme", Some(&caller)).await;
    let (spans, relay) = world.stop().await;

    let trace = trace(&spans, CALLER_TRACE);
    let gateway = one(&trace, "budget-gateway", STATUS);
    assert_eq!(
        gateway.parent_id, CALLER_SPAN,
        "the caller's span is the parent"
    );
    assert_eq!(gateway.kind, SpanKind::Server as i32);
    assert_eq!(
        gateway.attribute("rpc.method").as_deref(),
        Some("GetBudgetStatus")
    );
    assert_eq!(
        gateway.attribute("rpc.grpc.status_code").as_deref(),
        Some("0")
    );
    assert!(gateway.attribute("request_id").is_some(), "{gateway:?}");

    let service = one(&trace, "budget-service", STATUS);
    assert_eq!(
        service.parent_id, gateway.span_id,
        "the gateway's span is the parent"
    );
    assert_eq!(service.kind, SpanKind::Server as i32);
    assert_eq!(service.attribute("tenant_id").as_deref(), Some("acme"));
    assert_eq!(
        service.attribute("rpc.grpc.status_code").as_deref(),
        Some("0")
    );
    assert_eq!(
        service.attribute("request_id"),
        gateway.attribute("request_id"),
        "x-request-id goes on as before"
    );

    let key_info = one(&trace, "budget-service", "LiteLLM GET /key/info");
    assert_eq!(key_info.kind, SpanKind::Client as i32);
    assert!(descends_from(&trace, key_info, service), "{trace:#?}");
    assert_eq!(
        key_info.attribute("litellm.endpoint").as_deref(),
        Some("/key/info")
    );
    assert_eq!(
        key_info.attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    // The span's context went to LiteLLM with the call.
    let sent: Vec<_> = relay
        .to_path("/key/info")
        .into_iter()
        .filter_map(|exchange| exchange.traceparent)
        .collect();
    assert!(sent.contains(&key_info.traceparent()), "{sent:?}");

    // Nothing else claims to be in the caller's trace.
    assert!(
        trace
            .iter()
            .all(|span| span.service == "budget-gateway" || span.service == "budget-service"),
        "{trace:#?}"
    );
}

#[tokio::test]
async fn a_call_without_traceparent_starts_a_trace_at_the_gateway() {
    let world = World::start().await;
    world.create_tenant("acme").await;
    world.dashboard_status("acme", None).await;
    let (spans, _) = world.stop().await;

    let roots: Vec<_> = spans
        .iter()
        .filter(|span| span.service == "budget-gateway" && span.name == STATUS)
        .collect();
    assert_eq!(roots.len(), 1, "{spans:#?}");
    let gateway = roots[0];
    assert_eq!(gateway.parent_id, "", "the gateway's span is the root");
    let trace = trace(&spans, &gateway.trace_id);
    let service = one(&trace, "budget-service", STATUS);
    assert_eq!(service.parent_id, gateway.span_id);
    let key_info = one(&trace, "budget-service", "LiteLLM GET /key/info");
    assert!(descends_from(&trace, key_info, service), "{trace:#?}");
}

#[tokio::test]
async fn an_alert_delivery_sends_its_span_to_the_receiver() {
    let world = World::start().await;
    let key = world.create_tenant("acme").await;
    let (receiver, received) = start_receiver().await;
    world
        .client
        .clone()
        .set_notification_targets(pb::SetNotificationTargetsRequest {
            tenant_id: "acme".into(),
            targets: vec![pb::NotificationTarget {
                kind: pb::NotificationKind::Webhook.into(),
                url: format!("http://{receiver}/hook"),
                secret: "whsec-0123456789abcdef".into(),
                description: "ops".into(),
                ..Default::default()
            }],
        })
        .await
        .unwrap();
    world.sim_control.set_spend(&key, 85.0).unwrap();
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let report = world.budgets.evaluation_pass(&stop).await.unwrap();
    assert_eq!(report.alerts_recorded, 1, "{report:?}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while received.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no delivery reached the receiver"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (spans, _) = world.stop().await;

    let deliveries: Vec<_> = spans
        .iter()
        .filter(|span| span.name == "notification webhook")
        .collect();
    assert_eq!(deliveries.len(), 1, "{spans:#?}");
    let delivery = deliveries[0];
    assert_eq!(delivery.service, "budget-service");
    assert_eq!(delivery.kind, SpanKind::Client as i32);
    assert_eq!(delivery.attribute("tenant_id").as_deref(), Some("acme"));
    assert_eq!(
        delivery.attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    let headers = received.lock().unwrap()[0].clone();
    let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok());
    assert_eq!(traceparent, Some(delivery.traceparent().as_str()));

    // The pass is a trace of its own, with a span per page of tenants and the LiteLLM calls in it.
    let passes: Vec<_> = spans
        .iter()
        .filter(|span| span.name == "evaluation pass")
        .collect();
    assert_eq!(passes.len(), 1, "{spans:#?}");
    let pass = passes[0];
    assert_eq!(pass.parent_id, "");
    assert_eq!(pass.attribute("alerts_recorded").as_deref(), Some("1"));
    let pass_trace = trace(&spans, &pass.trace_id);
    let page = one(&pass_trace, "budget-service", "evaluate page");
    assert_eq!(page.parent_id, pass.span_id);
    assert_eq!(page.attribute("first_tenant_id").as_deref(), Some("acme"));
    assert_eq!(page.attribute("tenants").as_deref(), Some("1"));
    assert_eq!(page.attribute("changed").as_deref(), Some("1"));
    assert!(
        pass_trace
            .iter()
            .any(|span| span.name == "LiteLLM GET /key/list" && span.parent_id == pass.span_id),
        "{pass_trace:#?}"
    );
}

/// A receiver on loopback answering 200 and keeping each request's headers.
async fn start_receiver() -> (SocketAddr, Arc<Mutex<Vec<HeaderMap>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let kept = kept.clone();
        async move {
            kept.lock().unwrap().push(headers);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}
