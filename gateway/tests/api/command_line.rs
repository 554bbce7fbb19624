//! The `budget-gateway` binary's command line.

use std::process::Command;

/// `--help` shows each setting's environment variable and, unless hidden, its current value:
/// the session key must never be printed.
#[test]
fn help_never_shows_the_session_key() {
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let output = Command::new(env!("CARGO_BIN_EXE_budget-gateway"))
        .arg("--help")
        .env("GATEWAY_SESSION_KEY", key)
        .env("GATEWAY_METRICS_ADDR", "127.0.0.1:9191")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("GATEWAY_SESSION_KEY"), "{text}");
    assert!(!text.contains(key), "{text}");
    // Settings that are no secret still show their value.
    assert!(
        text.contains("GATEWAY_METRICS_ADDR=127.0.0.1:9191"),
        "{text}"
    );
    assert!(text.contains("GATEWAY_COOKIE_SECURE"), "{text}");
}

fn health(addr: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_budget-gateway"))
        .args(["health", "--addr", addr, "--timeout-secs", "2"])
        .output()
        .unwrap()
}

/// `budget-gateway` with no subcommand still serves; `budget-gateway health` exits 0 once its
/// /healthz answers 200, and 1 with a one-line reason when nothing answers.
#[test]
fn health_probes_a_running_gateway() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let down = health(&addr);
    assert_eq!(down.status.code(), Some(1));
    let reason = String::from_utf8_lossy(&down.stderr);
    assert!(
        reason.contains("cannot connect") && reason.trim().lines().count() == 1,
        "{reason}"
    );

    let mut gateway = Command::new(env!("CARGO_BIN_EXE_budget-gateway"))
        .args(["--addr", &addr, "--metrics-addr", "127.0.0.1:0"])
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let passed = loop {
        let out = health(&format!("http://{addr}"));
        if out.status.success() {
            break true;
        }
        if started.elapsed() > std::time::Duration::from_secs(20) {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let _ = gateway.kill();
    let _ = gateway.wait();
    assert!(passed, "health never passed against the serving gateway");

    let bad = health("ftp://example");
    assert!(!bad.status.success());
}
