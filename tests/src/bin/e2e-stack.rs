//! The whole product on random loopback ports with a fresh database, for the browser tests
//! and benchmarks: prints one JSON line with every address, serves a small seeding API, and
//! runs until its standard input closes or it gets SIGTERM/Ctrl-C (then drops the database).
//!
//! Seeding API (plain HTTP on `control_url`):
//! - `POST /tenants` with a `budget_demo::TenantSeed` JSON body -> `{"virtual_key", "key_hash"}`
//! - `POST /demo` -> seeds the demo's five tenants
//! - `POST /tokens` with `{"name", "role": "platform_admin"|"tenant_admin"|"service", "tenant_id"?}`
//!   -> `{"token"}`; the JSON line's `platform_token` is a platform admin's
//!
//! Faults, spend and clocks: litellm-sim's own `/sim/*` routes on `sim_url` (master key).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use budget_demo::{RunningStack, StackConfig, TenantSeed};
use budget_e2e::{SIM_MASTER_KEY, TestDatabase, key_hash};
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    budget_e2e::init_test_logs();
    let cache_ttl_secs = std::env::args()
        .skip_while(|a| a != "--cache-ttl-secs")
        .nth(1)
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(60);
    let db = TestDatabase::create().await;
    let config = StackConfig {
        database_url: db.url.clone(),
        sim_addr: "127.0.0.1:0".into(),
        sim_master_key: SIM_MASTER_KEY.into(),
        grpc_addr: "127.0.0.1:0".parse()?,
        http_addr: "127.0.0.1:0".parse()?,
        webhook_secret: budget_e2e::WEBHOOK_SECRET.into(),
        gateway_addr: "127.0.0.1:0".parse()?,
        cache_ttl_secs,
        // Browser tests seed exactly the alerts they check; no background passes.
        eval_interval_secs: 0,
        notification_receiver: false,
        bootstrap_token: budget_e2e::ADMIN_TOKEN.into(),
        start_at: None,
        traces: Default::default(),
    };
    let stack = Arc::new(RunningStack::start(&config).await?);
    let control = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let control_addr = control.local_addr()?;
    let router = Router::new()
        .route("/tenants", post(seed_tenant))
        .route("/demo", post(seed_demo))
        .route("/tokens", post(create_token))
        .with_state(stack.clone());
    let control_task = tokio::spawn(async move { axum::serve(control, router).await });

    println!(
        "{}",
        serde_json::json!({
            "gateway_url": format!("http://{}", stack.gateway_addr),
            "grpc_addr": stack.grpc_addr.to_string(),
            "sim_url": stack.sim.base_url(),
            "sim_master_key": SIM_MASTER_KEY,
            "control_url": format!("http://{control_addr}"),
            "database_url": db.url,
            "platform_token": budget_e2e::ADMIN_TOKEN,
        })
    );

    let stdin_closed = async {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    };
    tokio::select! {
        () = stdin_closed => {}
        () = budget_service::startup::shutdown_signal() => {}
    }
    control_task.abort();
    if let Ok(stack) = Arc::try_unwrap(stack) {
        stack.stop().await;
    }
    db.drop_database().await;
    Ok(())
}

async fn seed_tenant(
    State(stack): State<Arc<RunningStack>>,
    Json(seed): Json<TenantSeed>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    let key = stack
        .seed_tenant(&seed)
        .await
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("{e:#}")))?;
    Ok(Json(
        serde_json::json!({ "virtual_key": key, "key_hash": key_hash(&key) }),
    ))
}

async fn seed_demo(
    State(stack): State<Arc<RunningStack>>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    let keys = stack
        .seed_demo(budget_e2e::WEBHOOK_SECRET)
        .await
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("{e:#}")))?;
    let keys: serde_json::Map<String, serde_json::Value> =
        keys.into_iter().map(|(id, key)| (id, key.into())).collect();
    Ok(Json(keys.into()))
}

#[derive(serde::Deserialize)]
struct TokenRequest {
    name: String,
    role: String,
    tenant_id: Option<String>,
}

async fn create_token(
    State(stack): State<Arc<RunningStack>>,
    Json(request): Json<TokenRequest>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    let role = budget_service::domain::auth::Role::parse(&request.role).ok_or((
        StatusCode::BAD_REQUEST,
        format!("unknown role {}", request.role),
    ))?;
    let token = stack
        .authenticator
        .create_token(
            "e2e-stack",
            &request.name,
            role,
            request.tenant_id.as_deref(),
        )
        .await
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    Ok(Json(serde_json::json!({ "token": token })))
}
