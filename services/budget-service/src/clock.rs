//! Where "now" comes from. Built once at startup and handed to the use cases and the LiteLLM
//! client, so period, expiry and forecast logic can run at a chosen date in tests and the demo.

use chrono::{DateTime, Utc};

/// Where "now" comes from, so period and forecast logic can be tested.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
