//! What the real LiteLLM proxy 1.108.7 answers where the contract is silent or wrong, as the
//! differential test (`tests/tests/litellm_differential.rs` in budget-e2e) observed it: answer
//! shapes of the key routes, error types and params, enterprise-only regeneration, the access
//! rule of `/key/info`, and refused calls counted as failed requests.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{call, call_as, chat, generate, info, start};
use serde_json::{Value, json};

fn fields(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn key_route_answers_have_litellms_shapes() {
    let server = start().await;
    let (status, made) = call(
        &server,
        "POST",
        "/key/generate",
        Some(
            json!({"key_alias": "shapes", "max_budget": 1.0, "soft_budget": 0.5,
                    "budget_duration": "30d", "duration": "1h"}),
        ),
    )
    .await;
    assert_eq!(status, 200);
    // The soft budget's new row comes back; `duration` does not.
    assert_eq!(made["litellm_budget_table"]["soft_budget"], 0.5);
    assert_eq!(made["duration"], Value::Null);
    for field in [
        "throttle_on_budget_exceeded",
        "end_user_budget_id",
        "mcp_rpm_limit",
    ] {
        assert!(made.get(field).is_some(), "{field}");
    }
    assert!(made.get("budget_reset_at").is_none());
    let token = made["token"].as_str().unwrap().to_owned();

    // /key/update: the row without its budget row, so without the soft budget.
    let (_, updated) = call(
        &server,
        "POST",
        "/key/update",
        Some(json!({"key": token, "soft_budget": 0.6})),
    )
    .await;
    assert_eq!(updated["litellm_budget_table"], Value::Null);
    assert_eq!(
        info(&server, &token).await["litellm_budget_table"]["soft_budget"],
        0.6
    );

    // /key/block: the pydantic token model; /key/unblock: the table row.
    let (_, blocked) = call(&server, "POST", "/key/block", Some(json!({"key": token}))).await;
    assert!(fields(&blocked).contains("org_id"));
    assert!(!fields(&blocked).contains("policies"));
    assert_eq!(blocked["blocked"], true);
    let (_, unblocked) = call(&server, "POST", "/key/unblock", Some(json!({"key": token}))).await;
    let mut row = fields(&updated);
    row.remove("key");
    assert_eq!(fields(&unblocked), row);

    // /key/list's full objects are UserAPIKeyAuth: the budget row joined, a null top-level
    // soft_budget, no status.
    let (_, listed) = call(
        &server,
        "GET",
        "/key/list?key_alias=shapes&return_full_object=true",
        None,
    )
    .await;
    let row = &listed["keys"][0];
    assert_eq!(row["litellm_budget_table"]["soft_budget"], 0.6);
    assert_eq!(row["soft_budget"], Value::Null);
    assert_eq!(row["jwt_claims"], Value::Null);
    assert!(row.get("status").is_none());

    // A deleted key's info: the archived row, without its budget row.
    call(
        &server,
        "POST",
        "/key/delete",
        Some(json!({"keys": [token]})),
    )
    .await;
    let deleted = info(&server, &token).await;
    assert_eq!(deleted["status"], "deleted");
    assert_eq!(deleted["litellm_budget_table"], Value::Null);
    assert_eq!(deleted["deleted_by_api_key"], "litellm_proxy_master_key");
    assert!(deleted["id"].is_string());
    server.shutdown().await;
}

#[tokio::test]
async fn errors_have_litellms_types_and_params() {
    let server = start().await;
    let (_, token) = generate(&server, json!({"key_alias": "errors"})).await;
    // An HTTPException: internal_server_error with a null param from /key/generate, but
    // auth_error with param "None" from /key/update (update_key_fn re-raises it so).
    let (status, body) = call(
        &server,
        "POST",
        "/key/generate",
        Some(json!({"max_budget": -1})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        json!({"message": "{'error': 'max_budget must be a non-negative finite number. Received: -1.0'}",
               "type": "internal_server_error", "param": null, "code": "400"})
    );
    let (status, body) = call(
        &server,
        "POST",
        "/key/update",
        Some(json!({"key": token, "budget_duration": "abc"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "auth_error");
    assert_eq!(body["error"]["param"], "None");
    // A ProxyException passes through /key/update unchanged.
    let (status, body) = call(
        &server,
        "POST",
        "/key/update",
        Some(json!({"key": "0".repeat(64), "max_budget": 1})),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["type"]),
        (404, &json!("not_found_error"))
    );
    // Neither key nor alias: pydantic's 422, without the input.
    let (status, body) = call(
        &server,
        "POST",
        "/key/update",
        Some(json!({"max_budget": 1})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({"detail": [{"type": "value_error", "loc": ["body"],
                           "msg": "Value error, either key or key_alias must be provided"}]})
    );
    // Booleans are numbers in pydantic's lax mode.
    let (status, body) = call(
        &server,
        "POST",
        "/key/generate",
        Some(json!({"max_budget": true})),
    )
    .await;
    assert_eq!((status, &body["max_budget"]), (200, &json!(1.0)));
    // /key/delete of nothing found: an HTTPException too.
    let (status, body) = call(
        &server,
        "POST",
        "/key/delete",
        Some(json!({"keys": ["0".repeat(64)]})),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["param"], Value::Null);
    server.shutdown().await;
}

#[tokio::test]
async fn regenerate_needs_the_enterprise_licence() {
    let server = start().await;
    let (_, token) = generate(&server, json!({"key_alias": "rotate", "max_budget": 5.0})).await;
    for path in [
        "/key/regenerate".to_owned(),
        format!("/key/{token}/regenerate"),
    ] {
        let (status, body) = call(&server, "POST", &path, Some(json!({"key": token}))).await;
        assert_eq!(status, 500, "{path}");
        assert_eq!(body["error"]["type"], "internal_server_error");
        assert_eq!(body["error"]["param"], Value::Null);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Regenerating Virtual Keys is an Enterprise feature")
        );
    }
    assert_eq!(info(&server, &token).await["status"], "active");
    server.control().set_enterprise(true);
    let (status, body) = call(&server, "POST", &format!("/key/{token}/regenerate"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["max_budget"], 5.0);
    let (status, _) = call(&server, "GET", &format!("/key/info?key={token}"), None).await;
    assert_eq!(status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn virtual_keys_read_the_info_of_keys_of_the_same_user() {
    let server = start().await;
    let (reader, _) = generate(&server, json!({})).await;
    let (_, other) = generate(&server, json!({})).await;
    let (_, owned) = generate(&server, json!({"user_id": "someone"})).await;
    // Keys without a user all have user_id None, so LiteLLM lets them read each other.
    let (status, _) = call_as(
        &server,
        &reader,
        "GET",
        &format!("/key/info?key={other}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call_as(
        &server,
        &reader,
        "GET",
        &format!("/key/info?key={owned}"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["type"], "internal_server_error");
    // Not found comes first.
    let (status, _) = call_as(
        &server,
        &reader,
        "GET",
        &format!("/key/info?key={}", "0".repeat(64)),
        None,
    )
    .await;
    assert_eq!(status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn refused_calls_count_as_failed_requests_of_the_key_presented() {
    let server = start().await;
    let control = server.control();
    let (raw, token) = generate(&server, json!({"max_budget": 0.0})).await;
    // Over budget (422), then blocked (401).
    assert_eq!(chat(&server, &raw).await.0, 422);
    call(&server, "POST", "/key/block", Some(json!({"key": token}))).await;
    assert_eq!(chat(&server, &raw).await.0, 401);
    // An unknown sk- key on an admin route, and a key without sk- on a chat call.
    assert_eq!(
        call_as(&server, "sk-unknown", "GET", "/key/list", None)
            .await
            .0,
        401
    );
    assert_eq!(chat(&server, "not-a-key").await.0, 401);
    let today = control.now().date_naive();
    let activity = |key: String| {
        let server = &server;
        async move {
            let path = format!(
                "/user/daily/activity/aggregated?start_date={today}&end_date={today}&api_key={key}"
            );
            call(server, "GET", &path, None).await.1
        }
    };
    let ours = activity(token.clone()).await;
    let metrics = &ours["results"][0]["metrics"];
    assert_eq!(
        (
            &metrics["api_requests"],
            &metrics["failed_requests"],
            &metrics["spend"]
        ),
        (&json!(2), &json!(2), &json!(0.0))
    );
    let breakdown = &ours["results"][0]["breakdown"];
    assert_eq!(
        breakdown["models"]["openai/gpt-4o-mini"]["metrics"]["failed_requests"],
        2
    );
    assert_eq!(
        breakdown["endpoints"]["/chat/completions"]["metrics"]["api_requests"],
        2
    );
    // Refused before a model was resolved: provider "unknown"; admin routes: no endpoint.
    let admin = activity(litellm_sim::hash_token("sk-unknown")).await;
    let breakdown = &admin["results"][0]["breakdown"];
    assert_eq!(
        breakdown["providers"]["unknown"]["metrics"]["failed_requests"],
        1
    );
    assert_eq!(breakdown["endpoints"], json!({}));
    assert_eq!(breakdown["models"], json!({}));
    let malformed = activity(litellm_sim::hash_token("not-a-key")).await;
    let breakdown = &malformed["results"][0]["breakdown"];
    assert_eq!(
        breakdown["providers"]["unknown"]["metrics"]["failed_requests"],
        1
    );
    assert_eq!(
        breakdown["endpoints"]["/chat/completions"]["metrics"]["failed_requests"],
        1
    );
    server.shutdown().await;
}
