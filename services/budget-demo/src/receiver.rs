//! The demo's notification receiver: a local HTTP endpoint that checks each alert's
//! `X-Budget-Signature` and its Standard Webhooks signature (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature`, with the 5-minute replay window a stock
//! verifier applies) and prints the alert, as a platform's own webhook would receive it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A notification as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// `X-Budget-Signature` is the HMAC of the body under the secret.
    pub signature_valid: bool,
    /// `webhook-signature` signs "id.timestamp.body", and the timestamp is recent.
    pub standard_signature_valid: bool,
    pub body: serde_json::Value,
}

/// A running receiver.
pub struct Receiver {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    secret: Arc<str>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(secret: &str) -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            secret: Arc::from(secret),
            received: received.clone(),
        };
        let app = Router::new()
            .route("/budget-alerts", post(receive))
            .with_state(shared);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver {
            addr,
            received,
            task,
        })
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature_valid = headers
        .get("x-budget-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|hex_sig| hex::decode(hex_sig).ok())
        .is_some_and(|sig| {
            Hmac::<Sha256>::new_from_slice(shared.secret.as_bytes())
                .map(|mut mac| {
                    mac.update(&body);
                    mac.verify_slice(&sig).is_ok()
                })
                .unwrap_or(false)
        });
    let standard_signature_valid = standard_signature_valid(&shared.secret, &headers, &body);
    let parsed: serde_json::Value =
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    println!(
        "  notification {} {}: {} ({})",
        if signature_valid && standard_signature_valid {
            "✓ signed"
        } else {
            "✗ BAD SIGNATURE"
        },
        parsed["tenant_id"].as_str().unwrap_or("?"),
        parsed["message"].as_str().unwrap_or("?"),
        parsed["type"].as_str().unwrap_or("?"),
    );
    if let Ok(mut received) = shared.received.lock() {
        received.push(Received {
            signature_valid,
            standard_signature_valid,
            body: parsed,
        });
    }
    StatusCode::OK
}

/// How far a Standard Webhooks timestamp may be from now, as stock verifiers allow.
const TIMESTAMP_TOLERANCE_SECS: i64 = 5 * 60;

/// Checks the Standard Webhooks headers as a stock verifier would: the secret's bytes are the
/// key (it has no `whsec_` prefix), the timestamp is within 5 minutes, and one `v1,`
/// signature is the HMAC-SHA256 of "id.timestamp.body".
fn standard_signature_valid(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    use base64::Engine as _;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(timestamp), Some(signatures)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return false;
    };
    let Ok(sent_at) = timestamp.parse::<i64>() else {
        return false;
    };
    if (chrono::Utc::now().timestamp() - sent_at).abs() > TIMESTAMP_TOLERANCE_SECS {
        return false;
    }
    signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .any(|sig| {
            Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                .map(|mut mac| {
                    mac.update(format!("{id}.{timestamp}.").as_bytes());
                    mac.update(body);
                    mac.verify_slice(&sig).is_ok()
                })
                .unwrap_or(false)
        })
}
