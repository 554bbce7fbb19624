//! budget_reset_at arithmetic, checked against the table in the contract (section 3), which was
//! verified by running LiteLLM 1.108.7's own functions with now = 2026-11-28T12:34:56Z.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use litellm_sim::periods::{self, Period, Unit};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

const NOW: &str = "2026-11-28T12:34:56Z";

#[test]
fn contract_table() {
    let now = at(NOW);
    let table = [
        ("30d", "2026-12-01T00:00:00Z"),
        ("1d", "2026-11-29T00:00:00Z"),
        ("7d", "2026-11-30T00:00:00Z"),
        ("14d", "2026-12-12T00:00:00Z"),
        ("1mo", "2026-12-01T00:00:00Z"),
        ("24h", "2026-11-29T00:00:00Z"),
        ("1h", "2026-11-28T13:00:00Z"),
        ("30m", "2026-11-28T13:00:00Z"),
        ("30s", "2026-11-28T12:35:00Z"),
        ("45d", "2027-01-12T00:00:00Z"),
        ("monthly", "2026-12-01T00:00:00Z"),
        ("weekly", "2026-11-30T00:00:00Z"),
    ];
    for (duration, expected) in table {
        assert_eq!(
            periods::next_reset(duration, now),
            at(expected),
            "budget_duration {duration}"
        );
    }
}

#[test]
fn aliases_and_other_units() {
    let now = at(NOW);
    assert_eq!(
        periods::next_reset("daily", now),
        at("2026-11-29T00:00:00Z")
    );
    assert_eq!(
        periods::next_reset("hourly", now),
        at("2026-11-28T13:00:00Z")
    );
    assert_eq!(periods::next_reset("1w", now), at("2026-11-30T00:00:00Z"));
    assert_eq!(periods::next_reset("2w", now), at("2026-12-12T00:00:00Z"));
    assert_eq!(periods::next_reset("60d", now), at("2027-01-27T00:00:00Z"));
    assert_eq!(periods::next_reset("5h", now), at("2026-11-28T15:00:00Z"));
    assert_eq!(periods::next_reset("15m", now), at("2026-11-28T12:45:00Z"));
    // LiteLLM's overnight wrap: 22:10 + "5h" → the next multiple is 25:00 → 01:00 tomorrow.
    assert_eq!(
        periods::next_reset("5h", at("2026-11-28T22:10:00Z")),
        at("2026-11-29T01:00:00Z")
    );
    // 23:50 + "45m": 50 % 45 = 5, so the next "multiple" is minute 90 → 00:30 tomorrow (LiteLLM's
    // arithmetic, not a multiple of 45 since midnight).
    assert_eq!(
        periods::next_reset("45m", at("2026-11-28T23:50:00Z")),
        at("2026-11-29T00:30:00Z")
    );
    // December rolls over to January; a Monday's weekly reset is the next Monday.
    assert_eq!(
        periods::next_reset("30d", at("2026-12-15T08:00:00Z")),
        at("2027-01-01T00:00:00Z")
    );
    assert_eq!(
        periods::next_reset("7d", at("2026-11-30T00:00:00Z")),
        at("2026-12-07T00:00:00Z")
    );
    // Unparseable values reset at the next midnight, as LiteLLM falls back.
    assert_eq!(periods::next_reset("soon", now), at("2026-11-29T00:00:00Z"));
}

#[test]
fn exactly_on_a_boundary_moves_to_the_next_one() {
    assert_eq!(
        periods::next_reset("1h", at("2026-11-28T13:00:00Z")),
        at("2026-11-28T14:00:00Z")
    );
    assert_eq!(
        periods::next_reset("1d", at("2026-11-29T00:00:00Z")),
        at("2026-11-30T00:00:00Z")
    );
    assert_eq!(
        periods::next_reset("30d", at("2026-12-01T00:00:00Z")),
        at("2027-01-01T00:00:00Z")
    );
}

#[test]
fn parsing_and_validation() {
    let now = at(NOW);
    assert_eq!(
        periods::parse("30d"),
        Some(Period {
            value: 30,
            unit: Unit::Days
        })
    );
    assert_eq!(
        periods::parse("1mo"),
        Some(Period {
            value: 1,
            unit: Unit::Months
        })
    );
    assert_eq!(
        periods::parse("monthly"),
        Some(Period {
            value: 30,
            unit: Unit::Days
        })
    );
    assert_eq!(periods::parse("30"), None);
    assert_eq!(periods::parse("d30"), None);
    for ok in [
        "30d", "1h", "24h", "7d", "1mo", "monthly", "weekly", "daily", "hourly", "90s", "2w",
    ] {
        assert!(
            periods::validate_budget_duration(ok, now).is_ok(),
            "{ok} should be valid"
        );
    }
    for bad in [
        "",
        "abc",
        "0d",
        "0h",
        "30",
        "-1d",
        "2mo",
        "99999999999999999999d",
        // Read exactly as sent (observed on LiteLLM 1.108.7): no trimming, lowercase units.
        " 30d",
        "30D",
        "1y",
    ] {
        let err = periods::validate_budget_duration(bad, now).unwrap_err();
        assert_eq!(
            err,
            format!(
                "Invalid budget_duration '{bad}'. Use a format like '1h', '24h', '7d', or '30d'."
            )
        );
    }
}

#[test]
fn duration_in_seconds_matches_litellm() {
    let now = at(NOW);
    let secs = |d: &str| periods::duration_in_seconds(periods::parse(d).unwrap(), now).unwrap();
    assert_eq!(secs("30d"), 2_592_000);
    assert_eq!(secs("1h"), 3600);
    assert_eq!(secs("2w"), 1_209_600);
    // One calendar month from Nov 28 is Dec 28: 30 days.
    assert_eq!(secs("1mo"), 30 * 86_400);
}

/// Only the word aliases are matched trimmed and in any case (`_normalize_duration`).
#[test]
fn word_aliases_ignore_case_and_spaces() {
    let now = at(NOW);
    for alias in ["Monthly", " monthly ", "MONTHLY"] {
        assert!(
            periods::validate_budget_duration(alias, now).is_ok(),
            "{alias}"
        );
        assert_eq!(periods::next_reset(alias, now), at("2026-12-01T00:00:00Z"));
    }
}

/// `get_budget_window_start`: the window that ends at `budget_reset_at`.
#[test]
fn budget_window_starts() {
    let start = |d: &str, end: &str| periods::window_start(d, at(end)).unwrap();
    // 30d and 1mo windows are calendar months, clamped to the month's last day.
    assert_eq!(
        start("30d", "2027-01-01T00:00:00Z"),
        at("2026-12-01T00:00:00Z")
    );
    assert_eq!(
        start("monthly", "2026-03-31T00:00:00Z"),
        at("2026-02-28T00:00:00Z")
    );
    assert_eq!(
        start("1mo", "2026-01-01T00:00:00Z"),
        at("2025-12-01T00:00:00Z")
    );
    // Other durations count back their length.
    assert_eq!(
        start("60d", "2027-01-27T00:00:00Z"),
        at("2026-11-28T00:00:00Z")
    );
    assert_eq!(
        start("1w", "2026-11-30T00:00:00Z"),
        at("2026-11-23T00:00:00Z")
    );
    assert_eq!(
        start("1h", "2026-11-28T13:00:00Z"),
        at("2026-11-28T12:00:00Z")
    );
    // An unrecognised duration resets daily.
    assert_eq!(
        start("abc", "2026-11-29T00:00:00Z"),
        at("2026-11-28T00:00:00Z")
    );
}
