//! Runs the shared LiteLLM conformance checker (`shared/tools/litellm-conformance --chat`)
//! against an in-process sim. Every check must pass except those where the checker is known to
//! be wrong about LiteLLM 1.108.7 ([`TOOL_IS_WRONG`]; budget-e2e's `litellm_differential`
//! test runs the checker against the real proxy and holds the same list).

use std::path::Path;
use std::process::Command;

use litellm_sim::SimServer;

const MASTER_KEY: &str = "sk-conformance-master";

/// Checks the real proxy fails too, because the checker expects what LiteLLM does not do.
const TOOL_IS_WRONG: &[&str] = &[
    // An sk- key that is not in the database: the checker wants `auth_error`; LiteLLM 1.108.7
    // answers 401 `{"type": "token_not_found_in_db", "param": "key", "code": "401"}`.
    "auth.invalid-key",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_tool_passes_with_chat() {
    let server = SimServer::start("127.0.0.1:0", MASTER_KEY)
        .await
        .expect("sim starts");
    // A key with 30 days of history, so the daily-activity checks have day rows to look at.
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let generated: serde_json::Value = client
        .post(format!("{}/key/generate", server.base_url()))
        .bearer_auth(MASTER_KEY)
        .json(&serde_json::json!({"key_alias": "conformance-history", "max_budget": 100.0}))
        .send()
        .await
        .expect("generate answers")
        .json()
        .await
        .expect("generate is JSON");
    let token = generated["token"].as_str().expect("token").to_string();
    let control = server.control();
    let history: Vec<f64> = (1..=30).map(|d| f64::from(d) / 10.0).collect();
    control
        .seed_daily_history(&token, control.now().date_naive(), &history)
        .expect("history seeded");
    let tool =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/litellm-conformance");
    assert!(
        tool.exists(),
        "conformance tool not found at {}",
        tool.display()
    );
    let base_url = server.base_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(&tool)
            .args([
                "--base-url",
                &base_url,
                "--master-key",
                MASTER_KEY,
                "--chat",
                "--json",
            ])
            .output()
    })
    .await
    .expect("the tool's thread finishes")
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("the --json report does not parse ({e}):\n{stdout}\n{stderr}"));
    let checks = report["checks"].as_array().expect("checks");
    let check = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name}: {report:#}"))
    };
    let unexpected: Vec<String> = checks
        .iter()
        .filter(|c| c["status"] == "fail" && !TOOL_IS_WRONG.iter().any(|n| c["name"] == *n))
        .map(|c| format!("{}: {}", c["name"], c["detail"]))
        .collect();
    assert!(
        unexpected.is_empty(),
        "litellm-conformance failed:\n{}\n{stderr}",
        unexpected.join("\n")
    );
    for name in TOOL_IS_WRONG {
        assert_eq!(
            check(name)["status"],
            "fail",
            "{name} passes now: {report:#}"
        );
    }
    assert_eq!(check("chat.budget-exceeded")["status"], "pass");
    assert_eq!(check("chat.budget-exceeded")["detail"], "status 422");
    assert_eq!(
        check("spend.daily-activity")["detail"],
        "30 day rows checked"
    );
    println!("{report:#}");
    server.shutdown().await;
}
