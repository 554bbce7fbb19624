//! The `budget-demo` binary's command line: `--help` prints usage without starting anything,
//! and the demo puts its parts on free ports when their usual ones are taken.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Waits for `child` to exit within `limit`, killing it otherwise.
fn wait(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn help_prints_usage_and_starts_nothing() {
    for flag in ["--help", "-h"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_budget-demo"))
            .arg(flag)
            // Were it to start, it would find no PostgreSQL here and say so.
            .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = wait(&mut child, Duration::from_secs(30)).expect("--help returns");
        let output = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(status.success(), "{flag}: {text}");
        assert!(text.contains("Usage: budget-demo"), "{text}");
        assert!(text.contains("--port"), "{text}");
        assert!(
            output.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn a_bad_database_name_is_refused_before_anything_starts() {
    let output = Command::new(env!("CARGO_BIN_EXE_budget-demo"))
        .args(["--database-name", "x; DROP DATABASE postgres"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--database-name"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_ports_are_replaced_by_free_ones_and_printed() {
    // Hold the usual ports of litellm-sim, budget-service's gRPC and webhook sides (if
    // another program holds one already, it is taken all the same).
    let held: Vec<TcpListener> = ["127.0.0.1:4000", "127.0.0.1:50051", "127.0.0.1:8081"]
        .into_iter()
        .filter_map(|addr| TcpListener::bind(addr).ok())
        .collect();
    let server = std::env::var("TEST_DATABASE_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let database = format!("budget_demo_ports_{}", std::process::id());
    let mut child = Command::new(env!("CARGO_BIN_EXE_budget-demo"))
        .args(["--port", "0", "--database-name", &database])
        .env("DATABASE_URL", &server)
        .env_remove("LITELLM_SIM_ADDR")
        .env_remove("BUDGET_GRPC_ADDR")
        .env_remove("BUDGET_HTTP_ADDR")
        .env_remove("GATEWAY_ADDR")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut printed: Vec<String> = Vec::new();
    let mut dashboard = None;
    // Everything up to the last line of the banner.
    while !printed
        .last()
        .is_some_and(|l| l.contains("Ctrl-C stops everything"))
    {
        let line = match lines.recv_timeout(Duration::from_secs(90)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("the demo did not start: {printed:?}");
            }
        };
        printed.push(line.clone());
        if let Some(url) = line.trim().strip_prefix("Budget dashboard:") {
            dashboard = Some(url.trim().to_owned());
        }
    }
    let dashboard = dashboard.expect("the dashboard's URL is printed");
    for (usual, part) in [
        ("127.0.0.1:4000", "litellm-sim"),
        ("127.0.0.1:50051", "budget-service gRPC"),
        ("127.0.0.1:8081", "budget-service webhooks"),
    ] {
        let note = format!("{usual} is taken: {part} listens on 127.0.0.1:");
        assert!(
            printed.iter().any(|line| line.contains(&note)),
            "{note}: {printed:#?}"
        );
    }
    assert!(
        !dashboard.ends_with(":8080/"),
        "--port 0 picks a port: {dashboard}"
    );
    assert!(
        printed
            .iter()
            .any(|l| l.contains("LiteLLM stand-in:") && !l.contains(":4000 ")),
        "{printed:#?}"
    );
    let health = reqwest::get(format!("{dashboard}healthz")).await.unwrap();
    assert_eq!(health.status(), 200);

    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = wait(&mut child, Duration::from_secs(30));
    drop(held);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&server)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "stops on Ctrl-C: {status:?}"
    );
}
