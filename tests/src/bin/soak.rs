//! Soak: `cargo run --release -p budget-e2e --bin soak -- [--duration-secs 300] [--rps 200]
//! [--tenants 40] [--fault-rate 0.05] [--warmup-secs 60] [--markdown-out target/soak-last.md]`.
//! Needs PostgreSQL as the tests do (`TEST_DATABASE_ADMIN_URL`, default
//! postgres://postgres@127.0.0.1:5432/postgres). Prints its figures; exits 1 when a check fails.

use std::time::Duration;

use budget_e2e::soak::{SoakOptions, run};

fn usage() -> ! {
    eprintln!(
        "usage: soak [--duration-secs N] [--rps N] [--tenants N] [--fault-rate F] [--warmup-secs N] [--markdown-out FILE]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    budget_e2e::init_test_logs();
    let mut options = SoakOptions::default();
    let mut markdown_out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        let number = |text: &str| -> f64 { text.parse().unwrap_or_else(|_| usage()) };
        match arg.as_str() {
            "--duration-secs" => options.duration = Duration::from_secs_f64(number(&value)),
            "--rps" => options.rps = number(&value),
            "--tenants" => options.tenants = number(&value) as usize,
            "--fault-rate" => options.fault_rate = number(&value),
            "--warmup-secs" => options.warmup = Duration::from_secs_f64(number(&value)),
            "--markdown-out" => markdown_out = Some(value),
            _ => usage(),
        }
    }
    if options.rps <= 0.0 || options.duration.is_zero() {
        usage();
    }
    eprintln!(
        "soak: {:.0} s at {} RPC/s ...",
        options.duration.as_secs_f64(),
        options.rps
    );
    let report = run(&options).await?;
    let text = report.markdown();
    print!("{text}");
    if let Some(path) = markdown_out {
        std::fs::write(&path, &text)?;
        eprintln!("soak: figures written to {path}");
    }
    if report.checks().iter().any(|(_, ok)| !ok) {
        std::process::exit(1);
    }
    Ok(())
}
