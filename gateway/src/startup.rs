//! Builds the gateway from its config, binds the port, and serves until told to stop.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt as _;
use budget_telemetry::Telemetry;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::{Certificate, ClientTlsConfig};

use budget_proto::throttle::{DEFAULT_PEER_CAPACITY, FailureThrottle};

use crate::app;
use crate::assets::Assets;
use crate::config::Config;
use crate::export::Exporter;
use crate::grpc_proxy::{GrpcProxy, budget_service_channel};
use crate::metrics::Metrics;
use crate::session::{RandomSourceError, SessionKey, Sessions};
use crate::signin::TokenCheck;
use crate::state::AppState;

/// Extra time, beyond the upstream deadline, for the last responses to be written while draining.
const DRAIN_MARGIN: Duration = Duration::from_secs(2);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address from the config.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// budget-service is reached as `http://host:port` (h2c) or `https://host:port` (TLS).
    #[error("BUDGET_SERVICE_URL must look like http://host:port or https://host:port, got {0}")]
    UpstreamUrl(http::Uri),
    /// An https BUDGET_SERVICE_URL needs the CA to check budget-service's certificate against.
    #[error(
        "BUDGET_SERVICE_URL is https, so GATEWAY_SERVICE_CA_FILE must name the PEM CA \
         certificate that signed budget-service's certificate"
    )]
    ServiceCaMissing,
    /// GATEWAY_SERVICE_CA_FILE cannot be read or holds no PEM certificate.
    #[error("GATEWAY_SERVICE_CA_FILE: {path}: {reason}")]
    ServiceCa {
        /// The file from the config.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// tonic refused the TLS settings for the channel to budget-service.
    #[error("cannot set up TLS to budget-service (GATEWAY_SERVICE_CA_FILE)")]
    ServiceTls(#[source] tonic::transport::Error),
    /// No GATEWAY_SESSION_KEY was given and no random one could be made.
    #[error("cannot make a session key")]
    SessionKey(#[source] RandomSourceError),
    /// An OTEL_* variable has a value that cannot work.
    #[error("{0}")]
    TraceSettings(String),
    /// The OTLP exporter could not be set up.
    #[error(transparent)]
    Telemetry(#[from] budget_telemetry::TelemetryError),
}

/// TLS to budget-service, trusting only the CA certificate(s) in `ca_file`. The server name
/// checked is the host of BUDGET_SERVICE_URL.
fn service_tls(ca_file: Option<&std::path::Path>) -> Result<ClientTlsConfig, BuildError> {
    let path = ca_file.ok_or(BuildError::ServiceCaMissing)?;
    let invalid = |reason: String| BuildError::ServiceCa {
        path: path.to_owned(),
        reason,
    };
    let pem =
        std::fs::read_to_string(path).map_err(|err| invalid(format!("cannot read: {err}")))?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(invalid("holds no PEM certificate".to_owned()));
    }
    Ok(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
}

/// A bound, ready-to-serve gateway: the public port and the metrics port.
#[derive(Debug)]
pub struct Gateway {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    metrics_listener: TcpListener,
    metrics_addr: SocketAddr,
    metrics_router: Router,
    drain_timeout: Duration,
    /// OpenTelemetry traces (none without OTEL_EXPORTER_OTLP_ENDPOINT), flushed at the end.
    telemetry: Telemetry,
}

impl Gateway {
    /// Binds `config.addr` (port 0 picks a free port) and prepares the channel to budget-service;
    /// the channel connects on first use, so budget-service need not be up yet.
    pub async fn build(config: Config) -> Result<Self, BuildError> {
        let traces = config
            .traces
            .settings("budget-gateway", env!("CARGO_PKG_VERSION"))
            .map_err(BuildError::TraceSettings)?;
        let url = config.budget_service_url;
        let tls = match (url.scheme_str(), url.authority()) {
            (Some("http"), Some(_)) => None,
            (Some("https"), Some(_)) => Some(service_tls(config.service_ca_file.as_deref())?),
            _ => return Err(BuildError::UpstreamUrl(url)),
        };
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| BuildError::Bind {
                addr: config.addr,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| BuildError::Bind {
            addr: config.addr,
            source,
        })?;
        let metrics_listener = TcpListener::bind(config.metrics_addr)
            .await
            .map_err(|source| BuildError::Bind {
                addr: config.metrics_addr,
                source,
            })?;
        let metrics_addr = metrics_listener
            .local_addr()
            .map_err(|source| BuildError::Bind {
                addr: config.metrics_addr,
                source,
            })?;
        let key = match config.session_key {
            Some(key) => key,
            None => {
                tracing::warn!(
                    "GATEWAY_SESSION_KEY is not set: sessions are sealed with a random key, so \
                     they end when this gateway stops and no other replica can read them"
                );
                SessionKey::random().map_err(BuildError::SessionKey)?
            }
        };
        // Browsers send Secure cookies over HTTPS only (and to localhost): a gateway on a public
        // address sits behind TLS, one on loopback is being tried out over plain HTTP, unless
        // GATEWAY_COOKIE_SECURE says otherwise (e.g. a TLS proxy on the same host).
        let secure_cookie = config
            .cookie_secure
            .unwrap_or(!config.addr.ip().is_loopback());
        let sessions = Sessions::new(&key, config.session_ttl, secure_cookie);
        tracing::info!(
            %local_addr,
            %metrics_addr,
            budget_service = %url,
            session_ttl = ?config.session_ttl,
            secure_cookie,
            "gateway listening"
        );
        let channel = budget_service_channel(url, config.upstream_timeout, tls)
            .map_err(BuildError::ServiceTls)?;
        let telemetry = Telemetry::start(&traces)?;
        let proxy = GrpcProxy::new(
            channel.clone(),
            config.upstream_timeout,
            sessions.clone(),
            telemetry.tracer(),
        );
        let state = AppState {
            assets: Assets::embedded(),
            sessions,
            token_check: TokenCheck::new(channel.clone()),
            exporter: Exporter::new(channel),
            signin_throttle: FailureThrottle::new(
                config.signin_failure_burst,
                config.signin_failures_per_min,
                DEFAULT_PEER_CAPACITY,
            ),
        };
        let metrics = Arc::new(Metrics::new());
        Ok(Self {
            listener,
            local_addr,
            router: app::router(state, proxy, metrics.clone(), secure_cookie),
            metrics_listener,
            metrics_addr,
            metrics_router: crate::metrics::router(metrics),
            // In-flight calls end by the upstream deadline, so a drain never needs much longer.
            drain_timeout: config.upstream_timeout + DRAIN_MARGIN,
            telemetry,
        })
    }

    /// The port actually bound, useful when the config asked for port 0.
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address `/metrics` is served on (GATEWAY_METRICS_ADDR, as bound).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// Serves until `shutdown` completes, then stops accepting connections and lets in-flight
    /// requests finish, giving up on them after the upstream timeout plus a small margin.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (draining_tx, draining_rx) = oneshot::channel::<()>();
        // Without TCP_NODELAY a small response written after its headers waits for the
        // browser's delayed ACK (~40 ms a call); plain axum::serve does not set it.
        let listener = self.listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        });
        // The metrics port has nothing in flight worth draining: it stops with the server.
        let metrics_server =
            tokio::spawn(axum::serve(self.metrics_listener, self.metrics_router).into_future());
        let _stop_metrics = AbortOnDrop(metrics_server);
        // The peer address is the sign-in throttle's key.
        let app = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down: finishing in-flight requests");
                let _ = draining_tx.send(());
            })
            .into_future();
        let drain_deadline = async move {
            match draining_rx.await {
                Ok(()) => tokio::time::sleep(self.drain_timeout).await,
                Err(_) => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            result = server => {
                tracing::info!("gateway stopped");
                result
            }
            () = drain_deadline => {
                tracing::warn!(
                    timeout = ?self.drain_timeout,
                    "gateway stopped with requests still in flight"
                );
                Ok(())
            }
        };
        // Last, so the spans of the calls that just ended go out too.
        self.telemetry.shutdown().await;
        result
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(url: &str, ca_file: Option<&str>) -> Config {
        let mut args = vec![
            "budget-gateway",
            "--addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--budget-service-url",
            url,
        ];
        if let Some(ca_file) = ca_file {
            args.extend(["--service-ca-file", ca_file]);
        }
        Config::try_parse_from(args).unwrap()
    }

    #[tokio::test]
    async fn https_without_a_ca_file_is_refused_at_build() {
        let err = Gateway::build(config("https://localhost:50051", None))
            .await
            .unwrap_err();
        assert!(matches!(err, BuildError::ServiceCaMissing), "{err:?}");
        assert!(err.to_string().contains("GATEWAY_SERVICE_CA_FILE"), "{err}");
    }

    #[tokio::test]
    async fn an_unreadable_or_non_pem_ca_file_is_refused_at_build() {
        let missing = std::env::temp_dir().join("budget-gateway-no-such-ca.pem");
        let err = Gateway::build(config(
            "https://localhost:50051",
            Some(missing.to_str().unwrap()),
        ))
        .await
        .unwrap_err();
        assert!(matches!(err, BuildError::ServiceCa { .. }), "{err:?}");
        assert!(err.to_string().contains("GATEWAY_SERVICE_CA_FILE"), "{err}");

        let not_pem =
            std::env::temp_dir().join(format!("budget-gateway-not-pem-{}.pem", std::process::id()));
        std::fs::write(&not_pem, "hello").unwrap();
        let err = Gateway::build(config(
            "https://localhost:50051",
            Some(not_pem.to_str().unwrap()),
        ))
        .await
        .unwrap_err();
        let _ = std::fs::remove_file(&not_pem);
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn http_needs_no_ca_file_and_other_schemes_are_refused() {
        assert!(
            Gateway::build(config("http://127.0.0.1:50051", None))
                .await
                .is_ok()
        );
        let err = Gateway::build(config("ftp://127.0.0.1:50051", None))
            .await
            .unwrap_err();
        assert!(matches!(err, BuildError::UpstreamUrl(_)), "{err:?}");
    }
}
