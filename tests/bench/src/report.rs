//! BENCHMARKS.md: the machine, versions, and for every figure its target, what was measured,
//! the ratio to its baseline and whether the target was met (with the measured explanation of
//! a miss).

use std::process::Command;
use std::time::Duration;

use crate::Sizes;

/// One figure of the issue.
#[derive(Clone, Debug)]
pub struct Figure {
    pub number: u32,
    pub title: String,
    pub target: String,
    /// What was measured, in words and numbers (markdown).
    pub measured: String,
    pub ratio: String,
    /// `None`: no target to meet (a measurement only), or not measured in this run.
    pub met: Option<bool>,
    /// The raw numbers, by name (the smoke test checks them).
    pub values: Vec<(String, f64)>,
    /// Why a target was missed, with the numbers that show it.
    pub explanation: String,
}

impl Figure {
    pub fn value(&self, name: &str) -> Option<f64> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| *value)
    }
}

#[derive(Clone, Debug)]
pub struct Report {
    pub sizes: Sizes,
    pub figures: Vec<Figure>,
    pub elapsed: Duration,
}

impl Report {
    pub fn new(sizes: Sizes, mut figures: Vec<Figure>, elapsed: Duration) -> Report {
        figures.sort_by_key(|f| f.number);
        Report {
            sizes,
            figures,
            elapsed,
        }
    }

    pub fn figure(&self, number: u32) -> Option<&Figure> {
        self.figures.iter().find(|f| f.number == number)
    }

    /// The markdown of BENCHMARKS.md.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# Benchmarks\n\n");
        out.push_str("Written by `cargo run --release -p budget-bench` (a smoke-size run of the same code is the test `budget-bench::smoke`). ");
        out.push_str("Every figure is a ratio against a baseline started by the same harness in the same run; absolute times on this shared machine drift.\n\n");
        out.push_str("## Machine\n\n");
        for (name, value) in machine() {
            out.push_str(&format!("- {name}: {value}\n"));
        }
        out.push_str(&format!(
            "- run: {:.0} s, sizes {:?}\n\n",
            self.elapsed.as_secs_f64(),
            self.sizes
        ));
        out.push_str(
            "## Summary\n\n| # | figure | target | ratio | met |\n|---|---|---|---|---|\n",
        );
        for f in &self.figures {
            let met = match f.met {
                Some(true) => "yes",
                Some(false) => "**MISSED**",
                None => "-",
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                f.number, f.title, f.target, f.ratio, met
            ));
        }
        for f in &self.figures {
            out.push_str(&format!("\n## {}. {}\n\n", f.number, f.title));
            out.push_str(&format!(
                "Target: {}\n\n{}\n\nRatio: {}\n",
                f.target, f.measured, f.ratio
            ));
            if !f.explanation.is_empty() {
                out.push_str(&format!("\n{}\n", f.explanation));
            }
        }
        out
    }
}

fn command(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// Cores, CPU model, kernel, rustc, PostgreSQL, commit, date.
pub fn machine() -> Vec<(&'static str, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or("unknown".into(), |kib| {
            format!("{:.1} GiB", kib as f64 / 1048576.0)
        });
    vec![
        ("cores", cores.to_string()),
        ("CPU", cpu),
        ("memory", memory),
        ("kernel", command("uname", &["-r"])),
        ("rustc", command("rustc", &["--version"])),
        (
            "PostgreSQL",
            command(
                "psql",
                &[
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-At",
                    "-c",
                    "SHOW server_version",
                ],
            ),
        ),
        ("commit", command("git", &["rev-parse", "--short", "HEAD"])),
        (
            "date",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        ),
        (
            "build",
            if cfg!(debug_assertions) {
                "debug".into()
            } else {
                "release".into()
            },
        ),
    ]
}
