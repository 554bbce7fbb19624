//! The simulator's clock: the wall clock plus an offset that tests can move forward (or set).

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, DurationRound, Utc};

/// Wall-clock time shifted by an adjustable offset, in microseconds.
///
/// Readings are truncated to whole microseconds, so every timestamp the sim prints has at most
/// six fractional digits (like Python's `datetime.isoformat()`).
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_us: AtomicI64,
}

impl Clock {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let offset = Duration::microseconds(self.offset_us.load(Ordering::SeqCst));
        let now = Utc::now() + offset;
        now.duration_trunc(Duration::microseconds(1)).unwrap_or(now)
    }

    /// Moves the clock by `by` (negative values move it back).
    pub(crate) fn advance(&self, by: Duration) {
        let micros = by.num_microseconds().unwrap_or(i64::MAX);
        self.offset_us.fetch_add(micros, Ordering::SeqCst);
    }

    /// Makes `now()` read `at` at this instant; the clock keeps running from there.
    pub(crate) fn set(&self, at: DateTime<Utc>) {
        let micros = (at - Utc::now()).num_microseconds().unwrap_or(0);
        self.offset_us.store(micros, Ordering::SeqCst);
    }
}
