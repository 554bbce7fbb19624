//! Spawns a fake budget-service and the gateway in front of it, and speaks gRPC-web by hand.

use std::net::SocketAddr;
use std::sync::Once;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use budget_gateway::{Config, Gateway};
use budget_proto::Timestamp;
use budget_proto::v1::budget_service_server::{BudgetService, BudgetServiceServer};
use budget_proto::v1::*;
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// What the fake budget-service answers to GetBudgetStatus, whatever the tenant.
pub fn fixed_status(tenant_id: &str) -> BudgetStatus {
    BudgetStatus {
        tenant_id: tenant_id.to_owned(),
        spend_micros: 42_500_000,
        max_budget_micros: 100_000_000,
        percent_used: 42.5,
        alert_threshold_percent: 80,
        grace_threshold_percent: 110,
        block_at_micros: 110_000_000,
        state: BudgetState::Ok as i32,
        reset_time: Some(Timestamp {
            seconds: 1_767_225_600,
            nanos: 0,
        }),
        days_until_reset: 12,
        budget_duration: "30d".to_owned(),
        ..Default::default()
    }
}

/// The error the fake budget-service answers to every UpdateBudgetConfig.
pub fn invalid_config_status() -> Status {
    let mut details = ErrorDetails::new();
    details
        .add_bad_request_violation(
            "config.alert_threshold_percent",
            "must be between 50 and 100, got 120",
        )
        .add_bad_request_violation("config.budget_duration", "must be one of 30d, 60d, 90d");
    Status::with_error_details(
        Code::InvalidArgument,
        "the budget configuration is invalid: 2 fields, see details",
        details,
    )
}

/// A stand-in for budget-service with one answer per RPC:
/// - GetBudgetStatus: `fixed_status`.
/// - GetBudgetConfig: echoes the `grpc-timeout` it received in `config.etag`.
/// - UpdateBudgetConfig: `invalid_config_status`.
/// - ListAlerts: sleeps `page_size` milliseconds, then answers with `total_size = page_size`.
/// - everything else: UNIMPLEMENTED.
struct FakeBudgetService;

#[tonic::async_trait]
impl BudgetService for FakeBudgetService {
    async fn get_budget_status(
        &self,
        request: Request<GetBudgetStatusRequest>,
    ) -> Result<Response<GetBudgetStatusResponse>, Status> {
        Ok(Response::new(GetBudgetStatusResponse {
            status: Some(fixed_status(&request.into_inner().tenant_id)),
        }))
    }

    async fn get_budget_config(
        &self,
        request: Request<GetBudgetConfigRequest>,
    ) -> Result<Response<GetBudgetConfigResponse>, Status> {
        let timeout = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        Ok(Response::new(GetBudgetConfigResponse {
            config: Some(BudgetConfig {
                tenant_id: request.into_inner().tenant_id,
                etag: timeout,
                ..Default::default()
            }),
        }))
    }

    async fn update_budget_config(
        &self,
        _request: Request<UpdateBudgetConfigRequest>,
    ) -> Result<Response<UpdateBudgetConfigResponse>, Status> {
        Err(invalid_config_status())
    }

    async fn list_alerts(
        &self,
        request: Request<ListAlertsRequest>,
    ) -> Result<Response<ListAlertsResponse>, Status> {
        let millis = request.into_inner().page_size;
        tokio::time::sleep(Duration::from_millis(u64::try_from(millis).unwrap_or(0))).await;
        Ok(Response::new(ListAlertsResponse {
            total_size: millis,
            ..Default::default()
        }))
    }

    async fn get_spend_history(
        &self,
        _request: Request<GetSpendHistoryRequest>,
    ) -> Result<Response<GetSpendHistoryResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn list_tenants(
        &self,
        _request: Request<ListTenantsRequest>,
    ) -> Result<Response<ListTenantsResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn create_tenant(
        &self,
        _request: Request<CreateTenantRequest>,
    ) -> Result<Response<CreateTenantResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn list_audit_events(
        &self,
        _request: Request<ListAuditEventsRequest>,
    ) -> Result<Response<ListAuditEventsResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn list_notification_targets(
        &self,
        _request: Request<ListNotificationTargetsRequest>,
    ) -> Result<Response<ListNotificationTargetsResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn set_notification_targets(
        &self,
        _request: Request<SetNotificationTargetsRequest>,
    ) -> Result<Response<SetNotificationTargetsResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }
}

fn init_test_log() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter("debug,h2=info,hyper=info")
                .with_test_writer()
                .init();
        }
    });
}

/// Serves the fake budget-service on a free port and returns its URL.
pub async fn spawn_fake_budget_service() -> http::Uri {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(BudgetServiceServer::new(FakeBudgetService))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    format!("http://{addr}").parse().unwrap()
}

/// A URL where nothing listens: a port that was free a moment ago.
pub async fn unreachable_url() -> http::Uri {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}").parse().unwrap()
}

/// A running gateway and a client for it.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestGateway {
    pub async fn spawn(budget_service_url: http::Uri) -> Self {
        Self::spawn_with_timeout(budget_service_url, Duration::from_secs(10)).await
    }

    pub async fn spawn_with_timeout(budget_service_url: http::Uri, timeout: Duration) -> Self {
        init_test_log();
        let config = Config {
            addr: "127.0.0.1:0".parse().unwrap(),
            budget_service_url,
            upstream_timeout: timeout,
        };
        let gateway = Gateway::build(config).await.unwrap();
        let addr = gateway.local_addr();
        assert_eq!(addr.port(), gateway.port());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(gateway.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// The shutdown trigger and the server task, to stop the gateway while calls are in flight.
    pub fn take_shutdown(&mut self) -> (oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
        (self.stop.take().unwrap(), self.server.take().unwrap())
    }

    /// Makes a unary gRPC-web call the way a browser would.
    pub async fn grpc_web_call(
        &self,
        method: &str,
        request: &impl Message,
        wire: Wire,
        extra_headers: &[(&str, &str)],
    ) -> GrpcWebReply {
        let frame = frame(0x00, &request.encode_to_vec());
        let body = match wire {
            Wire::Binary => frame,
            Wire::Text => general_purpose::STANDARD.encode(frame).into_bytes(),
        };
        let mut call = self
            .client
            .post(self.url(&format!("/budget.v1.BudgetService/{method}")))
            .header("content-type", wire.content_type())
            .header("accept", wire.content_type())
            .header("x-grpc-web", "1")
            .body(body);
        for (name, value) in extra_headers {
            call = call.header(*name, *value);
        }
        GrpcWebReply::read(call.send().await.unwrap(), wire).await
    }
}

/// The two gRPC-web encodings browsers use.
#[derive(Debug, Clone, Copy)]
pub enum Wire {
    Binary,
    Text,
}

impl Wire {
    pub fn content_type(self) -> &'static str {
        match self {
            Wire::Binary => "application/grpc-web",
            Wire::Text => "application/grpc-web-text",
        }
    }

    /// tonic-web always answers with the explicit `+proto` form.
    pub fn response_content_type(self) -> &'static str {
        match self {
            Wire::Binary => "application/grpc-web+proto",
            Wire::Text => "application/grpc-web-text+proto",
        }
    }
}

/// One gRPC-web frame: a flag byte (0x00 data, 0x80 trailers), a big-endian length, the payload.
pub fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![flag];
    frame.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// A gRPC-web response taken apart: data frames, and status metadata from the trailer frame or,
/// for a trailers-only answer, from the HTTP headers.
#[derive(Debug)]
pub struct GrpcWebReply {
    pub http_status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub messages: Vec<Vec<u8>>,
    pub trailers: Vec<(String, String)>,
}

impl GrpcWebReply {
    async fn read(response: reqwest::Response, wire: Wire) -> Self {
        let http_status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        let body = match wire {
            Wire::Binary => body.to_vec(),
            Wire::Text => decode_base64_chunks(&body),
        };
        let mut messages = Vec::new();
        let mut trailers = Vec::new();
        let mut rest = &body[..];
        while !rest.is_empty() {
            let flag = rest[0];
            let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
            let payload = &rest[5..5 + len];
            rest = &rest[5 + len..];
            if flag & 0x80 == 0 {
                messages.push(payload.to_vec());
            } else {
                let text = std::str::from_utf8(payload).unwrap();
                for line in text.split("\r\n").filter(|line| !line.is_empty()) {
                    let (name, value) = line.split_once(':').unwrap();
                    trailers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                }
            }
        }
        Self {
            http_status,
            headers,
            messages,
            trailers,
        }
    }

    /// A status field (`grpc-status`, `grpc-message`, ...) from the trailers or the headers.
    pub fn metadata(&self, name: &str) -> Option<String> {
        self.trailers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .or_else(|| {
                self.headers
                    .get(name)
                    .map(|value| value.to_str().unwrap().to_owned())
            })
    }

    pub fn code(&self) -> Code {
        let status = self.metadata("grpc-status").expect("a grpc-status");
        Code::from_i32(status.parse().unwrap())
    }

    /// The single response message.
    pub fn message<M: Message + Default>(&self) -> M {
        assert_eq!(self.messages.len(), 1, "{self:?}");
        M::decode(&self.messages[0][..]).unwrap()
    }

    /// The status as a tonic client would see it, details included.
    pub fn status(&self) -> Status {
        let message = self.metadata("grpc-message").unwrap_or_default();
        let message = percent_decode(&message);
        let details = self
            .metadata("grpc-status-details-bin")
            .map(|value| lenient_base64().decode(value).unwrap())
            .unwrap_or_default();
        Status::with_details(self.code(), message, details.into())
    }
}

/// grpc-web-text sends each frame base64-encoded on its own, padding included, so the body is
/// decoded one 4-character group at a time.
fn decode_base64_chunks(text: &[u8]) -> Vec<u8> {
    text.chunks(4)
        .flat_map(|group| lenient_base64().decode(group).unwrap())
        .collect()
}

fn lenient_base64() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
