//! Scale benchmark: `cargo run --release -p budget-e2e --bin scale-bench -- [--tenants 100000]
//! [--concurrency 64] [--passes 2] [--keep-database]`. Needs PostgreSQL as the tests do
//! (`TEST_DATABASE_ADMIN_URL`, default postgres://postgres@127.0.0.1:5432/postgres).

use budget_e2e::scale::{ScaleOptions, run};

fn usage() -> ! {
    eprintln!("usage: scale-bench [--tenants N] [--concurrency N] [--passes N] [--keep-database]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    budget_e2e::init_test_logs();
    let mut options = ScaleOptions::default();
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
            _ => usage(),
        }
    }
    eprintln!("scale-bench: {} tenants ...", options.tenants);
    let report = run(&options).await?;
    print!("{}", report.render());
    Ok(())
}
