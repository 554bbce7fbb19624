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
