//! Runs the shared LiteLLM conformance checker (`shared/tools/litellm-conformance --chat`)
//! against an in-process sim.

use std::path::Path;
use std::process::Command;

use litellm_sim::SimServer;

const MASTER_KEY: &str = "sk-conformance-master";

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
            ])
            .output()
    })
    .await
    .expect("the tool's thread finishes")
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "litellm-conformance failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("PASS chat.budget-exceeded (status 422)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("PASS spend.daily-activity (30 day rows checked)"),
        "{stdout}"
    );
    println!("{stdout}");
    server.shutdown().await;
}
