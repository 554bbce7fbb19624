//! The scale benchmark's code path (`scale-bench`) at smoke size: it must produce numbers,
//! and its quiet pass (nothing changed) must cost two PostgreSQL statements per page of
//! tenants (the page's SELECT and the UPDATE marking its statuses checked) plus the pass's
//! two (expired increases, the empty page that ends it), as the pass itself counts them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use budget_e2e::scale::{ScaleOptions, run};
use budget_service::service::EVAL_PAGE;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scale_bench_smoke_run_produces_numbers() {
    let options = ScaleOptions {
        tenants: 200,
        concurrency: 16,
        passes: 2,
        ..ScaleOptions::default()
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
    let pages = 200_usize.div_ceil(usize::try_from(EVAL_PAGE).unwrap());
    let quiet = &report.passes[1];
    assert_eq!(quiet.keys_changed, 0, "{rendered}");
    assert_eq!(quiet.unchanged, 200, "{rendered}");
    assert_eq!(quiet.pages, pages, "{rendered}");
    assert!(
        quiet.db_statements <= 2 * pages as u64 + 2,
        "quiet pass: {} statements over {pages} pages: {rendered}",
        quiet.db_statements
    );
    assert!(!report.list_by_id_first_page.is_zero());
    assert!(!report.list_by_percent_first_page.is_zero());
    assert_eq!(report.cache_fill_failed, 0, "{rendered}");
    assert!(report.rss_all_cached_kib > 0);
    assert!(rendered.contains("evaluation pass 1"));
}
