//! Sorting every answer into OK, expected (a fault was injected in its window, an etag race) and
//! unexpected.

use std::time::{Duration, Instant};

use budget_service::grpc::status::{BUDGET_DATA_UNAVAILABLE, LITELLM_WRITE_FAILED};
use tonic::Code;

use super::load::Recorder;
use super::{Class, SoakReport};

/// Counts UNAVAILABLE answers once per failed LiteLLM use: reads of one tenant that failed
/// within `FILL_WINDOW` of the group's first failure shared one cache fill (a fill lasts at most
/// the LiteLLM timeout, and its waiters all fail when it does); every failed write is its own
/// call.
pub(super) fn failed_litellm_uses(
    unavailable: &[(&'static str, String, Instant, Instant, String)],
) -> u64 {
    let mut reads: Vec<(&str, Instant)> = Vec::new();
    let mut uses = 0u64;
    for (method, tenant, _, finished, _) in unavailable {
        if *method == "UpdateBudgetConfig" {
            uses += 1;
        } else {
            reads.push((tenant.as_str(), *finished));
        }
    }
    reads.sort();
    let mut group: Option<(&str, Instant)> = None;
    for (tenant, finished) in reads {
        let shared = group
            .is_some_and(|(t, first)| t == tenant && finished.duration_since(first) <= FILL_WINDOW);
        if !shared {
            uses += 1;
            group = Some((tenant, finished));
        }
    }
    uses
}

/// How close together failed reads of one tenant must end to count as one shared fill.
pub(super) const FILL_WINDOW: Duration = Duration::from_secs(1);

/// Methods whose UNAVAILABLE can come from LiteLLM.
pub(super) const LITELLM_METHODS: &[&str] =
    &["GetBudgetStatus", "UpdateBudgetConfig", "GetSpendHistory"];

pub(super) fn classify(
    recorder: Recorder,
    timeline: &[(Instant, u64)],
    slack: Duration,
    mut report: SoakReport,
) -> SoakReport {
    // The injected total seen by the watcher at or before `at` (at or after, with `after`).
    let injected_at = |at: Instant, after: bool| -> u64 {
        if after {
            timeline
                .iter()
                .find(|(t, _)| *t >= at)
                .or(timeline.last())
                .map_or(0, |(_, n)| *n)
        } else {
            timeline
                .iter()
                .rev()
                .find(|(t, _)| *t <= at)
                .map_or(0, |(_, n)| *n)
        }
    };
    for (via, mut latencies) in recorder.latencies {
        latencies.sort_unstable();
        let at = |q: f64| {
            let i = ((latencies.len() as f64 - 1.0) * q).round().max(0.0) as usize;
            Duration::from_micros(latencies.get(i).copied().map_or(0, u64::from))
        };
        report.latency.insert(via, (at(0.50), at(0.99), at(1.0)));
        report.calls_by_via.insert(via, latencies.len() as u64);
    }
    for ((method, via, code, message), n) in recorder.codes {
        let code = Code::from(code);
        let class = match code {
            Code::Ok => Class::Ok,
            Code::Aborted if method == "UpdateBudgetConfig" => Class::ExpectedAborted,
            _ => {
                *report
                    .unexpected
                    .entry(format!("{method} {}: {code:?} {message}", via.name()))
                    .or_default() += n;
                Class::Unexpected
            }
        };
        *report
            .results
            .entry((method.to_owned(), class))
            .or_default() += n;
    }
    report.failed_litellm_uses = failed_litellm_uses(&recorder.unavailable);
    for (method, _, started, finished, message) in recorder.unavailable {
        let from_litellm = LITELLM_METHODS.contains(&method)
            && (message == BUDGET_DATA_UNAVAILABLE || message == LITELLM_WRITE_FAILED);
        let earliest = started.checked_sub(slack).unwrap_or(started);
        let fault_in_window =
            injected_at(finished + Duration::from_millis(100), true) > injected_at(earliest, false);
        let class = if from_litellm && fault_in_window {
            Class::ExpectedUnavailable
        } else {
            *report
                .unexpected
                .entry(format!(
                    "{method}: UNAVAILABLE {message} (no injected fault in its window: {})",
                    !fault_in_window
                ))
                .or_default() += 1;
            Class::Unexpected
        };
        *report
            .results
            .entry((method.to_owned(), class))
            .or_default() += 1;
    }
    report
}
