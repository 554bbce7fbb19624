//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use litellm_sim::SimServer;
use serde_json::{Value, json};

pub const MASTER: &str = "sk-test-master";

pub async fn start() -> SimServer {
    SimServer::start("127.0.0.1:0", MASTER).await.unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .unwrap()
}

/// Sends `body` (GET when `None`) as the master key; returns status and parsed JSON (Null if not JSON).
pub async fn call(
    server: &SimServer,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    call_as(server, MASTER, method, path, body).await
}

pub async fn call_as(
    server: &SimServer,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}{}", server.base_url(), path);
    let request = match method {
        "GET" => client().get(url),
        "DELETE" => client().delete(url),
        _ => client().post(url),
    };
    let request = request.bearer_auth(key);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Generates a key; returns the raw key and its token.
pub async fn generate(server: &SimServer, body: Value) -> (String, String) {
    let (status, answer) = call(server, "POST", "/key/generate", Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    (
        answer["key"].as_str().unwrap().to_string(),
        answer["token"].as_str().unwrap().to_string(),
    )
}

pub async fn chat(server: &SimServer, key: &str) -> (u16, Value) {
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 5});
    call_as(server, key, "POST", "/chat/completions", Some(body)).await
}

pub async fn info(server: &SimServer, key: &str) -> Value {
    let (status, answer) = call(server, "GET", &format!("/key/info?key={key}"), None).await;
    assert_eq!(status, 200, "{answer}");
    answer["info"].clone()
}
