//! The `budget-service` binary: tenant commands against litellm-sim and a fresh database,
//! and `serve` stopping cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use litellm_sim::SimServer;
use sqlx::Connection;

mod common;

use common::{MASTER, cli, fresh_database, migrate};

// Multi-threaded: the CLI runs as a blocking subprocess while the in-process sim answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_commands_and_serve_shutdown() {
    let (url, _name) = fresh_database().await;
    migrate(&url);
    let sim = SimServer::start("127.0.0.1:0", MASTER).await.unwrap();
    let base = sim.base_url();

    let created = cli(
        &url,
        &base,
        &["tenant", "create", "--id", "acme", "--max-budget", "123.45"],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("sk-"), "prints only the key: {key}");
    let snapshot = sim.control().key(&key).unwrap();
    assert_eq!(
        snapshot.max_budget,
        Some(135.795),
        "block amount of $123.45 at 110 %"
    );

    let invalid = cli(
        &url,
        &base,
        &["tenant", "create", "--id", "globex", "--max-budget", "0"],
    );
    assert!(!invalid.status.success());
    assert!(
        String::from_utf8_lossy(&invalid.stderr).contains("Max budget must be greater than $0")
    );

    sim.control().set_spend(&key, 61.725).unwrap();
    let listed = cli(&url, &base, &["tenant", "list"]);
    let table = String::from_utf8(listed.stdout).unwrap();
    assert!(
        table.contains("acme") && table.contains("61.73") && table.contains("50.0"),
        "{table}"
    );

    // A second tenant attached to a key made elsewhere, by its hash.
    let other = reqwest::Client::new()
        .post(format!("{base}/key/generate"))
        .bearer_auth(MASTER)
        .json(&serde_json::json!({"key_alias": "made-elsewhere"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let hash = other["token"].as_str().unwrap();
    let attached = cli(
        &url,
        &base,
        &[
            "tenant",
            "adopt-key",
            "--id",
            "initech",
            "--key-hash",
            hash,
            "--max-budget",
            "200",
        ],
    );
    assert!(
        attached.status.success(),
        "{}",
        String::from_utf8_lossy(&attached.stderr)
    );
    assert_eq!(sim.control().key(hash).unwrap().max_budget, Some(220.0));

    let grpc = format!("127.0.0.1:{}", common::free_port());
    let mut serve = Command::new(env!("CARGO_BIN_EXE_budget-service"))
        .args(["serve", "--grpc-addr", &grpc, "--http-addr", "127.0.0.1:0"])
        .env("DATABASE_URL", &url)
        .env("LITELLM_BASE_URL", &base)
        .env("LITELLM_MASTER_KEY", MASTER)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // `health` answers SERVING once the server is up (retried while it starts).
    let started = Instant::now();
    loop {
        let health = cli(&url, &base, &["health", "--addr", &grpc]);
        if health.status.success() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "health never passed: {}",
            common::stderr(&health)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(serve.try_wait().unwrap().is_none(), "serve keeps running");
    let killed = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = serve.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "serve did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let down = cli(
        &url,
        &base,
        &["health", "--addr", &grpc, "--timeout-secs", "2"],
    );
    assert!(!down.status.success());
    let reason = common::stderr(&down);
    assert!(
        reason.contains("cannot connect") && reason.trim().lines().count() == 1,
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_commands_print_only_the_token_and_audit() {
    let (url, _name) = fresh_database().await;
    migrate(&url);
    let sim = SimServer::start("127.0.0.1:0", MASTER).await.unwrap();
    let base = sim.base_url();
    let created = cli(
        &url,
        &base,
        &["tenant", "create", "--id", "acme", "--max-budget", "100"],
    );
    assert!(created.status.success());

    let token = cli(
        &url,
        &base,
        &[
            "token",
            "create",
            "--role",
            "tenant_admin",
            "--tenant",
            "acme",
            "--name",
            "acme-ops",
        ],
    );
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let value = String::from_utf8(token.stdout).unwrap();
    assert!(
        value.trim().starts_with("bgt_") && value.trim().len() > 40 && value.lines().count() == 1,
        "{value}"
    );

    let bad = cli(
        &url,
        &base,
        &[
            "token",
            "create",
            "--role",
            "tenant_admin",
            "--name",
            "no-tenant",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("needs --tenant"));

    let listed = String::from_utf8(cli(&url, &base, &["token", "list"]).stdout).unwrap();
    assert!(
        listed.contains("acme-ops") && listed.contains("tenant_admin") && listed.contains("live"),
        "{listed}"
    );
    assert!(
        !listed.contains(value.trim()),
        "list never shows token values"
    );

    assert!(
        cli(&url, &base, &["token", "revoke", "--name", "acme-ops"])
            .status
            .success()
    );
    let listed = String::from_utf8(cli(&url, &base, &["token", "list"]).stdout).unwrap();
    assert!(listed.contains("revoked"), "{listed}");

    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let actions: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, actor FROM audit_events WHERE action LIKE 'token_%' ORDER BY event_id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        actions,
        vec![
            ("token_created".to_owned(), "cli".to_owned()),
            ("token_revoked".to_owned(), "cli".to_owned())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_contain_secrets() {
    let (url, _name) = fresh_database().await;
    migrate(&url);
    let sim = SimServer::start("127.0.0.1:0", MASTER).await.unwrap();
    let base = sim.base_url();
    let bootstrap = "bgt_log_scan_bootstrap_secret_value";
    let webhook_secret = "webhook-secret-for-log-scan";
    let log_path = std::env::temp_dir().join(format!("budget-log-scan-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_budget-service"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .env("DATABASE_URL", &url)
        .env("LITELLM_BASE_URL", &base)
        .env("LITELLM_MASTER_KEY", MASTER)
        .env("BUDGET_BOOTSTRAP_TOKEN", bootstrap)
        .env("BUDGET_WEBHOOK_SECRET", webhook_secret)
        .env("BUDGET_EVAL_INTERVAL_SECS", "1")
        .env("RUST_LOG", "debug")
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    // A tenant whose key LiteLLM refuses to read, so error paths log too.
    let created = cli(
        &url,
        &base,
        &["tenant", "create", "--id", "acme", "--max-budget", "100"],
    );
    let virtual_key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    sim.control().inject(litellm_sim::FaultRule::new(
        "/key/info",
        litellm_sim::Fault::Status500,
    ));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let _ = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let _ = serve.wait();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    assert!(
        logs.contains("evaluation pass"),
        "the service ran and logged: {}",
        &logs[..logs.len().min(500)]
    );
    assert!(
        logs.contains("BUDGET_BOOTSTRAP_TOKEN is set"),
        "a warning while the bootstrap token is set"
    );
    for secret in [MASTER, bootstrap, webhook_secret, virtual_key.as_str()] {
        assert!(!logs.contains(secret), "a secret appears in the logs");
    }
}

/// `--help` lists each setting's environment variable and, unless hidden, its current value:
/// DATABASE_URL (which may carry a password) and every secret must never be printed.
#[test]
fn help_never_shows_secret_values() {
    let secrets = [
        (
            "DATABASE_URL",
            "postgres://budget:db-password-in-url@db:5432/budget",
        ),
        ("LITELLM_MASTER_KEY", "sk-master-key-shown-nowhere"),
        ("BUDGET_WEBHOOK_SECRET", "webhook-secret-shown-nowhere"),
        (
            "BUDGET_BOOTSTRAP_TOKEN",
            "bgt_bootstrap_token_shown_nowhere_0123456789",
        ),
    ];
    let helps: [&[&str]; 6] = [
        &["serve", "--help"],
        &["migrate", "--help"],
        &["token", "--help"],
        &["token", "create", "--help"],
        &["tenant", "create", "--help"],
        &["tenant", "export", "--help"],
    ];
    for args in helps {
        let mut command = Command::new(env!("CARGO_BIN_EXE_budget-service"));
        command.args(args);
        for (name, value) in secrets {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("DATABASE_URL"), "{args:?}: {text}");
        for (name, value) in secrets {
            assert!(!text.contains(value), "{args:?} shows {name}: {text}");
        }
    }
}

/// A short bootstrap token is refused at startup with a message naming the setting; a long
/// one starts, with a warning that it is set.
#[test]
fn a_short_bootstrap_token_is_refused_at_startup() {
    let output = Command::new(env!("CARGO_BIN_EXE_budget-service"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .env("LITELLM_BASE_URL", "http://127.0.0.1:1")
        .env("LITELLM_MASTER_KEY", MASTER)
        .env("BUDGET_BOOTSTRAP_TOKEN", "bgt_only_31_characters_long_xxx")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("BUDGET_BOOTSTRAP_TOKEN must be at least 32 characters"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("bgt_only_31_characters_long_xxx"),
        "{stderr}"
    );
}
