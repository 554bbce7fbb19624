//! The scale benchmark's code path (`scale-bench`) at smoke size: it must produce numbers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use budget_e2e::scale::{ScaleOptions, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scale_bench_smoke_run_produces_numbers() {
    let options = ScaleOptions {
        tenants: 200,
        concurrency: 16,
        passes: 2,
        keep_database: false,
    };
    let report = run(&options).await.expect("scale bench runs");
    let rendered = report.render();
    assert_eq!(report.tenants, 200);
    assert_eq!(report.passes.len(), 2);
    for pass in &report.passes {
        assert_eq!(pass.evaluated, 200, "{rendered}");
        assert!(pass.total_calls() > 0, "{rendered}");
        assert!(pass.response_bytes > 0, "{rendered}");
        assert!(!pass.duration.is_zero());
    }
    assert!(!report.list_by_id_first_page.is_zero());
    assert!(!report.list_by_percent_first_page.is_zero());
    assert_eq!(report.cache_fill_failed, 0, "{rendered}");
    assert!(report.rss_all_cached_kib > 0);
    assert!(rendered.contains("evaluation pass 1"));
}
