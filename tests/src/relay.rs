//! A recording HTTP relay: listens on an address, forwards every request to an upstream
//! base URL and records both sides. The real-proxy suite puts one between budget-service
//! and LiteLLM (to see exactly which fields budget-service sends) and one between LiteLLM's
//! budget webhooks and budget-service's receiver (to see what the real proxy POSTs and what
//! the receiver answers).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::task::JoinHandle;

/// One request the relay forwarded, and the answer it passed back.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    /// The path without the query.
    pub path: String,
    pub query: Option<String>,
    /// The request body as JSON (`null` when empty or not JSON).
    pub request: Value,
    /// The upstream's status; 502 when it could not be reached.
    pub status: u16,
    pub response: Value,
    /// The request's W3C `traceparent` header, if it had one.
    pub traceparent: Option<String>,
}

#[derive(Clone)]
struct RelayState {
    upstream: String,
    http: reqwest::Client,
    log: Arc<Mutex<Vec<Exchange>>>,
}

/// See the module documentation. Stops when dropped.
pub struct RecordingRelay {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Exchange>>>,
    task: JoinHandle<()>,
}

impl RecordingRelay {
    /// Listens on `listen` (port 0: a free one) and forwards to `upstream`
    /// (`http://host:port`, no trailing slash).
    pub async fn start(listen: SocketAddr, upstream: &str) -> std::io::Result<RecordingRelay> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = RelayState {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .map_err(std::io::Error::other)?,
            log: log.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RecordingRelay { addr, log, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every exchange so far, oldest first.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }

    /// The exchanges whose path is `path`, oldest first.
    pub fn to_path(&self, path: &str) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(|exchange| exchange.path == path)
            .collect()
    }
}

impl Drop for RecordingRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    State(state): State<RelayState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut request = state
        .http
        .request(
            method.clone(),
            format!("{}{path_and_query}", state.upstream),
        )
        .body(body.clone());
    for name in ["authorization", "content-type", "user-agent"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    let (status, answer) = match request.send().await {
        Ok(response) => (
            response.status().as_u16(),
            response.bytes().await.unwrap_or_default(),
        ),
        Err(_) => (502, Bytes::new()),
    };
    if let Ok(mut log) = state.log.lock() {
        log.push(Exchange {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            request: serde_json::from_slice(&body).unwrap_or(Value::Null),
            status,
            response: serde_json::from_slice(&answer).unwrap_or(Value::Null),
            traceparent: headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
    }
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        [("content-type", "application/json")],
        answer,
    )
        .into_response()
}
