//! The soak's code path (`soak`) at smoke size: a mixed load at 50 RPC/s for 18 s, direct and
//! through the gateway, with LiteLLM faults on 5 % of calls. Faults must be injected and reach
//! callers only as UNAVAILABLE; nothing else may fail; PostgreSQL connections stay within the
//! pool. RSS is sampled but not judged at this size (the full run judges it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use budget_e2e::soak::{Class, SoakOptions, Via, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_soak_has_only_injected_failures() {
    let options = SoakOptions {
        duration: Duration::from_secs(18),
        rps: 50.0,
        tenants: 20,
        warmup: Duration::from_secs(6),
        sample_every: Duration::from_secs(2),
        ..SoakOptions::default()
    };
    let report = run(&options).await.expect("the soak runs");
    let rendered = report.markdown();
    println!("{rendered}");

    assert_eq!(report.count(Class::Unexpected), 0, "{rendered}");
    assert_eq!(report.not_started, 0, "{rendered}");
    assert!(report.injected_total() > 0, "no fault injected: {rendered}");
    assert!(
        report.failed_litellm_uses <= report.injected_total(),
        "{rendered}"
    );
    assert!(
        report.unavailable("UpdateBudgetConfig")
            <= report.injected.get("/key/update").copied().unwrap_or(0),
        "a failed write is one faulted /key/update: {rendered}"
    );
    assert!(report.count(Class::Ok) > 0, "{rendered}");
    for via in [Via::Grpc, Via::Gateway] {
        assert!(
            report.calls_by_via.get(&via).copied().unwrap_or(0) > 100,
            "{via:?}: {rendered}"
        );
    }
    let (min, max) = report.pg_connections_min_max();
    assert!(min > 0, "connections were counted: {rendered}");
    assert!(max <= report.pg_connection_bound(), "{rendered}");
    assert!(report.samples.len() >= 5, "{rendered}");
    assert!(report.samples.iter().all(|s| s.rss_kib > 0), "{rendered}");
    assert!(
        report.passes.get("completed").copied().unwrap_or(0) >= 1,
        "the background evaluator ran: {rendered}"
    );
}
