//! `cargo run --release -p budget-bench`: runs every benchmark and writes BENCHMARKS.md.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Benchmarks of budget-service against same-run baselines; writes BENCHMARKS.md")]
struct Args {
    /// The smoke sizes (seconds, not minutes).
    #[arg(long)]
    smoke: bool,
    /// Where to write the report (default: BENCHMARKS.md at the repository root).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Concurrent callers of the load generator.
    #[arg(long)]
    callers: Option<usize>,
    /// Seconds per load round.
    #[arg(long)]
    round_secs: Option<f64>,
    /// Alert rows for ListAlerts.
    #[arg(long)]
    alert_rows: Option<u64>,
    /// Tenants for the memory figure.
    #[arg(long)]
    memory_tenants: Option<usize>,
    /// Dashboard loads (0 skips the browser figure).
    #[arg(long)]
    dashboard_runs: Option<usize>,
    /// Only these figures, e.g. `--only 2,3` (the report then holds just those).
    #[arg(long, value_delimiter = ',')]
    only: Vec<u8>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut sizes = if args.smoke {
        budget_bench::Sizes::smoke()
    } else {
        budget_bench::Sizes::full()
    };
    if let Some(callers) = args.callers {
        sizes.callers = callers;
    }
    if let Some(secs) = args.round_secs {
        sizes.round = Duration::from_secs_f64(secs);
    }
    if let Some(rows) = args.alert_rows {
        sizes.alert_rows = rows;
    }
    if let Some(tenants) = args.memory_tenants {
        sizes.memory_tenants = tenants;
    }
    if let Some(runs) = args.dashboard_runs {
        sizes.dashboard_runs = runs;
    }
    sizes.only = args.only;
    let report = budget_bench::run(&sizes).await?;
    let mut text = report.render();
    let out = args
        .out
        .unwrap_or_else(|| budget_bench::dashboard::repo_root().join("BENCHMARKS.md"));
    // scale-bench's section (fleet-size runs by hand, each row with its commit) stays.
    if let Some(scale) = std::fs::read_to_string(&out)
        .ok()
        .as_deref()
        .and_then(budget_e2e::scale::carried_section)
    {
        text.push('\n');
        text.push_str(scale);
        text.push('\n');
    }
    std::fs::write(&out, &text)?;
    println!("{text}");
    eprintln!("wrote {}", out.display());
    Ok(())
}
