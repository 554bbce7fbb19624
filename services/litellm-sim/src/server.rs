//! The HTTP server: the router, and a hand-written accept loop (hyper-util) so that a fault can
//! reset a TCP connection (RST) and shutdown can drop connections whose requests hang.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tower::Service;

use crate::control::{self, SimControl};
use crate::faults::ConnReset;
use crate::middleware::{fault_layer, master_key_only};
use crate::sim::Sim;
use crate::{activity, chat, keys};

/// How to start a sim.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to bind, e.g. `127.0.0.1:4000` (`127.0.0.1:0` picks a free port).
    pub addr: String,
    /// The proxy's master key (admin routes and `/sim/*`).
    pub master_key: String,
    /// `WEBHOOK_URL`: where budget-alert webhooks go (changeable later with
    /// [`SimControl::set_webhook_url`]); `None` sends nothing.
    pub webhook_url: Option<String>,
}

impl SimConfig {
    pub fn new(addr: &str, master_key: &str) -> Self {
        Self {
            addr: addr.to_string(),
            master_key: master_key.to_string(),
            webhook_url: None,
        }
    }
}

/// FastAPI's answer for an unknown route.
async fn fastapi_not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"detail": "Not Found"})),
    )
}

async fn liveliness() -> impl IntoResponse {
    axum::Json("I'm alive!")
}

async fn readiness() -> impl IntoResponse {
    axum::Json(
        serde_json::json!({"status": "connected", "db": "connected", "cache": null, "litellm_version": "litellm-sim"}),
    )
}

/// The `/sim/*` controls, each behind the master-key check (unknown `/sim/*` paths are not
/// among them: they answer 404 to anyone, as before).
fn controls(sim: Arc<Sim>) -> Router<Arc<Sim>> {
    Router::new()
        .route("/sim/health", get(control::health))
        .route("/sim/keys/{key}", get(control::get_key))
        .route("/sim/keys/{key}/spend", post(control::set_spend))
        .route(
            "/sim/keys/{key}/daily_spend",
            post(control::set_daily_spend),
        )
        .route(
            "/sim/keys/{key}/daily_history",
            post(control::seed_daily_history),
        )
        .route(
            "/sim/faults",
            post(control::inject_fault)
                .get(control::list_faults)
                .delete(control::clear_faults),
        )
        .route(
            "/sim/calls",
            get(control::calls).delete(control::reset_calls),
        )
        .route("/sim/clock", get(control::clock))
        .route("/sim/clock/advance", post(control::advance_clock))
        .route("/sim/clock/set", post(control::set_clock))
        .route("/sim/chat_cost", post(control::set_chat_cost))
        .route(
            "/sim/webhook_url",
            get(control::get_webhook_url).post(control::set_webhook_url),
        )
        .route(
            "/sim/webhooks",
            get(control::webhooks).delete(control::clear_webhooks),
        )
        .route("/sim/projected_alerts", post(control::set_projected_alerts))
        .route("/sim/enterprise", post(control::set_enterprise))
        .route_layer(from_fn_with_state(sim, master_key_only))
}

/// Every route the sim serves, behind the fault/call-counting middleware.
pub(crate) fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/key/generate", post(keys::generate))
        .route("/key/update", post(keys::update))
        .route("/key/info", get(keys::info))
        .route("/key/list", get(keys::list))
        .route("/key/delete", post(keys::delete))
        .route("/key/block", post(keys::block))
        .route("/key/unblock", post(keys::unblock))
        .route("/key/regenerate", post(keys::regenerate))
        .route("/key/{key}/regenerate", post(keys::regenerate_by_path))
        .route("/key/{key}/reset_spend", post(keys::reset_spend))
        .route("/user/daily/activity/aggregated", get(activity::aggregated))
        .route("/user/daily/activity", get(activity::paginated))
        .route("/chat/completions", post(chat::completions))
        .route("/v1/chat/completions", post(chat::completions))
        .route("/health/liveliness", get(liveliness))
        .route("/health/readiness", get(readiness))
        .merge(controls(sim.clone()))
        .route(
            "/sim/{*rest}",
            get(control::not_found).post(control::not_found),
        )
        .fallback(fastapi_not_found)
        .layer(from_fn_with_state(sim.clone(), fault_layer))
        .with_state(sim)
}

/// A running sim, serving in a background task. Dropping it (or [`SimServer::shutdown`]) stops
/// the server and closes its connections.
#[derive(Debug)]
pub struct SimServer {
    sim: Arc<Sim>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SimServer {
    /// Binds `addr` (use `127.0.0.1:0` in tests) and serves in a background tokio task.
    pub async fn start(addr: &str, master_key: &str) -> anyhow::Result<SimServer> {
        Self::start_with(SimConfig::new(addr, master_key)).await
    }

    /// [`SimServer::start`] with every option.
    pub async fn start_with(config: SimConfig) -> anyhow::Result<SimServer> {
        let listener = TcpListener::bind(&config.addr)
            .await
            .with_context(|| format!("litellm-sim: cannot bind {}", config.addr))?;
        let addr = listener
            .local_addr()
            .context("litellm-sim: no local address")?;
        let sim = Arc::new(Sim::new(config.master_key, config.webhook_url));
        let (shutdown, signal) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, router(sim.clone()), signal));
        Ok(SimServer {
            sim,
            addr,
            shutdown,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn master_key(&self) -> &str {
        &self.sim.master_key
    }

    /// The test controls (a cheap clone; it outlives nothing: the server stops when dropped).
    pub fn control(&self) -> SimControl {
        SimControl {
            sim: self.sim.clone(),
        }
    }

    /// Stops accepting, drops every open connection (hanging requests included) and waits for
    /// the accept loop to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let task = self.task;
        if let Err(err) = task.await {
            tracing::warn!(%err, "litellm-sim accept loop ended badly");
        }
    }
}

async fn accept_loop(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, router.clone(), shutdown.clone()));
                }
                Err(err) => {
                    tracing::warn!(%err, "litellm-sim accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
        }
    }
}

/// Serves one connection until it ends, a fault asks for a reset, or the server shuts down.
async fn serve_connection(stream: TcpStream, router: Router, mut shutdown: watch::Receiver<bool>) {
    // A second descriptor of the same socket, to set SO_LINGER 0 on a reset: closing the last
    // descriptor of a socket with a zero linger sends an RST instead of a FIN.
    let split = stream.into_std().and_then(|s| {
        let control = s.try_clone()?;
        Ok((TcpStream::from_std(s)?, control))
    });
    let (stream, control) = match split {
        Ok(pair) => pair,
        Err(err) => {
            tracing::warn!(%err, "litellm-sim cannot set up a connection");
            return;
        }
    };
    let reset = Arc::new(Notify::new());
    let marker = ConnReset(reset.clone());
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(marker.clone());
        let mut router = router.clone();
        async move { router.call(request.map(Body::new)).await }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(err) = result {
                tracing::debug!(%err, "litellm-sim connection ended with an error");
            }
        }
        () = reset.notified() => {
            match TcpStream::from_std(control) {
                Ok(control) => {
                    if let Err(err) = control.set_zero_linger() {
                        tracing::warn!(%err, "litellm-sim cannot set SO_LINGER for a reset");
                    }
                }
                Err(err) => tracing::warn!(%err, "litellm-sim cannot reset the connection"),
            }
            // Both descriptors are dropped here; the last close sends the RST.
        }
        _ = shutdown.changed() => {}
    }
}
