//! What the command-line tests share: a fresh database and a way to run the binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

pub const MASTER: &str = "sk-cli-test";

/// A new empty database (no migrations applied): its URL and name.
pub async fn fresh_database() -> (String, String) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let admin = std::env::var("TEST_DATABASE_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!(
        "budget_cli_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
        .execute(&mut conn)
        .await
        .unwrap();
    let create = format!("CREATE DATABASE {name}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').unwrap().0.to_owned();
    (format!("{base}/{name}"), name)
}

/// Runs `budget-service ARGS` against this database and LiteLLM, to its end.
pub fn cli(database_url: &str, sim_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_budget-service"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("LITELLM_BASE_URL", sim_url)
        .env("LITELLM_MASTER_KEY", MASTER)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// Runs `budget-service migrate`, which must succeed.
pub fn migrate(database_url: &str) {
    let out = cli(database_url, "http://127.0.0.1:1", &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
