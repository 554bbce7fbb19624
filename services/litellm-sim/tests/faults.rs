//! Every injected fault, observed with reqwest, plus call counting.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{MASTER, client, client_with_timeout, generate, start};
use litellm_sim::{Fault, FaultRule};
use serde_json::{Value, json};

async fn key_info(url: &str, client: &reqwest::Client) -> reqwest::Result<reqwest::Response> {
    client.get(url).bearer_auth(MASTER).send().await
}

#[tokio::test]
async fn status_500_answers_the_error_envelope_and_times_limits_it() {
    let server = start().await;
    let (raw, _) = generate(&server, json!({})).await;
    let url = format!("{}/key/info?key={raw}", server.base_url());
    server
        .control()
        .inject(FaultRule::new("/key/info", Fault::Status500).times(2));
    for _ in 0..2 {
        let response = key_info(&url, &client()).await.unwrap();
        assert_eq!(response.status(), 500);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "500");
        assert_eq!(body["error"]["type"], "internal_server_error");
        assert!(body["error"]["message"].is_string());
        assert!(body["error"].get("param").is_some());
    }
    assert_eq!(
        key_info(&url, &client()).await.unwrap().status(),
        200,
        "times=2 only faults two calls"
    );
    assert!(server.control().faults().is_empty());
    // Other paths are not affected by a prefix that does not match them.
    server
        .control()
        .inject(FaultRule::new("/key/info", Fault::Status500));
    let list = client()
        .get(format!("{}/key/list", server.base_url()))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    server.control().clear_faults();
    assert_eq!(key_info(&url, &client()).await.unwrap().status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn not_found_answers_like_an_unknown_key() {
    let server = start().await;
    let (raw, _) = generate(&server, json!({})).await;
    server
        .control()
        .inject(FaultRule::new("/key/info", Fault::NotFound).times(1));
    let response = key_info(
        &format!("{}/key/info?key={raw}", server.base_url()),
        &client(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": {"message": "Key not found in database", "type": "not_found_error", "param": "key", "code": "404"}})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_and_truncated_json() {
    let server = start().await;
    let (raw, _) = generate(&server, json!({"key_alias": "t"})).await;
    let url = format!("{}/key/info?key={raw}", server.base_url());
    let control = server.control();

    control.inject(FaultRule::new("/key/info", Fault::MalformedJson).times(1));
    let response = key_info(&url, &client()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    let full = key_info(&url, &client())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    control.inject(FaultRule::new("/key/info", Fault::TruncatedJson).times(1));
    let response = key_info(&url, &client()).await.unwrap();
    assert_eq!(response.status(), 200);
    let cut = response.text().await.unwrap();
    assert!(!cut.is_empty() && cut.len() < full.len(), "{cut}");
    assert!(
        full.starts_with(&cut),
        "the truncated body is the start of the real one"
    );
    let err = serde_json::from_str::<Value>(&cut).unwrap_err();
    assert!(err.is_eof(), "{err}");
    server.shutdown().await;
}

#[tokio::test]
async fn connection_reset_is_a_transport_error() {
    let server = start().await;
    let (raw, _) = generate(&server, json!({})).await;
    let url = format!("{}/key/info?key={raw}", server.base_url());
    server
        .control()
        .inject(FaultRule::new("/key/", Fault::ConnectionReset).times(1));
    let err = key_info(&url, &client()).await.unwrap_err();
    assert!(!err.is_timeout(), "{err:?}");
    assert!(
        err.is_request() || err.is_connect() || err.to_string().contains("error sending request"),
        "{err:?}"
    );
    // The next call works, on a new connection.
    assert_eq!(key_info(&url, &client()).await.unwrap().status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn connection_reset_sends_an_rst() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start().await;
    server
        .control()
        .inject(FaultRule::new("/key/list", Fault::ConnectionReset).times(1));
    let mut stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let request =
        format!("GET /key/list HTTP/1.1\r\nhost: sim\r\nauthorization: Bearer {MASTER}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = [0_u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap();
    let err = read.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn slow_delays_then_answers_normally() {
    let server = start().await;
    let (raw, _) = generate(&server, json!({})).await;
    let url = format!("{}/key/info?key={raw}", server.base_url());
    server
        .control()
        .inject(FaultRule::new("/key/info", Fault::Slow(Duration::from_millis(400))).times(1));
    let started = Instant::now();
    let response = key_info(&url, &client()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["info"]["status"],
        "active"
    );
    let started = Instant::now();
    key_info(&url, &client()).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "only the next call was slow"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn hang_never_answers_until_the_client_gives_up() {
    let server = start().await;
    let (raw, _) = generate(&server, json!({})).await;
    let url = format!("{}/key/info?key={raw}", server.base_url());
    server
        .control()
        .inject(FaultRule::new("/key/info", Fault::Hang).times(1));
    let started = Instant::now();
    let err = key_info(&url, &client_with_timeout(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(key_info(&url, &client()).await.unwrap().status(), 200);
    // Shutdown does not wait for a hanging request.
    server
        .control()
        .inject(FaultRule::new("/key/info", Fault::Hang));
    let pending = tokio::spawn({
        let url = url.clone();
        async move { key_info(&url, &client_with_timeout(Duration::from_secs(30))).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .unwrap()
        .unwrap();
    assert!(
        result.is_err(),
        "the hanging call ends with an error once the sim is gone"
    );
}

#[tokio::test]
async fn calls_are_counted_per_path() {
    let server = start().await;
    let control = server.control();
    let (raw, token) = generate(&server, json!({})).await;
    assert_eq!(control.calls("/key/generate"), 1);
    assert_eq!(control.calls("/key/info"), 0);
    for key in [&raw, &token] {
        key_info(
            &format!("{}/key/info?key={key}", server.base_url()),
            &client(),
        )
        .await
        .unwrap();
    }
    assert_eq!(control.calls("/key/info"), 2);
    // Faulted calls count too; /sim/* is not counted.
    control.inject(FaultRule::new("/key/info", Fault::Status500).times(1));
    key_info(
        &format!("{}/key/info?key={raw}", server.base_url()),
        &client(),
    )
    .await
    .unwrap();
    assert_eq!(control.calls("/key/info"), 3);
    client()
        .get(format!("{}/sim/calls", server.base_url()))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap();
    assert_eq!(
        control
            .all_calls()
            .keys()
            .filter(|p| p.starts_with("/sim"))
            .count(),
        0
    );
    control.reset_calls();
    assert_eq!(control.calls("/key/info"), 0);
    assert_eq!(control.calls("/key/generate"), 0);
    server.shutdown().await;
}
