//! The admin command line: commands never migrate and refuse a schema this binary cannot use
//! (changing nothing), `serve --no-migrate` refuses likewise, `-o json` output, shell
//! completions, enum values in help, and `tenant --help` without `serve`'s flags.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use litellm_sim::SimServer;
use sqlx::Connection;

mod common;

use common::{MASTER, cli, fresh_database, migrate, stderr, stdout};

async fn tables(url: &str) -> Vec<String> {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

fn serve_no_migrate(url: &str) -> std::process::Output {
    cli(
        url,
        "http://127.0.0.1:1",
        &[
            "serve",
            "--no-migrate",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_and_serve_refuse_a_schema_that_is_behind_and_change_nothing() {
    let (url, _name) = fresh_database().await;
    let sim = SimServer::start("127.0.0.1:0", MASTER).await.unwrap();
    let base = sim.base_url();

    for args in [
        &["tenant", "create", "--id", "acme"][..],
        &["tenant", "list"],
        &["token", "list"],
        &["token", "create", "--role", "service", "--name", "ops"],
    ] {
        let out = cli(&url, &base, args);
        assert!(!out.status.success(), "{args:?}");
        let message = stderr(&out);
        assert!(
            message.contains("schema is behind")
                && message.contains("pending")
                && message.contains("budget-service migrate"),
            "{args:?}: {message}"
        );
    }
    let out = serve_no_migrate(&url);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("run `budget-service migrate` first"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tables(&url).await, Vec::<String>::new(), "nothing created");
    assert_eq!(
        sim.control().calls("/key/generate"),
        0,
        "no LiteLLM key made"
    );

    migrate(&url);
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let tables_after_migrate = tables(&url).await;
    assert!(tables_after_migrate.contains(&"tenants".to_owned()));
    assert!(cli(&url, &base, &["token", "list"]).status.success());

    // One migration rolled back in the bookkeeping: named as pending, nothing written.
    let (last, checksum): (i64, Vec<u8>) = sqlx::query_as(
        "SELECT version, checksum FROM _sqlx_migrations ORDER BY version DESC LIMIT 1",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    sqlx::query("UPDATE _sqlx_migrations SET version = -version WHERE version = $1")
        .bind(last)
        .execute(&mut conn)
        .await
        .unwrap();
    let out = cli(
        &url,
        &base,
        &["token", "create", "--role", "service", "--name", "ops"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("migration {last} pending")),
        "{}",
        stderr(&out)
    );
    let out = serve_no_migrate(&url);
    assert!(
        stderr(&out).contains(&format!("migration {last} pending")),
        "{}",
        stderr(&out)
    );
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(tokens, 0, "the refused command wrote nothing");

    // An applied migration edited since: refused, naming it.
    sqlx::query(
        "UPDATE _sqlx_migrations SET version = $1, checksum = '\\x00'::bytea WHERE version = $2",
    )
    .bind(last)
    .bind(-last)
    .execute(&mut conn)
    .await
    .unwrap();
    let out = cli(&url, &base, &["token", "list"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("migration {last} differs")),
        "{}",
        stderr(&out)
    );

    // Put right, plus a migration this binary does not know (a newer database): works, warns.
    sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2")
        .bind(&checksum)
        .bind(last)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99991231000000, 'from the future', true, '\\x00'::bytea, 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let out = cli(&url, &base, &["token", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("99991231000000") && stderr(&out).contains("newer"),
        "{}",
        stderr(&out)
    );
    // `migrate` of the older binary leaves the newer migration alone.
    migrate(&url);
    assert_eq!(tables(&url).await, tables_after_migrate);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_commands_print_json_with_stable_fields() {
    let (url, _name) = fresh_database().await;
    migrate(&url);
    let sim = SimServer::start("127.0.0.1:0", MASTER).await.unwrap();
    let base = sim.base_url();
    let created = cli(
        &url,
        &base,
        &[
            "tenant",
            "create",
            "--id",
            "acme",
            "--max-budget",
            "123.45",
            "--budget-duration",
            "60d",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let key = stdout(&created).trim().to_owned();
    sim.control().set_spend(&key, 61.725).unwrap();

    let out = cli(&url, &base, &["tenant", "list", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &rows.as_array().unwrap()[0];
    assert_eq!(row["tenant_id"], "acme");
    assert_eq!(row["max_budget_micros"], 123_450_000);
    assert_eq!(row["spend_micros"], 61_725_000);
    assert_eq!(row["budget_duration"], "60d");
    assert_eq!(row["state"], "ok");
    assert_eq!(row["suspended"], false);
    assert!(row["error"].is_null());
    let created_at = row["created_at"].as_str().unwrap();
    assert!(created_at.ends_with('Z'), "{created_at}");
    chrono::DateTime::parse_from_rfc3339(created_at).unwrap();

    let made = cli(
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
    assert!(made.status.success(), "{}", stderr(&made));
    let out = cli(&url, &base, &["token", "list", "--output", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &rows.as_array().unwrap()[0];
    assert_eq!(row["name"], "acme-ops");
    assert_eq!(row["role"], "tenant_admin");
    assert_eq!(row["tenant_id"], "acme");
    assert_eq!(row["status"], "live");
    assert!(row["last_used_at"].is_null() && row["revoked_at"].is_null());
    chrono::DateTime::parse_from_rfc3339(row["created_at"].as_str().unwrap()).unwrap();
    assert!(
        !stdout(&out).contains(stdout(&made).trim()),
        "never the token value"
    );

    // The table stays the default.
    let table = stdout(&cli(&url, &base, &["token", "list"]));
    assert!(table.starts_with("NAME"), "{table}");
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_budget-service"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef budget-service"),
        ("fish", "complete -c budget-service"),
    ] {
        let out = run(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("adopt-key") && script.contains("switch-key"),
            "{shell}"
        );
    }
    assert!(!run(&["completions", "tcsh"]).status.success());
}

#[test]
fn help_shows_each_command_only_its_own_flags_and_the_allowed_values() {
    let help = |args: &[&str]| {
        let out = run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let serve = help(&["serve", "--help"]);
    assert!(
        serve.contains("--grpc-addr") && serve.contains("BUDGET_GRPC_ADDR"),
        "{serve}"
    );
    for args in [
        &["tenant", "--help"][..],
        &["tenant", "create", "--help"],
        &["tenant", "list", "--help"],
        &["token", "--help"],
    ] {
        let text = help(args);
        for flag in [
            "--grpc-addr",
            "--http-addr",
            "--webhook-secret",
            "--eval-interval-secs",
        ] {
            assert!(!text.contains(flag), "{args:?} shows {flag}: {text}");
        }
    }
    let create = help(&["tenant", "create", "--help"]);
    assert!(
        create.contains("30d") && create.contains("60d") && create.contains("90d"),
        "{create}"
    );
    assert!(create.contains("LITELLM_BASE_URL"), "{create}");
    let export = help(&["tenant", "export", "--help"]);
    assert!(
        export.contains("daily-spend") && export.contains("audit-events"),
        "{export}"
    );
    let token = help(&["token", "create", "--help"]);
    assert!(
        token.contains("platform_admin") && token.contains("tenant_admin"),
        "{token}"
    );
    let list = help(&["tenant", "list", "--help"]);
    assert!(list.contains("--output") && list.contains("json"), "{list}");

    // The two key commands say which is which; the old names still work, unlisted.
    let tenant = help(&["tenant", "--help"]);
    assert!(
        tenant.contains("adopt-key") && tenant.contains("NEW tenant"),
        "{tenant}"
    );
    assert!(
        tenant.contains("switch-key") && tenant.contains("EXISTING tenant"),
        "{tenant}"
    );
    assert!(!tenant.contains("  attach"), "{tenant}");
    assert!(help(&["tenant", "attach", "--help"]).contains("--key-hash"));
    assert!(help(&["tenant", "attach-key", "--help"]).contains("--key-hash"));

    // A value outside the set is refused by the parser, listing the set.
    let bad = run(&[
        "token",
        "create",
        "--role",
        "admin",
        "--name",
        "x",
        "--database-url",
        "postgres://x/y",
    ]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("platform_admin"), "{}", stderr(&bad));
}
