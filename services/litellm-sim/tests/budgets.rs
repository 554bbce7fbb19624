//! Budget behaviour: the period reset when the clock passes budget_reset_at, the 422 once spend
//! reaches max_budget, and the key endpoints' semantics around them.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::{MASTER, call, call_as, chat, generate, info, start};
use serde_json::{Value, json};

fn ts(value: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn spend_resets_when_the_clock_passes_budget_reset_at() {
    let server = start().await;
    let control = server.control();
    control.set_clock(at("2026-11-28T12:34:56Z"));
    let (raw, token) = generate(
        &server,
        json!({"key_alias": "tenant-a", "max_budget": 50.0, "budget_duration": "30d"}),
    )
    .await;
    assert_eq!(
        ts(&info(&server, &token).await["budget_reset_at"]),
        at("2026-12-01T00:00:00Z")
    );

    // Spend in the window, some through chat (which also writes today's daily row).
    control
        .set_daily_spend(&raw, NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(), 4.0)
        .unwrap();
    assert_eq!(chat(&server, &raw).await.0, 200);
    let charged = control.key("tenant-a").unwrap().spend;
    assert!(charged > 0.0);
    control.set_spend("tenant-a", 42.0).unwrap();

    // Still inside the window: nothing changes.
    control.advance_clock(Duration::days(2));
    let before = info(&server, &token).await;
    assert_eq!(before["spend"], 42.0);

    // Past 2026-12-01T00:00Z: spend back to 0, next window ends on 2027-01-01, lifetime kept.
    control.set_clock(at("2026-12-01T00:00:01Z"));
    let after = info(&server, &token).await;
    assert_eq!(after["spend"], 0.0);
    assert_eq!(ts(&after["budget_reset_at"]), at("2027-01-01T00:00:00Z"));
    assert!((after["total_spend"].as_f64().unwrap() - charged).abs() < 1e-12);
    let snapshot = control.key(&raw).unwrap();
    assert_eq!(snapshot.spend, 0.0);
    assert_eq!(snapshot.budget_reset_at, Some(at("2027-01-01T00:00:00Z")));

    // The daily history is untouched by the reset.
    let (status, activity) = call(
        &server,
        "GET",
        &format!("/user/daily/activity/aggregated?start_date=2026-11-01&end_date=2026-11-30&api_key={token}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{activity}");
    let dates: Vec<&str> = activity["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2026-11-28", "2026-11-27"]);
    let total = activity["metadata"]["total_spend"].as_f64().unwrap();
    assert!((total - (4.0 + charged)).abs() < 1e-9, "{total}");
    server.shutdown().await;
}

#[tokio::test]
async fn an_hourly_window_resets_on_the_hour_and_again_later() {
    let server = start().await;
    let control = server.control();
    control.set_clock(at("2026-11-28T12:34:56Z"));
    let (raw, _) = generate(&server, json!({"budget_duration": "1h", "max_budget": 1.0})).await;
    control.set_spend(&raw, 2.0).unwrap();
    assert_eq!(chat(&server, &raw).await.0, 422);
    control.advance_clock(Duration::minutes(30));
    let key = control.key(&raw).unwrap();
    assert_eq!(key.spend, 0.0);
    assert_eq!(key.budget_reset_at, Some(at("2026-11-28T14:00:00Z")));
    assert_eq!(chat(&server, &raw).await.0, 200);
    // A key that has expired is skipped by the reset job.
    let (expiring, _) =
        generate(&server, json!({"budget_duration": "1h", "duration": "10m"})).await;
    control.set_spend(&expiring, 3.0).unwrap();
    control.advance_clock(Duration::hours(2));
    assert_eq!(control.key(&expiring).unwrap().spend, 3.0);
    assert_eq!(
        control.key(&expiring).unwrap().status,
        litellm_sim::KeyStatus::Expired
    );
    server.shutdown().await;
}

#[tokio::test]
async fn chat_is_refused_with_422_budget_exceeded_once_spend_reaches_max_budget() {
    let server = start().await;
    let control = server.control();
    let (raw, token) = generate(
        &server,
        json!({"key_alias": "tenant-acme", "max_budget": 50.0, "soft_budget": 40.0}),
    )
    .await;
    control.set_chat_cost(Some(0.02));
    control.set_spend(&token, 45.0).unwrap(); // over the soft budget: still served
    assert_eq!(chat(&server, &raw).await.0, 200);
    control.set_spend(&token, 49.99).unwrap();
    let (status, ok) = chat(&server, &raw).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["object"], "chat.completion");
    assert!(ok["choices"][0]["message"]["content"].is_string());
    let spend = control.key(&token).unwrap().spend;
    assert!((spend - 50.01).abs() < 1e-9, "{spend}");

    let (status, refused) = chat(&server, &raw).await;
    assert_eq!(status, 422);
    let tail = &raw[raw.len() - 4..];
    assert_eq!(
        refused,
        json!({"error": {
            "message": format!("Budget has been exceeded! Key=tenant-acme (sk-...{tail}) Current cost: {spend}, Max budget: 50.0"),
            "type": "budget_exceeded",
            "param": null,
            "code": "422",
        }})
    );
    // Exactly at the budget is over it too (spend >= max_budget).
    control.set_spend(&token, 50.0).unwrap();
    assert_eq!(
        chat(&server, &raw).await.1["error"]["type"],
        "budget_exceeded"
    );
    // Admin routes keep working for an over-budget key; raising the budget unblocks it.
    let (status, _) = call(
        &server,
        "POST",
        "/key/update",
        Some(json!({"key": raw, "max_budget": 60.0})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(chat(&server, &raw).await.0, 200);
    // A key without an alias is labelled "key".
    let (anonymous, _) = generate(&server, json!({"max_budget": 0.0})).await;
    let message = chat(&server, &anonymous).await.1["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("Budget has been exceeded! Key=key (sk-..."),
        "{message}"
    );
    assert!(
        message.ends_with("Current cost: 0.0, Max budget: 0.0"),
        "{message}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn chat_refuses_blocked_expired_unknown_and_deleted_keys_like_litellm() {
    let server = start().await;
    let control = server.control();
    let (raw, _) = generate(&server, json!({"key_alias": "b"})).await;
    assert_eq!(
        call(&server, "POST", "/key/block", Some(json!({"key": raw})))
            .await
            .0,
        200
    );
    let (status, body) = chat(&server, &raw).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": {"message": "Authentication Error, Key is blocked. Update via `/key/unblock` if you're an admin.", "type": "auth_error", "param": "None", "code": "401"}})
    );
    assert_eq!(info(&server, &raw).await["status"], "revoked");
    assert_eq!(
        call(&server, "POST", "/key/unblock", Some(json!({"key": raw})))
            .await
            .0,
        200
    );
    assert_eq!(chat(&server, &raw).await.0, 200);

    let (expiring, _) = generate(&server, json!({"duration": "1h"})).await;
    control.advance_clock(Duration::hours(2));
    let (status, body) = chat(&server, &expiring).await;
    // 401, as LiteLLM 1.108.7 answers (observed on the real proxy).
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "expired_key");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Authentication Error - Expired Key. Key Expiry time ")
    );
    assert_eq!(info(&server, &expiring).await["status"], "expired");

    let (status, body) = chat(&server, "sk-never-issued").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "token_not_found_in_db");
    assert_eq!(body["error"]["param"], "key");
    assert_eq!(
        call(&server, "POST", "/key/delete", Some(json!({"keys": [raw]})))
            .await
            .0,
        200
    );
    let (status, body) = chat(&server, &raw).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "token_not_found_in_db");

    let (limited, _) = generate(&server, json!({"models": ["gpt-4o"]})).await;
    let (status, body) = chat(&server, &limited).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "key_model_access_denied");
    // No key at all.
    let response = common::client()
        .post(format!("{}/v1/chat/completions", server.base_url()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    server.shutdown().await;
}

#[tokio::test]
async fn update_is_a_merge_patch_and_budget_duration_recomputes_every_time() {
    let server = start().await;
    let control = server.control();
    control.set_clock(at("2026-11-28T12:34:56Z"));
    let (raw, token) = generate(
        &server,
        json!({"key_alias": "t", "max_budget": 10.0, "soft_budget": 8.0, "budget_duration": "1h", "metadata": {"tenant_id": "t", "x": 1}}),
    )
    .await;
    control.set_spend(&raw, 3.0).unwrap();
    control.advance_clock(Duration::minutes(10)); // 12:44:56, window still ends 13:00
    let (status, answer) = call(
        &server,
        "POST",
        "/key/update",
        Some(json!({"key": token, "budget_duration": "1h"})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["key"], token);
    assert_eq!(ts(&answer["budget_reset_at"]), at("2026-11-28T13:00:00Z"));
    control.advance_clock(Duration::minutes(20)); // 13:04:56: the window ended and reset
    assert_eq!(control.key(&raw).unwrap().spend, 0.0);
    control.set_spend(&raw, 3.0).unwrap();
    let (_, answer) = call(
        &server,
        "POST",
        "/key/update",
        Some(json!({"key": raw, "budget_duration": "1h", "metadata": {"tenant_id": "t"}})),
    )
    .await;
    assert_eq!(ts(&answer["budget_reset_at"]), at("2026-11-28T14:00:00Z"));
    let current = info(&server, &raw).await;
    assert_eq!(
        current["spend"], 3.0,
        "spend untouched by an update without spend"
    );
    assert_eq!(
        current["metadata"],
        json!({"tenant_id": "t"}),
        "metadata replaced wholesale"
    );
    assert_eq!(
        current["max_budget"], 10.0,
        "omitted fields keep their value"
    );
    assert_eq!(current["litellm_budget_table"]["soft_budget"], 8.0);
    let budget_id = current["budget_id"].clone();
    assert_eq!(current["litellm_budget_table"]["budget_id"], budget_id);

    // spend may be set; soft_budget updates the same budget row; null clears a column.
    let (status, _) = call(
        &server,
        "POST",
        "/key/update",
        Some(json!({"key_alias": "t", "spend": 1.25, "soft_budget": 9.0, "budget_duration": null})),
    )
    .await;
    assert_eq!(status, 200);
    let current = info(&server, &raw).await;
    assert_eq!(current["spend"], 1.25);
    assert_eq!(current["litellm_budget_table"]["soft_budget"], 9.0);
    assert_eq!(current["budget_id"], budget_id);
    assert_eq!(current["budget_duration"], serde_json::Value::Null);
    assert_eq!(current["budget_reset_at"], serde_json::Value::Null);

    // Rejected updates change nothing.
    for bad in [
        json!({"key": raw, "max_budget": -1}),
        json!({"key": raw, "max_budget": "NaN"}),
        json!({"key": raw, "soft_budget": -0.5}),
    ] {
        let (status, body) = call(&server, "POST", "/key/update", Some(bad)).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "400");
    }
    // A bare NaN literal, as Python's json module would send it.
    let response = common::client()
        .post(format!("{}/key/update", server.base_url()))
        .bearer_auth(MASTER)
        .header("content-type", "application/json")
        .body(format!(r#"{{"key": "{raw}", "max_budget": NaN}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let (status, body) = call(
        &server,
        "POST",
        "/key/update",
        Some(json!({"key": raw, "budget_duration": "soon"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains(
        "Invalid budget_duration 'soon'. Use a format like '1h', '24h', '7d', or '30d'."
    ));
    assert_eq!(info(&server, &raw).await["max_budget"], 10.0);

    let (status, body) = call(
        &server,
        "POST",
        "/key/update",
        Some(json!({"key": "sk-unknown", "max_budget": 1})),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["message"], "Key not found.");
    assert_eq!(body["error"]["type"], "not_found_error");
    server.shutdown().await;
}

#[tokio::test]
async fn generate_info_list_delete_and_reset_spend() {
    let server = start().await;
    let (raw, token) = generate(&server, json!({"key_alias": "acme", "max_budget": 50.0, "budget_duration": "30d", "models": ["gpt-4o-mini"], "tpm_limit": 100, "metadata": {"tenant_id": "acme"}})).await;
    assert!(raw.starts_with("sk-") && raw.len() == 25);
    assert_eq!(token, litellm_sim::hash_token(&raw));
    let (status, dup) = call(
        &server,
        "POST",
        "/key/generate",
        Some(json!({"key_alias": "acme"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        dup["error"]["message"],
        "Key with alias 'acme' already exists. Unique key aliases across all keys are required."
    );
    let (status, bad) = call(
        &server,
        "POST",
        "/key/generate",
        Some(json!({"budget_duration": "0d"})),
    )
    .await;
    assert_eq!(status, 400, "{bad}");

    let info = info(&server, &raw).await;
    assert!(info.get("token").is_none());
    assert_eq!(info["key_name"], format!("sk-...{}", &raw[raw.len() - 4..]));
    assert_eq!(info["status"], "active");
    assert_eq!(info["tpm_limit"], 100);
    assert_eq!(info["litellm_budget_table"], serde_json::Value::Null);

    for i in 0..12 {
        generate(&server, json!({"key_alias": format!("bulk-{i:02}")})).await;
    }
    let (_, page) = call(&server, "GET", "/key/list?page=2&size=5", None).await;
    assert_eq!(page["total_count"], 13);
    assert_eq!(page["current_page"], 2);
    assert_eq!(page["total_pages"], 3);
    assert_eq!(page["keys"].as_array().unwrap().len(), 5);
    assert!(page["keys"][0].is_string());
    let (_, full) = call(
        &server,
        "GET",
        "/key/list?key_alias=acme&return_full_object=true",
        None,
    )
    .await;
    assert_eq!(full["keys"][0]["token"], token);
    assert_eq!(full["total_count"], 1);
    let (_, by_hash) = call(&server, "GET", &format!("/key/list?key_hash={token}"), None).await;
    assert_eq!(by_hash["keys"], json!([token]));
    assert_eq!(
        call(&server, "GET", "/key/list?size=101", None).await.0,
        422
    );

    let (status, reset) = call(
        &server,
        "POST",
        &format!("/key/{token}/reset_spend"),
        Some(json!({"reset_to": 0.0})),
    )
    .await;
    assert_eq!(status, 200, "{reset}");
    server.control().set_spend(&token, 5.0).unwrap();
    assert_eq!(
        call(
            &server,
            "POST",
            &format!("/key/{raw}/reset_spend"),
            Some(json!({"reset_to": 6.0}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        call(
            &server,
            "POST",
            &format!("/key/{raw}/reset_spend"),
            Some(json!({"reset_to": 2.0}))
        )
        .await
        .0,
        200
    );
    assert_eq!(server.control().key(&raw).unwrap().spend, 2.0);

    let (status, deleted) = call(
        &server,
        "POST",
        "/key/delete",
        Some(json!({"key_aliases": ["acme"]})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(deleted, json!({"deleted_keys": ["acme"]}));
    let (status, archived) = call(&server, "GET", &format!("/key/info?key={raw}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(archived["info"]["status"], "deleted");
    assert!(archived["info"]["deleted_at"].is_string());
    assert_eq!(archived["info"]["deleted_by"], "default_user_id");
    let (status, missing) =
        call(&server, "POST", "/key/delete", Some(json!({"keys": [raw]}))).await;
    assert_eq!(status, 404, "{missing}");
    let (_, listed) = call(&server, "GET", "/key/list?status=deleted", None).await;
    assert_eq!(listed["total_count"], 1);
    // The alias is free again.
    generate(&server, json!({"key_alias": "acme"})).await;
    let (status, never) = call(&server, "GET", "/key/info?key=sk-never", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        never,
        json!({"error": {"message": "Key not found in database", "type": "not_found_error", "param": "key", "code": "404"}})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn authentication_headers_and_errors() {
    let server = start().await;
    let url = format!("{}/key/list", server.base_url());
    let client = common::client();
    let status = |r: reqwest::Response| r.status().as_u16();
    let no_key = client.get(&url).send().await.unwrap();
    assert_eq!(no_key.status(), 401);
    assert_eq!(
        no_key.json::<serde_json::Value>().await.unwrap(),
        json!({"error": {"message": "Authentication Error, No api key passed in.", "type": "auth_error", "param": "None", "code": "401"}})
    );
    for (header, value) in [
        ("x-litellm-api-key", MASTER.to_string()),
        ("x-litellm-api-key", format!("Bearer {MASTER}")),
        ("authorization", format!("Bearer {MASTER}")),
        ("authorization", format!("bearer {MASTER}")),
        ("api-key", MASTER.to_string()),
        ("x-api-key", MASTER.to_string()),
        ("x-goog-api-key", MASTER.to_string()),
        ("ocp-apim-subscription-key", MASTER.to_string()),
    ] {
        assert_eq!(
            status(
                client
                    .get(&url)
                    .header(header, value.clone())
                    .send()
                    .await
                    .unwrap()
            ),
            200,
            "{header}: {value}"
        );
    }
    // A bare Authorization value is read as an empty key, and it wins over later headers.
    let bare = client
        .get(&url)
        .header("authorization", MASTER)
        .header("x-api-key", MASTER)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    assert_eq!(
        bare.json::<Value>().await.unwrap()["error"]["message"],
        "Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix."
    );
    // As observed on LiteLLM 1.108.7: an sk- key that is not in the database, a key without
    // sk- (masked as its first and last four characters), no key at all.
    let (status, body) = call_as(&server, "sk-wrong", "GET", "/key/list", None).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": {"message": "Authentication Error, Invalid API key provided.",
                         "type": "token_not_found_in_db", "param": "key", "code": "401"}})
    );
    let (status, body) = call_as(&server, "nonsk-123456", "GET", "/key/list", None).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": {"message": "LiteLLM Virtual Key expected. Received=nons****3456, expected to start with 'sk-'.",
                         "type": "auth_error", "param": "None", "code": "401"}})
    );
    let answer = client.get(&url).send().await.unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({"error": {"message": "Authentication Error, No api key passed in.",
                         "type": "auth_error", "param": "None", "code": "401"}})
    );
    // A virtual key is not an admin, but may read its own info.
    let (raw, _) = generate(&server, json!({})).await;
    assert_eq!(
        call_as(&server, &raw, "GET", "/key/list", None).await.0,
        401
    );
    let (status, own) = call_as(&server, &raw, "GET", "/key/info", None).await;
    assert_eq!(status, 200, "{own}");
    server.shutdown().await;
}

#[tokio::test]
async fn daily_activity_shape_and_filters() {
    let server = start().await;
    let control = server.control();
    let (a, token_a) = generate(&server, json!({"key_alias": "a"})).await;
    let (_, token_b) = generate(&server, json!({"key_alias": "b"})).await;
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    control
        .seed_daily_history(&a, day(28), &[1.0, 0.0, 2.0])
        .unwrap(); // 26th, (27th none), 28th
    control.set_daily_spend("b", day(27), 0.5).unwrap();
    let path = "/user/daily/activity/aggregated?start_date=2026-11-01&end_date=2026-11-30";
    let (status, all) = call(&server, "GET", path, None).await;
    assert_eq!(status, 200);
    let dates: Vec<&str> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2026-11-28", "2026-11-27", "2026-11-26"]);
    assert_eq!(all["metadata"]["total_spend"], 3.5);
    assert_eq!(all["metadata"]["page"], 1);
    assert_eq!(all["metadata"]["total_pages"], 1);
    assert_eq!(all["metadata"]["has_more"], false);
    let b_row = &all["results"][1]["breakdown"]["api_keys"][&token_b];
    assert_eq!(b_row["metrics"]["spend"], 0.5);
    assert_eq!(b_row["metadata"]["key_alias"], "b");
    assert_eq!(b_row["metadata"]["key_exists"], true);
    // Every model is reported as the deployment `openai/<model>` of the group `<model>`.
    let breakdown = &all["results"][0]["breakdown"];
    assert_eq!(
        breakdown["models"]["openai/gpt-4o-mini"]["metrics"]["spend"],
        2.0
    );
    assert_eq!(
        breakdown["model_groups"]["gpt-4o-mini"]["metrics"]["spend"],
        2.0
    );
    assert_eq!(breakdown["providers"]["openai"]["metrics"]["spend"], 2.0);
    assert_eq!(
        breakdown["endpoints"]["/chat/completions"]["metrics"]["spend"],
        2.0
    );
    assert_eq!(breakdown["entities"]["Unassigned"]["metrics"]["spend"], 2.0);

    let (_, only_a) = call(&server, "GET", &format!("{path}&api_key={token_a}"), None).await;
    assert_eq!(only_a["results"].as_array().unwrap().len(), 2);
    assert_eq!(only_a["metadata"]["total_spend"], 3.0);
    let (_, narrow) = call(
        &server,
        "GET",
        "/user/daily/activity/aggregated?start_date=2026-11-27&end_date=2026-11-27",
        None,
    )
    .await;
    assert_eq!(narrow["results"].as_array().unwrap().len(), 1);

    // FastAPI's own 400 body, as LiteLLM 1.108.7 answers (observed on the real proxy).
    for (bad, reason) in [
        (
            "?end_date=2026-11-30",
            "Please provide start_date and end_date",
        ),
        (
            "?start_date=2026-11-01",
            "Please provide start_date and end_date",
        ),
        (
            "?start_date=2026-11-1&end_date=2026-11-30",
            "start_date and end_date must be valid YYYY-MM-DD dates",
        ),
        (
            "?start_date=20261101&end_date=2026-11-30",
            "start_date and end_date must be valid YYYY-MM-DD dates",
        ),
        (
            "?start_date=2026-11-30&end_date=2026-11-01",
            "end_date must be on or after start_date",
        ),
    ] {
        let (status, body) = call(
            &server,
            "GET",
            &format!("/user/daily/activity/aggregated{bad}"),
            None,
        )
        .await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body, json!({"detail": {"error": reason}}), "{bad}");
    }
    // Deleted keys keep their history, marked as no longer existing.
    call(
        &server,
        "POST",
        "/key/delete",
        Some(json!({"keys": [token_b]})),
    )
    .await;
    let (_, after) = call(&server, "GET", path, None).await;
    assert_eq!(
        after["results"][1]["breakdown"]["api_keys"][&token_b]["metadata"]["key_exists"],
        false
    );
    // The paginated variant pages over raw rows.
    let (status, paged) = call(
        &server,
        "GET",
        "/user/daily/activity?start_date=2026-11-01&end_date=2026-11-30&page_size=2",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(paged["metadata"]["total_pages"], 2);
    assert_eq!(paged["metadata"]["has_more"], true);
    server.shutdown().await;
}
