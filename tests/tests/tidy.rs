//! Tidy: the architecture's invariants as a test (rust-analyzer's `tidy` is the model).
//!
//! ARCHITECTURE.md promises that budget-service's layers stay apart: SQL only in `store/`,
//! protobuf and tonic only in `grpc/` (and the server wiring in `startup.rs`), LiteLLM's HTTP
//! only in `litellm/` (and the notification sender's in `notify/`), the environment read only
//! in `config/`, and no clock read inside `domain/` or `litellm/` (they are handed "now").
//! It also promises files a person can read in one sitting. This test reads the sources and
//! fails, naming file and line, when one of those promises stops being true, so the next
//! change that breaks one has to say so here, with a reason.

use std::fs;
use std::path::{Path, PathBuf};

/// Longest source file (anything under a `src/` folder) before it must be split or listed.
const SOURCE_LINES: usize = 800;
/// Longest test file (integration tests, browser tests, dashboard tests).
const TEST_LINES: usize = 1_000;

/// Files allowed past their limit, each with the reason it is still one file.
const LARGE_FILES: &[(&str, &str)] = &[
    (
        "tests/tests/litellm_differential.rs",
        "one scripted sequence sent in lockstep to litellm-sim and the real proxy; it reads top to bottom",
    ),
    (
        "tests/tests/notifications.rs",
        "the notification journeys share one receiver harness; to be split by channel",
    ),
    (
        "tests/tests/budget_service.rs",
        "the story's acceptance criteria, one test each, in the story's order",
    ),
];

/// A rule over budget-service's sources: where a pattern may appear, and why.
struct Rule {
    what: &'static str,
    patterns: &'static [&'static str],
    /// Paths (relative to budget-service's `src/`) where the patterns belong.
    allowed_in: &'static [&'static str],
    /// Paths where the rule applies; empty means everywhere else.
    only_in: &'static [&'static str],
    /// Exact occurrences allowed anywhere, with the reason in a comment.
    exceptions: &'static [&'static str],
}

const RULES: &[Rule] = &[
    Rule {
        what: "SQL outside store/",
        patterns: &[
            "sqlx::query",
            "query_as",
            "query_scalar",
            "\"SELECT ",
            "\"INSERT INTO",
            "\"DELETE FROM",
            "\"UPDATE ",
        ],
        allowed_in: &["store/"],
        only_in: &[],
        exceptions: &[],
    },
    Rule {
        what: "protobuf or tonic types outside grpc/ and the server wiring",
        patterns: &[
            "tonic::",
            "use tonic",
            "tonic_types",
            "tonic_health",
            "tonic_web",
            "tonic_reflection",
            "prost::",
            "use prost",
            "prost_types",
            "budget_proto",
        ],
        allowed_in: &["grpc/", "startup.rs"],
        only_in: &[],
        // The sign-in failure throttle is shared with the gateway through the proto crate; it is
        // plain Rust (no protobuf), so the auth use case may use it.
        exceptions: &["budget_proto::throttle"],
    },
    Rule {
        what: "HTTP client or LiteLLM paths outside litellm/ and notify/",
        patterns: &[
            "reqwest",
            "\"/key/",
            "\"/user/",
            "\"/team/",
            "\"/global/",
            "\"/spend/",
            "\"/chat/",
        ],
        allowed_in: &["litellm/", "notify/"],
        only_in: &[],
        exceptions: &[],
    },
    Rule {
        what: "environment read outside config/",
        patterns: &["env::var", "var_os(", "env::vars", "dotenvy"],
        allowed_in: &["config/", "config.rs"],
        only_in: &[],
        exceptions: &[],
    },
    Rule {
        what: "wall-clock read inside domain/ or litellm/ (they are handed \"now\")",
        patterns: &[
            "Utc::now",
            "SystemTime::now",
            "Local::now",
            "OffsetDateTime::now",
        ],
        allowed_in: &[],
        only_in: &["domain/", "litellm/"],
        exceptions: &[],
    },
    Rule {
        what: "timer or sleep inside domain/ (pure functions only)",
        patterns: &["Instant::now", "tokio::time", "thread::sleep"],
        allowed_in: &[],
        only_in: &["domain/"],
        exceptions: &[],
    },
];

#[test]
fn budget_service_layers_stay_apart() {
    let src = workspace_root().join("services/budget-service/src");
    let mut found = Vec::new();
    for file in files_under(&src, &["rs"]) {
        let relative = relative(&src, &file);
        let text = fs::read_to_string(&file).expect("source file is UTF-8");
        found.extend(violations(&relative, &text));
    }
    assert!(
        found.is_empty(),
        "budget-service's layering rules are broken (see ARCHITECTURE.md, Invariants):\n{}",
        found.join("\n")
    );
}

#[test]
fn files_stay_readable_in_one_sitting() {
    let root = workspace_root();
    let mut found = Vec::new();
    for file in tracked_sources(&root) {
        let relative = relative(&root, &file);
        let lines = fs::read_to_string(&file).map_or(0, |text| text.lines().count());
        if let Some(problem) = size_problem(&relative, lines) {
            found.push(problem);
        }
    }
    for (path, _) in LARGE_FILES {
        let lines = fs::read_to_string(root.join(path)).map_or(0, |text| text.lines().count());
        if lines <= limit_for(path) {
            found.push(format!(
                "{path}: {lines} lines, back under the limit: remove it from LARGE_FILES"
            ));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The checker itself catches what it is meant to catch, so a green run means something.
#[test]
fn the_checker_finds_each_kind_of_violation() {
    let cases = [
        (
            "service/status.rs",
            "let rows = sqlx::query(\"SELECT 1\");",
            "SQL",
        ),
        (
            "service/config.rs",
            "fn f() -> tonic::Status { todo!() }",
            "tonic",
        ),
        ("domain/budget.rs", "use budget_proto::v1::Tenant;", "tonic"),
        ("evaluator.rs", "let c = reqwest::Client::new();", "HTTP"),
        ("service/lifecycle.rs", "let p = \"/key/generate\";", "HTTP"),
        ("cli.rs", "let v = std::env::var(\"X\");", "environment"),
        ("litellm/wire.rs", "let now = Utc::now();", "wall-clock"),
        (
            "domain/forecast.rs",
            "let t = std::time::Instant::now();",
            "timer",
        ),
    ];
    for (path, line, kind) in cases {
        let found = violations(path, line);
        assert!(
            found.iter().any(|f| f.contains(kind)),
            "{path}: `{line}` should be reported as {kind}, got {found:?}"
        );
    }
    // Where the pattern belongs, in comments, in test modules and in listed exceptions: fine.
    let fine = [
        ("store/mod.rs", "sqlx::query(\"SELECT 1\")"),
        ("grpc/status.rs", "use tonic::Status;"),
        ("startup.rs", "tonic::transport::Server::builder()"),
        ("litellm/mod.rs", "reqwest::Client::new()"),
        ("config/mod.rs", "std::env::var(\"X\")"),
        (
            "service/status.rs",
            "// Utc::now is read by the service, not the domain",
        ),
        (
            "service/auth.rs",
            "use budget_proto::throttle::FailureThrottle;",
        ),
        (
            "domain/budget.rs",
            "fn f() {}\n#[cfg(test)]\nmod tests { fn g() { Utc::now(); } }",
        ),
    ];
    for (path, text) in fine {
        assert_eq!(
            violations(path, text),
            Vec::<String>::new(),
            "{path}: `{text}`"
        );
    }
    assert!(size_problem("services/x/src/big.rs", SOURCE_LINES + 1).is_some());
    assert!(size_problem("services/x/src/big.rs", SOURCE_LINES).is_none());
    assert!(size_problem("tests/tests/big.rs", TEST_LINES).is_none());
    assert!(size_problem("tests/tests/big.rs", TEST_LINES + 1).is_some());
    assert!(size_problem("tests/tests/litellm_differential.rs", 5_000).is_none());
}

/// The rule violations in one budget-service source file (path relative to its `src/`).
fn violations(path: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for rule in RULES {
        let starts = |prefixes: &[&str]| prefixes.iter().any(|p| path.starts_with(p));
        if starts(rule.allowed_in) || (!rule.only_in.is_empty() && !starts(rule.only_in)) {
            continue;
        }
        for (number, line) in production_lines(text) {
            let hit = rule.patterns.iter().find(|p| line.contains(*p));
            let excepted = rule.exceptions.iter().any(|e| line.contains(e));
            if let (Some(pattern), false) = (hit, excepted) {
                found.push(format!(
                    "{path}:{number}: {} (`{pattern}`): {}",
                    rule.what,
                    line.trim()
                ));
            }
        }
    }
    found
}

/// Numbered lines of production code: comments and the `#[cfg(test)]` module are left out.
fn production_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(index, line)| (index + 1, line))
}

fn limit_for(path: &str) -> usize {
    if path.split('/').any(|part| part == "src") {
        SOURCE_LINES
    } else {
        TEST_LINES
    }
}

fn size_problem(path: &str, lines: usize) -> Option<String> {
    let limit = limit_for(path);
    let listed = LARGE_FILES.iter().any(|(large, _)| *large == path);
    (lines > limit && !listed).then(|| {
        format!(
            "{path}: {lines} lines, over the {limit}-line limit: split it, or list it in LARGE_FILES with a reason"
        )
    })
}

/// Hand-written Rust, TypeScript and browser-test sources (generated code and bundles excluded).
fn tracked_sources(root: &Path) -> Vec<PathBuf> {
    ["services", "gateway", "proto", "tests"]
        .iter()
        .flat_map(|dir| files_under(&root.join(dir), &["rs", "ts", "mjs"]))
        .filter(|file| {
            let path = relative(root, file);
            !["/gen/", "/dist/", "node_modules/", "/target/"]
                .iter()
                .any(|skip| path.contains(skip))
        })
        .collect()
}

fn files_under(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == "node_modules" || name == "target" {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn relative(base: &Path, file: &Path) -> String {
    file.strip_prefix(base)
        .unwrap_or(file)
        .to_string_lossy()
        .replace('\\', "/")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}
