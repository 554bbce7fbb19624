//! The benchmark harness at smoke size, so it cannot rot: every figure is measured and lands in
//! the report with sane values. Targets are not asserted (speed is shown by the full run's
//! numbers, not by timed assertions). The dashboard figure is left to the browser test
//! tests/browser/bench-smoke.test.mjs, which runs the same script.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_figure_is_measured_and_reported() {
    let sizes = budget_bench::Sizes::smoke();
    let report = budget_bench::run(&sizes).await.expect("the benchmarks run");
    let figure = |n: u32| {
        report
            .figure(n)
            .unwrap_or_else(|| panic!("figure {n} is in the report"))
    };
    let value = |n: u32, name: &str| {
        figure(n)
            .value(name)
            .unwrap_or_else(|| panic!("figure {n} has {name}"))
    };

    // 1: both sides answered, without errors, and the ratios are real numbers.
    assert!(value(1, "ours_calls_per_sec") > 0.0);
    assert!(value(1, "echo_calls_per_sec") > 0.0);
    assert_eq!(value(1, "errors"), 0.0);
    assert!(value(1, "throughput_ratio").is_finite() && value(1, "p99_ratio") > 0.0);
    // 2: every call answered; the storm made at least one LiteLLM call per tenant.
    assert_eq!(value(2, "failed"), 0.0);
    assert!(value(2, "key_info_calls") >= sizes.storm_tenants as f64);
    // 3: pages came back with rows, from both the RPC and the raw query.
    assert!(value(3, "rows_seen") > 0.0);
    assert!(value(3, "rpc_p50_ms") > 0.0 && value(3, "raw_p50_ms") > 0.0);
    // 4: gRPC-web and direct gRPC both answered.
    assert!(value(4, "web_calls_per_sec") > 0.0 && value(4, "direct_calls_per_sec") > 0.0);
    assert_eq!(value(4, "errors"), 0.0);
    // ... and where the CPU went is measured per component, for the explanation of a miss.
    for component in ["gateway", "web_load", "web_service", "direct_service"] {
        let us = value(4, &format!("{component}_cpu_us_per_call"));
        assert!(us > 0.0 && us.is_finite(), "{component}: {us} us per call");
    }
    // 5: updates went through and LiteLLM was called for them.
    assert!(value(5, "calls_per_sec") > 0.0);
    assert_eq!(value(5, "errors"), 0.0);
    let share = value(5, "litellm_share");
    assert!(share > 0.0 && share < 1.0, "LiteLLM share {share}");
    // 6: left to the browser smoke test at this size.
    assert_eq!(value(6, "skipped"), 1.0);
    // 7: every status cached, and the service's memory measured.
    assert_eq!(value(7, "cache_fill_failed"), 0.0);
    assert_eq!(value(7, "tenants"), sizes.memory_tenants as f64);

    let text = report.render();
    for n in 1..=7 {
        assert!(
            text.contains(&format!("\n## {n}. ")),
            "section {n} in:\n{text}"
        );
    }
    assert!(text.contains("## Machine") && text.contains("rustc"));
    // A missed target always says why, with what was measured.
    for figure in &report.figures {
        if figure.met == Some(false) {
            assert!(
                figure.explanation.starts_with("Missed:"),
                "figure {} missed without an explanation",
                figure.number
            );
        }
    }
}
