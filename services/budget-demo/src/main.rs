//! `cargo run --release -p budget-demo`: the whole product on this machine, seeded with five
//! tenants, until Ctrl-C.
//!
//! PostgreSQL comes from DATABASE_URL, else the local server on 127.0.0.1:5432, else a
//! private throwaway cluster (initdb/pg_ctl) in a temporary folder removed on exit. The
//! demo (re)creates its own database (`budget_demo` unless `--database-name`) on that server.
//! Its parts take their usual ports (dashboard 8080, gRPC 50051, webhooks 8081, litellm-sim
//! 4000) when free and any free port otherwise, and print where they are.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use budget_demo::ports::{Placement, exactly, usual_or_free};
use budget_demo::{RunningStack, StackConfig};
use clap::Parser;
use sqlx::Connection;

const DEMO_DATABASE: &str = "budget_demo";
const SIM_MASTER_KEY: &str = "sk-demo-master";

/// The whole product on this machine: PostgreSQL, a LiteLLM stand-in, budget-service and
/// the dashboard, seeded with five tenants, until Ctrl-C.
#[derive(Parser, Debug)]
#[command(
    name = "budget-demo",
    version,
    about,
    after_help = "PostgreSQL: DATABASE_URL, else 127.0.0.1:5432, else a private throwaway cluster.\n\
                  LITELLM_SIM_ADDR, BUDGET_GRPC_ADDR, BUDGET_HTTP_ADDR and GATEWAY_ADDR pin a part's \
                  address exactly; unset, a part takes its usual port, or a free one when that is taken."
)]
struct DemoArgs {
    /// Port of the dashboard (the gateway) on 127.0.0.1; 0 picks a free port. Unset:
    /// GATEWAY_ADDR, else 8080, or a free port when 8080 is taken.
    #[arg(long)]
    port: Option<u16>,
    /// The database the demo drops and creates afresh on the PostgreSQL server.
    #[arg(long, default_value = DEMO_DATABASE, value_parser = database_name)]
    database_name: String,
    /// OpenTelemetry traces of budget-service and the gateway (OTEL_EXPORTER_OTLP_ENDPOINT and
    /// the other standard variables; each part keeps its own service name).
    #[command(flatten)]
    traces: budget_telemetry::TraceArgs,
}

/// A database name safe to put in DROP/CREATE DATABASE: lowercase letters, digits and `_`.
fn database_name(raw: &str) -> Result<String, String> {
    let ok = (1..=63).contains(&raw.len())
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("use 1-63 lowercase letters, digits and _, starting with a letter".into())
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = DemoArgs::parse();
    // Quiet by default so the URL and the received notifications stay readable.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("budget-demo: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Where each part listens, before it starts.
struct Placements {
    sim: Placement,
    grpc: Placement,
    http: Placement,
    gateway: Placement,
}

/// A part's address: exactly the variable's when set, else `usual` or a free port.
fn place(variable: &str, usual: &str) -> anyhow::Result<Placement> {
    match std::env::var(variable) {
        Ok(raw) => Ok(exactly(raw.parse().with_context(|| {
            format!("{variable} must be an address like {usual}")
        })?)),
        Err(_) => Ok(usual_or_free(usual.parse()?)),
    }
}

fn placements(port: Option<u16>) -> anyhow::Result<Placements> {
    Ok(Placements {
        sim: place("LITELLM_SIM_ADDR", "127.0.0.1:4000")?,
        grpc: place("BUDGET_GRPC_ADDR", "127.0.0.1:50051")?,
        http: place("BUDGET_HTTP_ADDR", "127.0.0.1:8081")?,
        gateway: match port {
            Some(port) => exactly(SocketAddr::from(([127, 0, 0, 1], port))),
            None => place("GATEWAY_ADDR", "127.0.0.1:8080")?,
        },
    })
}

async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let places = placements(args.port)?;
    let (server_url, cluster) = postgres_server().await?;
    let database_url = recreate_demo_database(&server_url, &args.database_name).await?;
    let config = StackConfig {
        database_url,
        sim_addr: places.sim.addr.to_string(),
        sim_master_key: env_or("LITELLM_SIM_MASTER_KEY", SIM_MASTER_KEY),
        grpc_addr: places.grpc.addr,
        http_addr: places.http.addr,
        webhook_secret: env_or("BUDGET_WEBHOOK_SECRET", "demo-webhook-secret"),
        gateway_addr: places.gateway.addr,
        cache_ttl_secs: 60,
        eval_interval_secs: 60,
        notification_receiver: true,
        bootstrap_token: std::env::var("BUDGET_BOOTSTRAP_TOKEN").unwrap_or_else(|_| random_token()),
        start_at: None,
        traces: args.traces.clone(),
    };
    let result = serve(&config, &places).await;
    if let Some(cluster) = cluster {
        cluster.stop();
    }
    result
}

async fn serve(config: &StackConfig, places: &Placements) -> anyhow::Result<()> {
    let stack = RunningStack::start(config).await?;
    let sim_addr: SocketAddr = stack
        .sim
        .base_url()
        .trim_start_matches("http://")
        .parse()
        .context("litellm-sim's address")?;
    for (part, place, actual) in [
        ("the dashboard", places.gateway, stack.gateway_addr),
        ("budget-service gRPC", places.grpc, stack.grpc_addr),
        ("budget-service webhooks", places.http, stack.http_addr),
        ("litellm-sim", places.sim, sim_addr),
    ] {
        if let Some(usual) = place.instead_of {
            println!("  {usual} is taken: {part} listens on {actual} instead");
        }
    }
    let keys = stack.seed_demo(&config.webhook_secret).await?;
    let traffic = tokio::spawn(chat_traffic(
        stack.sim(),
        stack.sim.base_url(),
        keys.into_iter()
            .filter(|(id, _)| id == "acme" || id == "globex")
            .collect(),
    ));
    let acme_admin = stack
        .authenticator
        .create_token(
            "budget-demo",
            "acme-admin",
            budget_service::domain::auth::Role::TenantAdmin,
            Some("acme"),
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating the demo's tenant-admin token: {e}"))?;
    let url = format!("http://{}", stack.gateway_addr);
    println!();
    println!("  Budget dashboard:  {url}/");
    println!(
        "  Tenants:           acme (OK) · globex (warning) · initech (grace) · umbrella (blocked) · hooli (new)"
    );
    println!(
        "  gRPC:              {}  (grpcurl -plaintext {} list)",
        stack.grpc_addr, stack.grpc_addr
    );
    println!(
        "  LiteLLM stand-in:  {}  (litellm-sim, master key {})",
        stack.sim.base_url(),
        config.sim_master_key
    );
    println!(
        "  Sign in with:      {}  (platform admin: every tenant)",
        config.bootstrap_token
    );
    println!("                     {acme_admin}  (tenant admin of acme only)");
    println!("  Ctrl-C stops everything.");
    println!();
    budget_service::startup::shutdown_signal().await;
    println!("stopping…");
    traffic.abort();
    stack.stop().await;
    Ok(())
}

/// acme and globex keep making chat calls so their numbers move while the demo runs: each
/// call costs $0.50 (litellm-sim's fixed price), globex calls every 2 s and acme every 4 s,
/// so globex crosses 100 % within about 8 minutes and its alerts appear by themselves.
async fn chat_traffic(sim: litellm_sim::SimControl, sim_url: String, keys: Vec<(String, String)>) {
    sim.set_chat_cost(Some(0.5));
    let http = reqwest::Client::new();
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    for round in 0u64.. {
        tick.tick().await;
        for (id, key) in &keys {
            if id == "acme" && round % 2 == 1 {
                continue;
            }
            let body = serde_json::json!({
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "Summarise today's tickets."}],
                "max_tokens": 400,
            });
            let sent = http
                .post(format!("{sim_url}/chat/completions"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await;
            if let Err(error) = sent {
                tracing::warn!(tenant_id = %id, error = %error, "demo chat call failed");
            }
        }
    }
}

/// A fresh random bootstrap token for this demo run.
fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("bgt_demo_{}", hex::encode(bytes))
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Finds a PostgreSQL server: DATABASE_URL, the local one, or a private cluster.
async fn postgres_server() -> anyhow::Result<(String, Option<PrivateCluster>)> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        sqlx::PgConnection::connect(&url)
            .await
            .context("connecting to DATABASE_URL")?;
        return Ok((url, None));
    }
    let local = "postgres://postgres@127.0.0.1:5432/postgres";
    if sqlx::PgConnection::connect(local).await.is_ok() {
        return Ok((local.to_owned(), None));
    }
    let cluster = PrivateCluster::start().context(
        "no PostgreSQL answers on 127.0.0.1:5432 and no initdb/pg_ctl to start one: \
         set DATABASE_URL=postgres://user@host:port/db to a server the demo may create a database on",
    )?;
    let url = cluster.url();
    for _ in 0..50 {
        if sqlx::PgConnection::connect(&url).await.is_ok() {
            return Ok((url, Some(cluster)));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.stop();
    bail!("the private PostgreSQL cluster did not start")
}

/// Drops and creates the demo's database `name` (checked by `database_name`) on the server,
/// returning its URL.
async fn recreate_demo_database(server_url: &str, name: &str) -> anyhow::Result<String> {
    let mut conn = sqlx::PgConnection::connect(server_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let base = server_url.split('?').next().unwrap_or(server_url);
    let base = base.rsplit_once('/').map_or(base, |(base, _)| base);
    Ok(format!("{base}/{name}"))
}

/// A throwaway PostgreSQL cluster in a temporary folder, removed on stop.
struct PrivateCluster {
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivateCluster {
    fn start() -> anyhow::Result<PrivateCluster> {
        let initdb = find_program("initdb").context("initdb not found")?;
        let pg_ctl = find_program("pg_ctl").context("pg_ctl not found")?;
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("budget-demo-pg-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        // PostgreSQL refuses to run as root; run it as the postgres user when we are root.
        let as_postgres = is_root();
        if as_postgres {
            run_command(Command::new("chown").arg("-R").arg("postgres").arg(&dir))?;
        }
        let data = dir.join("data");
        let cluster = PrivateCluster {
            dir: dir.clone(),
            port,
            as_postgres,
        };
        cluster.run_pg(
            &initdb,
            &[
                "-D",
                path(&data)?,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        )?;
        let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1", path(&dir)?);
        let log = dir.join("postgres.log");
        cluster.run_pg(
            &pg_ctl,
            &[
                "-D",
                path(&data)?,
                "-o",
                &options,
                "-l",
                path(&log)?,
                "-w",
                "start",
            ],
        )?;
        eprintln!(
            "budget-demo: started a private PostgreSQL on 127.0.0.1:{port} in {}",
            dir.display()
        );
        Ok(cluster)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run_pg(&self, program: &Path, args: &[&str]) -> anyhow::Result<()> {
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        run_command(command.args(args))
    }

    fn stop(self) {
        if let (Some(pg_ctl), Ok(data)) = (
            find_program("pg_ctl"),
            path(&self.dir.join("data")).map(str::to_owned),
        ) {
            let _ = self.run_pg(&pg_ctl, &["-D", &data, "-m", "fast", "-w", "stop"]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_command(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn path(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("temporary folder path is not UTF-8")
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    Ok(listener.local_addr()?.port())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Looks for a PostgreSQL program on PATH, then in Debian's versioned folders.
fn find_program(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name));
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|version| version.path().join("bin").join(name));
    on_path.chain(debian).find(|candidate| candidate.is_file())
}
