//! Scale benchmark: `cargo run --release -p budget-e2e --bin scale-bench -- [--tenants 100000]
//! [--concurrency 64] [--passes 3] [--keep-database] [--write]`. Needs PostgreSQL as the tests
//! do (`TEST_DATABASE_ADMIN_URL`, default postgres://postgres@127.0.0.1:5432/postgres).
//! `--write` puts the run's row into BENCHMARKS.md's scale section (with the commit).

use std::path::Path;
use std::process::Command;

use budget_e2e::scale::{ScaleOptions, run};

const USAGE: &str =
    "usage: scale-bench [--tenants N] [--concurrency N] [--passes N] [--keep-database] [--write]

  --tenants N       fleet size (default 100000)
  --concurrency N   requests at once while creating keys and filling the cache (default 64)
  --passes N        evaluation passes to time: all new, quiet, then 10 % changed (default 3)
  --keep-database   keep the benchmark's database and print its name
  --write           put this run's row into BENCHMARKS.md's scale section, with the commit";

/// A usage error: the usage on stderr, exit status 2.
fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2)
}

/// The commit measured: the short hash, `+dirty` with uncommitted changes.
fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let hash = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if !changes.is_empty() => format!("{hash}+dirty"),
        _ => hash,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    budget_e2e::init_test_logs();
    let mut options = ScaleOptions::default();
    let mut write = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || -> usize {
            args.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or_else(|| usage())
        };
        match arg.as_str() {
            "--tenants" => options.tenants = number(),
            "--concurrency" => options.concurrency = number(),
            "--passes" => options.passes = number(),
            "--keep-database" => options.keep_database = true,
            "--write" => write = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => usage(),
        }
    }
    eprintln!("scale-bench: {} tenants ...", options.tenants);
    let commit = commit();
    let report = run(&options).await?;
    print!("{}", report.render());
    println!("{}", report.table_row(&commit));
    if write {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, report.write_section(&text, &commit))?;
        eprintln!("wrote the {} row of {}", report.tenants, path.display());
    }
    Ok(())
}
