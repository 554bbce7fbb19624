//! Spawns a fake budget-service and the gateway in front of it, and speaks gRPC-web by hand.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use budget_gateway::{Config, Gateway, SessionKey};
use budget_proto::Timestamp;
use budget_proto::v1::budget_service_server::{BudgetService, BudgetServiceServer};
use budget_proto::v1::*;
use grpc_web_client::data_frame;
pub use grpc_web_client::{Reply as GrpcWebReply, Wire, frame};
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

/// The tokens the fake budget-service knows, and who they belong to.
pub const ADMIN_TOKEN: &str = "good-admin";
pub const TENANT_TOKEN: &str = "good-tenant";

/// A stand-in for budget-service. Like the real one it wants `authorization: Bearer <token>` on
/// every call: `good-admin` is a platform admin, `good-tenant` the tenant admin of `acme`, any
/// other token or none is UNAUTHENTICATED, but `throttled-by-service`, which is
/// RESOURCE_EXHAUSTED with a retry delay of 7.5 s. It also refuses (INTERNAL) a call that carries a
/// cookie or more than one authorization header, which the gateway must never forward.
/// Then one answer per RPC:
/// - WhoAmI: the token's name, role and tenant.
/// - GetBudgetStatus: `fixed_status`; PERMISSION_DENIED for a tenant admin's other tenants.
/// - GetBudgetConfig: echoes the `grpc-timeout` it received in `config.etag` and the
///   `authorization` header in `config.budget_duration`.
/// - UpdateBudgetConfig: `invalid_config_status`.
/// - ListAlerts: sleeps `page_size` milliseconds, then answers with `total_size = page_size`.
/// - ExportTenantData: a CSV naming the caller; NOT_FOUND (with an ErrorInfo) for `nobody`, UNAVAILABLE for `down`,
///   INVALID_ARGUMENT for start date `bad`, PERMISSION_DENIED for a tenant admin's other tenants.
/// - everything else: UNIMPLEMENTED.
#[derive(Clone, Default)]
struct FakeBudgetService {
    /// Calls that got past the authorization check.
    calls: Arc<AtomicUsize>,
}

/// Who a token is, as the fake sees it.
struct Caller {
    name: &'static str,
    role: Role,
    tenant_id: &'static str,
}

impl FakeBudgetService {
    fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let metadata = request.metadata();
        if metadata.get("cookie").is_some() {
            return Err(Status::internal("a cookie reached budget-service"));
        }
        let mut authorizations = metadata.get_all("authorization").iter();
        let authorization = authorizations.next();
        if authorizations.next().is_some() {
            return Err(Status::internal("more than one authorization header"));
        }
        let caller = match authorization.and_then(|value| value.to_str().ok()) {
            Some("Bearer good-admin") => Caller {
                name: "admin",
                role: Role::PlatformAdmin,
                tenant_id: "",
            },
            Some("Bearer good-tenant") => Caller {
                name: "acme-admin",
                role: Role::TenantAdmin,
                tenant_id: "acme",
            },
            Some("Bearer throttled-by-service") => {
                let mut details = ErrorDetails::new();
                details.set_retry_info(Some(Duration::from_millis(7_500)));
                return Err(Status::with_error_details(
                    Code::ResourceExhausted,
                    "Too many failed authentications from this address",
                    details,
                ));
            }
            _ => return Err(Status::unauthenticated("unknown token")),
        };
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(caller)
    }
}

#[tonic::async_trait]
impl BudgetService for FakeBudgetService {
    async fn who_am_i(
        &self,
        request: Request<WhoAmIRequest>,
    ) -> Result<Response<WhoAmIResponse>, Status> {
        let caller = self.caller(&request)?;
        Ok(Response::new(WhoAmIResponse {
            name: caller.name.to_owned(),
            role: caller.role as i32,
            tenant_id: caller.tenant_id.to_owned(),
        }))
    }

    async fn get_budget_status(
        &self,
        request: Request<GetBudgetStatusRequest>,
    ) -> Result<Response<GetBudgetStatusResponse>, Status> {
        let caller = self.caller(&request)?;
        // Echoed as `x-echo-request-id`, so tests see the id that reached budget-service.
        let request_id = request.metadata().get("x-request-id").cloned();
        let tenant_id = request.into_inner().tenant_id;
        if !caller.tenant_id.is_empty() && caller.tenant_id != tenant_id {
            return Err(Status::permission_denied("not your tenant"));
        }
        let mut response = Response::new(GetBudgetStatusResponse {
            status: Some(fixed_status(&tenant_id)),
        });
        if let Some(id) = request_id {
            response.metadata_mut().insert("x-echo-request-id", id);
        }
        Ok(response)
    }

    async fn get_budget_config(
        &self,
        request: Request<GetBudgetConfigRequest>,
    ) -> Result<Response<GetBudgetConfigResponse>, Status> {
        self.caller(&request)?;
        let echo = |name: &str| {
            request
                .metadata()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("none")
                .to_owned()
        };
        let (timeout, authorization) = (echo("grpc-timeout"), echo("authorization"));
        Ok(Response::new(GetBudgetConfigResponse {
            config: Some(BudgetConfig {
                tenant_id: request.into_inner().tenant_id,
                etag: timeout,
                budget_duration: authorization,
                ..Default::default()
            }),
        }))
    }

    async fn update_budget_config(
        &self,
        request: Request<UpdateBudgetConfigRequest>,
    ) -> Result<Response<UpdateBudgetConfigResponse>, Status> {
        self.caller(&request)?;
        Err(invalid_config_status())
    }

    async fn list_alerts(
        &self,
        request: Request<ListAlertsRequest>,
    ) -> Result<Response<ListAlertsResponse>, Status> {
        self.caller(&request)?;
        let millis = request.into_inner().page_size;
        tokio::time::sleep(Duration::from_millis(u64::try_from(millis).unwrap_or(0))).await;
        Ok(Response::new(ListAlertsResponse {
            total_size: millis,
            ..Default::default()
        }))
    }

    async fn get_spend_history(
        &self,
        request: Request<GetSpendHistoryRequest>,
    ) -> Result<Response<GetSpendHistoryResponse>, Status> {
        self.caller(&request)?;
        Err(Status::unimplemented("not in the fake"))
    }

    async fn list_tenants(
        &self,
        request: Request<ListTenantsRequest>,
    ) -> Result<Response<ListTenantsResponse>, Status> {
        self.caller(&request)?;
        Err(Status::unimplemented("not in the fake"))
    }

    async fn create_tenant(
        &self,
        request: Request<CreateTenantRequest>,
    ) -> Result<Response<CreateTenantResponse>, Status> {
        self.caller(&request)?;
        Err(Status::unimplemented("not in the fake"))
    }

    async fn list_audit_events(
        &self,
        request: Request<ListAuditEventsRequest>,
    ) -> Result<Response<ListAuditEventsResponse>, Status> {
        self.caller(&request)?;
        Err(Status::unimplemented("not in the fake"))
    }

    async fn list_notification_targets(
        &self,
        request: Request<ListNotificationTargetsRequest>,
    ) -> Result<Response<ListNotificationTargetsResponse>, Status> {
        self.caller(&request)?;
        Err(Status::unimplemented("not in the fake"))
    }

    async fn set_notification_targets(
        &self,
        request: Request<SetNotificationTargetsRequest>,
    ) -> Result<Response<SetNotificationTargetsResponse>, Status> {
        self.caller(&request)?;
        Err(Status::unimplemented("not in the fake"))
    }

    async fn delete_tenant(
        &self,
        request: Request<DeleteTenantRequest>,
    ) -> Result<Response<DeleteTenantResponse>, Status> {
        self.caller(&request)?;
        Err(Status::unimplemented("not in the fake"))
    }

    async fn rotate_tenant_key(
        &self,
        request: Request<RotateTenantKeyRequest>,
    ) -> Result<Response<RotateTenantKeyResponse>, Status> {
        self.caller(&request)?;
        Err(Status::unimplemented("not in the fake"))
    }

    async fn attach_tenant_key(
        &self,
        request: Request<AttachTenantKeyRequest>,
    ) -> Result<Response<AttachTenantKeyResponse>, Status> {
        self.caller(&request)?;
        Err(Status::unimplemented("not in the fake"))
    }

    async fn suspend_tenant(
        &self,
        request: Request<SuspendTenantRequest>,
    ) -> Result<Response<SuspendTenantResponse>, Status> {
        self.caller(&request)?;
        Err(Status::unimplemented("not in the fake"))
    }

    async fn resume_tenant(
        &self,
        request: Request<ResumeTenantRequest>,
    ) -> Result<Response<ResumeTenantResponse>, Status> {
        self.caller(&request)?;
        Err(Status::unimplemented("not in the fake"))
    }

    async fn grant_temporary_increase(
        &self,
        request: Request<GrantTemporaryIncreaseRequest>,
    ) -> Result<Response<GrantTemporaryIncreaseResponse>, Status> {
        self.caller(&request)?;
        Err(Status::unimplemented("not in the fake"))
    }

    async fn get_fleet_summary(
        &self,
        request: Request<GetFleetSummaryRequest>,
    ) -> Result<Response<GetFleetSummaryResponse>, Status> {
        self.caller(&request)?;
        Err(Status::unimplemented("not in the fake"))
    }

    async fn export_tenant_data(
        &self,
        request: Request<ExportTenantDataRequest>,
    ) -> Result<Response<ExportTenantDataResponse>, Status> {
        let caller = self.caller(&request)?;
        let req = request.into_inner();
        if !caller.tenant_id.is_empty() && caller.tenant_id != req.tenant_id {
            return Err(Status::permission_denied("not your tenant"));
        }
        match req.tenant_id.as_str() {
            "nobody" => {
                let mut details = ErrorDetails::new();
                details.set_error_info(
                    "TENANT_NOT_FOUND",
                    "budget.v1",
                    [("tenant_id".to_owned(), "nobody".to_owned())],
                );
                return Err(Status::with_error_details(
                    Code::NotFound,
                    "Tenant nobody not found",
                    details,
                ));
            }
            "down" => return Err(Status::unavailable("database unavailable")),
            _ => {}
        }
        if req.start_date == "bad" {
            return Err(Status::invalid_argument(
                "Start date must be a date as YYYY-MM-DD",
            ));
        }
        let kind = ExportKind::try_from(req.kind).unwrap_or(ExportKind::Unspecified);
        Ok(Response::new(ExportTenantDataResponse {
            filename: format!(
                "{}-{}-{}-{}.csv",
                req.tenant_id,
                kind.as_str_name(),
                req.start_date,
                req.end_date
            ),
            csv: format!("caller,note\r\n{},\"a, \"\"b\"\"\"\r\n", caller.name).into_bytes(),
        }))
    }

    async fn preview_budget_config(
        &self,
        request: Request<PreviewBudgetConfigRequest>,
    ) -> Result<Response<PreviewBudgetConfigResponse>, Status> {
        self.caller(&request)?;
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
    spawn_counting_fake_budget_service().await.0
}

/// Serves the fake budget-service and returns its URL and how many calls it accepted so far.
pub async fn spawn_counting_fake_budget_service() -> (http::Uri, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = FakeBudgetService::default();
    let calls = fake.calls.clone();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(BudgetServiceServer::new(fake))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    (format!("http://{addr}").parse().unwrap(), calls)
}

/// A URL where nothing listens: a port that was free a moment ago.
pub async fn unreachable_url() -> http::Uri {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}").parse().unwrap()
}

/// The session key test gateways use unless a test says otherwise.
pub const TEST_SESSION_KEY: [u8; 32] = [7; 32];

/// How a test gateway is set up.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Where to listen; the tests always connect over loopback.
    pub addr: SocketAddr,
    pub upstream_timeout: Duration,
    pub session_key: [u8; 32],
    pub session_ttl: Duration,
    /// GATEWAY_COOKIE_SECURE.
    pub cookie_secure: Option<bool>,
    pub signin_failure_burst: u32,
    pub signin_failures_per_min: u32,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:0".parse().unwrap(),
            upstream_timeout: Duration::from_secs(10),
            session_key: TEST_SESSION_KEY,
            session_ttl: Duration::from_secs(3600),
            cookie_secure: None,
            signin_failure_burst: 10,
            signin_failures_per_min: 10,
        }
    }
}

/// A running gateway and a client for it. The client follows no redirects and keeps no cookies
/// of its own: `cookie` is what it sends, set by `sign_in_as` or by hand.
pub struct TestGateway {
    pub addr: SocketAddr,
    /// Where `/metrics` is served (GATEWAY_METRICS_ADDR).
    pub metrics_addr: SocketAddr,
    pub client: reqwest::Client,
    /// The `name=value` session cookie sent with `get` and `grpc_web_call`.
    pub cookie: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestGateway {
    /// A signed-out gateway in front of `budget_service_url`, with the default options.
    pub async fn spawn(budget_service_url: http::Uri) -> Self {
        Self::spawn_with(budget_service_url, GatewayOptions::default()).await
    }

    /// A gateway in front of the fake budget-service, signed in as the platform admin.
    pub async fn signed_in() -> Self {
        let mut gateway = Self::spawn(spawn_fake_budget_service().await).await;
        gateway.sign_in_as(ADMIN_TOKEN).await;
        gateway
    }

    pub async fn spawn_with_timeout(budget_service_url: http::Uri, timeout: Duration) -> Self {
        let options = GatewayOptions {
            upstream_timeout: timeout,
            ..GatewayOptions::default()
        };
        Self::spawn_with(budget_service_url, options).await
    }

    pub async fn spawn_with(budget_service_url: http::Uri, options: GatewayOptions) -> Self {
        init_test_log();
        let config = Config {
            addr: options.addr,
            budget_service_url,
            upstream_timeout: options.upstream_timeout,
            session_key: Some(SessionKey::from_bytes(options.session_key)),
            session_ttl: options.session_ttl,
            service_ca_file: None,
            metrics_addr: "127.0.0.1:0".parse().unwrap(),
            cookie_secure: options.cookie_secure,
            signin_failure_burst: options.signin_failure_burst,
            signin_failures_per_min: options.signin_failures_per_min,
            traces: Default::default(),
        };
        let gateway = Gateway::build(config).await.unwrap();
        let metrics_addr = gateway.metrics_addr();
        let mut addr = gateway.local_addr();
        assert_eq!(addr.port(), gateway.port());
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(gateway.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            metrics_addr,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The gateway's own origin, as a browser on its pages sends it.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// GETs `path` with the session cookie, if any.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    /// Submits the sign-in form with `token`, as the browser does.
    pub async fn post_sign_in(&self, token: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/session"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={}", form_encode(token)));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// Signs in with `token`, which must work, and keeps the session cookie for later requests.
    pub async fn sign_in_as(&mut self, token: &str) {
        let response = self.post_sign_in(token, &[]).await;
        assert_eq!(response.status(), 303, "signing in as {token}");
        let cookie = SetCookie::from(&response).expect("a session cookie");
        self.cookie = Some(cookie.pair());
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
        let mut call = grpc_web_client::post(
            &self.client,
            &self.url(&format!("/budget.v1.BudgetService/{method}")),
            wire.content_type(),
            wire.encode(data_frame(request)),
        );
        if let Some(cookie) = &self.cookie {
            call = call.header("cookie", cookie);
        }
        for (name, value) in extra_headers {
            call = call.header(*name, *value);
        }
        GrpcWebReply::read(call.send().await.unwrap(), wire)
            .await
            .unwrap()
    }
}

/// A session cookie from the fake budget-service's platform admin, sealed with the default test
/// key, for gateways that cannot sign anyone in themselves (their upstream is down).
pub async fn admin_cookie() -> String {
    TestGateway::signed_in().await.cookie.unwrap()
}

/// A `Set-Cookie` header taken apart.
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// The attributes as sent, e.g. `HttpOnly`, `Max-Age=3600`.
    pub attributes: Vec<String>,
}

impl SetCookie {
    /// The response's only `Set-Cookie`, if it has one.
    pub fn from(response: &reqwest::Response) -> Option<Self> {
        let mut all = response.headers().get_all("set-cookie").iter();
        let header = all.next()?.to_str().unwrap();
        assert!(all.next().is_none(), "one Set-Cookie at most");
        let mut parts = header.split(';').map(str::trim);
        let (name, value) = parts.next().unwrap().split_once('=').unwrap();
        Some(Self {
            name: name.to_owned(),
            value: value.to_owned(),
            attributes: parts.map(str::to_owned).collect(),
        })
    }

    /// What a browser sends back: `name=value`.
    pub fn pair(&self) -> String {
        format!("{}={}", self.name, self.value)
    }

    pub fn has(&self, attribute: &str) -> bool {
        self.attributes
            .iter()
            .any(|have| have.eq_ignore_ascii_case(attribute))
    }
}

/// `application/x-www-form-urlencoded` for one value.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                char::from(byte).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
