//! Test-only panic injection. Named points in the service panic when a test arms them, so
//! tests can prove that a panic is contained: an RPC answers INTERNAL, a tenant's
//! evaluation is skipped, a background task is restarted. Nothing arms a point in
//! production; an unarmed check is one relaxed atomic load.
//!
//! Points: `status:{tenant}` (GetBudgetStatus's fill), `evaluate:{tenant}` (one tenant's
//! evaluation), `evaluator` (the start of each pass), `task:{name}` (each start of a
//! supervised background task: evaluator, deliverer, cache_listener, purger).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
pub struct PanicPoints {
    any: AtomicBool,
    /// Point -> how many more times it panics.
    armed: Mutex<HashMap<String, u32>>,
}

impl PanicPoints {
    /// Makes `point` panic the next `times` times it is reached.
    pub fn arm(&self, point: &str, times: u32) {
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        armed.insert(point.to_owned(), times);
        self.any.store(true, Ordering::Relaxed);
    }

    /// Disarms every point.
    pub fn disarm_all(&self) {
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        armed.clear();
        self.any.store(false, Ordering::Relaxed);
    }

    /// Panics if a test armed `point` (formatted only when some point is armed).
    pub fn check(&self, point: impl std::fmt::Display) {
        if !self.any.load(Ordering::Relaxed) {
            return;
        }
        let point = point.to_string();
        let fire = {
            let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
            match armed.get_mut(&point) {
                Some(left) if *left > 0 => {
                    *left -= 1;
                    true
                }
                _ => false,
            }
        };
        if fire {
            panic!("injected panic at {point}");
        }
    }
}

/// The message a panic carried, for the log (never for a caller).
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_armed_point_panics_the_given_number_of_times() {
        let points = PanicPoints::default();
        points.check("evaluator");
        points.arm("evaluator", 2);
        for _ in 0..2 {
            let caught = std::panic::catch_unwind(|| points.check("evaluator"));
            assert!(caught.is_err());
        }
        points.check("evaluator");
        points.check("other");
    }
}
