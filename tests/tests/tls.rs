//! TLS between the gateway and budget-service: budget-service serves a certificate made here
//! (BUDGET_TLS_CERT_FILE / BUDGET_TLS_KEY_FILE), clients that trust it get in, plain-text
//! clients do not, and the gateway forwards gRPC-web over TLS with GATEWAY_SERVICE_CA_FILE.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use budget_e2e::{ADMIN_TOKEN, Bearer, SIM_MASTER_KEY, TestDatabase, init_test_logs};
use budget_proto::v1 as pb;
use budget_proto::v1::budget_service_client::BudgetServiceClient;
use budget_service::Settings;
use grpc_web_client::{Reply, Wire};
use litellm_sim::SimServer;
use tokio::sync::oneshot;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

/// A self-signed certificate for localhost and 127.0.0.1, written to a fresh directory.
struct TestCert {
    dir: PathBuf,
    cert_pem: String,
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl TestCert {
    fn new() -> TestCert {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .unwrap();
        let dir = std::env::temp_dir().join(format!("budget-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert_pem = certified.cert.pem();
        let cert_file = dir.join("cert.pem");
        let key_file = dir.join("key.pem");
        std::fs::write(&cert_file, &cert_pem).unwrap();
        std::fs::write(&key_file, certified.signing_key.serialize_pem()).unwrap();
        TestCert {
            dir,
            cert_pem,
            cert_file,
            key_file,
        }
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// budget-service serving TLS with `cert`, its own database and litellm-sim.
struct TlsService {
    db: TestDatabase,
    _sim: SimServer,
    port: u16,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TlsService {
    async fn start(cert: &TestCert) -> TlsService {
        init_test_logs();
        let db = TestDatabase::create().await;
        let sim = SimServer::start("127.0.0.1:0", SIM_MASTER_KEY)
            .await
            .expect("litellm-sim starts");
        let settings = settings(&db, &sim, Some(&cert.cert_file), Some(&cert.key_file));
        let app = budget_service::Application::build(settings)
            .await
            .expect("budget-service builds with TLS");
        let port = app.port();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TlsService {
            db,
            _sim: sim,
            port,
            stop,
            task,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        self.db.drop_database().await;
    }
}

fn settings(
    db: &TestDatabase,
    sim: &SimServer,
    cert_file: Option<&Path>,
    key_file: Option<&Path>,
) -> Settings {
    let mut settings = Settings::new(&db.url, &sim.base_url(), SIM_MASTER_KEY);
    settings.grpc_addr = "127.0.0.1:0".parse().unwrap();
    settings.http_addr = "127.0.0.1:0".parse().unwrap();
    settings.bootstrap_token = Some(ADMIN_TOKEN.into());
    settings.shutdown_grace_secs = 2;
    settings.eval_interval_secs = 0;
    settings.delivery_poll_ms = 0;
    settings.tls_cert_file = cert_file.map(Path::to_owned);
    settings.tls_key_file = key_file.map(Path::to_owned);
    settings
}

#[tokio::test]
async fn a_client_trusting_the_ca_gets_in_and_a_plain_text_client_does_not() {
    let cert = TestCert::new();
    let service = TlsService::start(&cert).await;

    for host in ["localhost", "127.0.0.1"] {
        let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&cert.cert_pem));
        let channel = Channel::from_shared(format!("https://{host}:{}", service.port))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap_or_else(|err| panic!("TLS connection to {host}: {err:?}"));
        let mut client =
            BudgetServiceClient::with_interceptor(channel, Bearer::new(ADMIN_TOKEN).unwrap());
        let me = client
            .who_am_i(pb::WhoAmIRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(me.role(), pb::Role::PlatformAdmin);
        // An unknown tenant: the call reaches the use case and comes back NOT_FOUND.
        let status = client
            .get_budget_status(pb::GetBudgetStatusRequest {
                tenant_id: "no-such-tenant".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    }

    // Plain HTTP/2 to the TLS port: no answer comes back.
    let plain = Channel::from_shared(format!("http://127.0.0.1:{}", service.port))
        .unwrap()
        .timeout(Duration::from_secs(3))
        .connect_timeout(Duration::from_secs(3))
        .connect_lazy();
    let mut client =
        BudgetServiceClient::with_interceptor(plain, Bearer::new(ADMIN_TOKEN).unwrap());
    let refused = client.who_am_i(pb::WhoAmIRequest::default()).await;
    assert!(refused.is_err(), "plain text was answered: {refused:?}");

    // A TLS client that does not trust the certificate is refused too.
    let other = TestCert::new();
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&other.cert_pem));
    let untrusting = Channel::from_shared(format!("https://localhost:{}", service.port))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await;
    assert!(untrusting.is_err(), "an unknown certificate was trusted");

    // `budget-service health` over TLS: SERVING with the CA, refused without or with another.
    let probe = budget_service::grpc::probe::check;
    let https = format!("https://127.0.0.1:{}", service.port);
    let wait = Duration::from_secs(3);
    probe(&https, Some(cert.cert_pem.as_bytes()), wait)
        .await
        .unwrap();
    let needs_ca = probe(&https, None, wait).await.unwrap_err();
    assert!(needs_ca.contains("--ca-file"), "{needs_ca}");
    assert!(
        probe(&https, Some(other.cert_pem.as_bytes()), wait)
            .await
            .is_err()
    );

    service.stop().await;
}

#[tokio::test]
async fn the_gateway_forwards_grpc_web_over_tls() {
    let cert = TestCert::new();
    let service = TlsService::start(&cert).await;
    let gateway = budget_gateway::Gateway::build(budget_gateway::Config {
        service_ca_file: Some(cert.cert_file.clone()),
        ..budget_e2e::gateway_config(&format!("https://localhost:{}", service.port))
    })
    .await
    .expect("the gateway builds with an https upstream and a CA file");
    let addr = gateway.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(gateway.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Signing in checks the token with WhoAmI, over TLS.
    let cookie = grpc_web_client::sign_in(&http, &format!("http://{addr}"), ADMIN_TOKEN)
        .await
        .expect("signing in");

    // A gRPC-web call, as the browser makes it, forwarded over TLS.
    let response = grpc_web_client::post(
        &http,
        &format!("http://{addr}/budget.v1.BudgetService/WhoAmI"),
        Wire::Binary.content_type(),
        grpc_web_client::data_frame(&pb::WhoAmIRequest::default()),
    )
    .header("cookie", &cookie)
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let reply = Reply::read(response, Wire::Binary).await.unwrap();
    assert_eq!(reply.grpc_status(), Some(0), "{reply:?}");
    let me: pb::WhoAmIResponse = reply.only_message().expect("a WhoAmI answer");
    assert_eq!(me.role(), pb::Role::PlatformAdmin);

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
    service.stop().await;
}

#[tokio::test]
async fn budget_service_refuses_unreadable_or_half_tls_settings() {
    init_test_logs();
    let db = TestDatabase::create().await;
    let sim = SimServer::start("127.0.0.1:0", SIM_MASTER_KEY)
        .await
        .expect("litellm-sim starts");
    let cert = TestCert::new();
    let missing = cert.dir.join("missing.pem");

    let cases: [(Option<&Path>, Option<&Path>, &str); 4] = [
        (Some(&cert.cert_file), None, "BUDGET_TLS_KEY_FILE"),
        (Some(&missing), Some(&cert.key_file), "BUDGET_TLS_CERT_FILE"),
        (Some(&cert.cert_file), Some(&missing), "BUDGET_TLS_KEY_FILE"),
        // A certificate where the key belongs.
        (
            Some(&cert.cert_file),
            Some(&cert.cert_file),
            "BUDGET_TLS_KEY_FILE",
        ),
    ];
    for (cert_file, key_file, variable) in cases {
        let err = budget_service::Application::build(settings(&db, &sim, cert_file, key_file))
            .await
            .err()
            .expect("bad TLS settings are refused");
        let message = format!("{err:#}");
        assert!(message.contains(variable), "{message}");
    }
    db.drop_database().await;
}
