//! Figure 6: the dashboard fully drawn, cold, median of N loads, and the gzipped JS + CSS
//! bytes, by tests/browser/bench-dashboard.mjs (headless Chromium against `e2e-stack`).
//!
//! The stack is the release build of `e2e-stack`, next to this benchmark's own binary, so the
//! figure is the optimised product's, like every other figure here.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Figure, Sizes};

/// `e2e-stack` of the release profile: beside this binary (target/release), which also honours
/// `CARGO_TARGET_DIR`.
fn release_stack_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no directory", exe.display()))?;
    // `cargo test` runs this crate's tests from target/<profile>/deps.
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    let profile_dir = dir
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no parent", dir.display()))?
        .join("release");
    let bin = profile_dir.join(format!("e2e-stack{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(bin.exists(), "{} is missing after the build", bin.display());
    Ok(bin)
}

/// The repository root (this crate is tests/bench).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

pub async fn run(sizes: &Sizes) -> anyhow::Result<Figure> {
    if sizes.dashboard_runs == 0 {
        return Ok(Figure {
            number: 6,
            title: "Dashboard fully drawn, cold".into(),
            target: "median <= the dashboard issue's target; gzipped JS + CSS within its budget".into(),
            measured: "not run at this size: the browser smoke test tests/browser/bench-smoke.test.mjs runs the same script".into(),
            ratio: "-".into(),
            met: None,
            values: vec![("skipped".into(), 1.0)],
            explanation: String::new(),
        });
    }
    let root = repo_root();
    let runs = sizes.dashboard_runs;
    let summary = tokio::task::spawn_blocking(move || -> anyhow::Result<serde_json::Value> {
        let built = Command::new("cargo")
            .args([
                "build",
                "--release",
                "-p",
                "budget-e2e",
                "--bin",
                "e2e-stack",
            ])
            .current_dir(&root)
            .status()?;
        anyhow::ensure!(built.success(), "cargo build --release of e2e-stack failed");
        let stack_bin = release_stack_bin()?;
        let output = Command::new("node")
            .arg("tests/browser/bench-dashboard.mjs")
            .arg("--runs")
            .arg(runs.to_string())
            .arg("--stack-bin")
            .arg(&stack_bin)
            .current_dir(&root)
            .output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        anyhow::ensure!(
            output.status.success(),
            "bench-dashboard.mjs failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let last = stdout.lines().last().unwrap_or_default();
        Ok(serde_json::from_str(last)?)
    })
    .await?;
    let summary = match summary {
        Ok(summary) => summary,
        Err(error) => {
            return Ok(Figure {
                number: 6,
                title: "Dashboard fully drawn, cold".into(),
                target: "the dashboard issue's targets".into(),
                measured: format!("not measured in this run: {error:#}"),
                ratio: "-".into(),
                met: None,
                values: vec![("failed".into(), 1.0)],
                explanation: String::new(),
            });
        }
    };
    let number = |key: &str| summary.get(key).and_then(|v| v.as_f64()).unwrap_or(0.0);
    let target_ms = summary
        .pointer("/targets/median_ms")
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    let target_kb = summary
        .pointer("/targets/gzip_kb")
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    let met = summary.get("meets_targets").and_then(|v| v.as_bool());
    Ok(Figure {
        number: 6,
        title: "Dashboard fully drawn, cold".into(),
        target: format!("median <= {target_ms} ms; gzipped JS + CSS <= {target_kb} KB"),
        measured: format!(
            "median of {} cold loads of the release stack {} ms (p90 {} ms, min {} ms, max {} ms); JS + CSS gzipped {} bytes (JS {}, CSS {}); phases (median ms) {}; machine: {} CPUs, 1-minute load average {} before the loads, {} after",
            runs,
            number("median_ms"),
            number("p90_ms"),
            number("min_ms"),
            number("max_ms"),
            number("gzip_bytes"),
            number("js_gzip_bytes"),
            number("css_gzip_bytes"),
            summary
                .get("phases_median_ms")
                .map(|v| v.to_string())
                .unwrap_or_default(),
            number("cpus"),
            number("load_average_before"),
            number("load_average_after"),
        ),
        ratio: format!(
            "{:.2}x target time, {:.2}x byte budget",
            number("median_ms") / target_ms.max(1e-9),
            number("gzip_kb") / target_kb.max(1e-9)
        ),
        met,
        values: vec![
            ("median_ms".into(), number("median_ms")),
            ("gzip_bytes".into(), number("gzip_bytes")),
            ("load_average_before".into(), number("load_average_before")),
            ("load_average_after".into(), number("load_average_after")),
        ],
        explanation: String::new(),
    })
}
