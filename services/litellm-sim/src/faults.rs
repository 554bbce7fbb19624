//! Injected faults: the rules, which call each one hits, and the count of faults injected per
//! path. The middleware that applies them in front of every LiteLLM route (`/sim/*` is neither
//! counted nor faulted) is `middleware::fault_layer`.
//!
//! A fault that answers by itself (500, 404, malformed JSON, hang, connection reset) does not
//! run the real handler, so it has no side effect; `Slow` and `TruncatedJson` run it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// What an injected fault does to a matching call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 500 with LiteLLM's error envelope.
    Status500,
    /// Never answers; the client gives up (its timeout) or the server shuts down.
    Hang,
    /// Waits, then runs the call and answers; the call completes even if the client gave up
    /// meanwhile (as LiteLLM does), so a change answered after the timeout is still applied.
    Slow(Duration),
    /// 200 with a `Content-Type: application/json` body that is not JSON.
    MalformedJson,
    /// The real answer's status and headers, with its JSON body cut in half (a complete HTTP
    /// message whose JSON ends early).
    TruncatedJson,
    /// Closes the TCP connection with a reset (RST) without answering.
    ConnectionReset,
    /// 404 `not_found_error` "Key not found in database", as `/key/info` answers an unknown key.
    NotFound,
}

/// A fault on calls whose path starts with `path_prefix`: every matching call, or with
/// [`FaultRule::rate`] a seeded pseudo-random share of them; with `times`, only the next that
/// many faults. Rules are tried in injection order and the first one that faults the call
/// applies: a rate rule that lets a call through leaves it to the rules after it.
///
/// A rate rule is deterministic: its n-th matching call is faulted or not as a hash of
/// (`seed`, n) decides, so the same calls in the same order get the same faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub path_prefix: String,
    pub fault: Fault,
    pub times: Option<u32>,
    /// The share of matching calls faulted, in parts per million (`None`: every one).
    pub rate_ppm: Option<u32>,
    /// Seed of a rate rule's draws.
    pub seed: u64,
    /// Matching calls this rule has drawn for.
    seen: u64,
}

impl FaultRule {
    /// A rule that applies to every matching call until the faults are cleared.
    pub fn new(path_prefix: impl Into<String>, fault: Fault) -> Self {
        Self {
            path_prefix: path_prefix.into(),
            fault,
            times: None,
            rate_ppm: None,
            seed: 0,
            seen: 0,
        }
    }

    /// Limits the rule to the next `n` faults.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Faults only a `share` (0.0 to 1.0, kept to a millionth) of the matching calls, drawn
    /// pseudo-randomly from the rule's seed (0 unless [`FaultRule::seed`] sets one).
    pub fn rate(mut self, share: f64) -> Self {
        let share = if share.is_nan() {
            0.0
        } else {
            share.clamp(0.0, 1.0)
        };
        self.rate_ppm = Some((share * 1_000_000.0).round() as u32);
        self
    }

    /// The seed of a rate rule's draws: two rules with different seeds fault different calls.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Whether this rule faults the call it matched (counting the draw).
    fn draw(&mut self) -> bool {
        let Some(ppm) = self.rate_ppm else {
            return true;
        };
        self.seen += 1;
        splitmix64(self.seed ^ self.seen.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 1_000_000
            < u64::from(ppm)
    }
}

/// SplitMix64's output function: a well-mixed 64-bit hash, enough for fault draws.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The rules in force and how many faults were injected per path (so a load test can tell
/// injected failures from real ones).
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Vec<FaultRule>,
    injected: BTreeMap<String, u64>,
}

impl Faults {
    pub(crate) fn add(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    pub(crate) fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    /// Removes every rule (the injected counts stay).
    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    pub(crate) fn injected(&self) -> &BTreeMap<String, u64> {
        &self.injected
    }

    pub(crate) fn reset_injected(&mut self) {
        self.injected.clear();
    }

    /// The fault for a call to `path`, if a rule faults it: uses up one of that rule's `times`
    /// and counts the fault.
    pub(crate) fn take(&mut self, path: &str) -> Option<Fault> {
        let index = self
            .rules
            .iter_mut()
            .position(|rule| path.starts_with(&rule.path_prefix) && rule.draw())?;
        let rule = &mut self.rules[index];
        let fault = rule.fault.clone();
        match rule.times {
            Some(n) if n <= 1 => {
                self.rules.remove(index);
            }
            Some(n) => rule.times = Some(n - 1),
            None => {}
        }
        *self.injected.entry(path.to_string()).or_default() += 1;
        Some(fault)
    }
}

/// Put into each request's extensions by the server's connection loop: asks that loop to reset
/// the connection the request came on.
#[derive(Debug, Clone)]
pub(crate) struct ConnReset(pub Arc<Notify>);

#[cfg(test)]
mod tests {
    use super::*;

    fn faulted(faults: &mut Faults, calls: usize) -> usize {
        (0..calls)
            .filter(|_| faults.take("/key/info").is_some())
            .count()
    }

    #[test]
    fn a_rate_rule_faults_about_its_share_the_same_calls_every_time() {
        let run = || {
            let mut faults = Faults::default();
            faults.add(FaultRule::new("/key", Fault::Status500).rate(0.05).seed(7));
            (0..10_000)
                .map(|_| faults.take("/key/info").is_some())
                .collect::<Vec<bool>>()
        };
        let first = run();
        assert_eq!(first, run(), "same seed, same calls faulted");
        let count = first.iter().filter(|f| **f).count();
        assert!((400..=600).contains(&count), "{count} of 10000 at 5 %");
    }

    #[test]
    fn a_rate_rule_that_lets_a_call_through_leaves_it_to_later_rules() {
        let mut faults = Faults::default();
        faults.add(FaultRule::new("/", Fault::Status500).rate(0.5).seed(1));
        faults.add(FaultRule::new("/", Fault::NotFound));
        let taken: Vec<Fault> = (0..1000).filter_map(|_| faults.take("/key/info")).collect();
        assert_eq!(taken.len(), 1000, "the catch-all rule takes the rest");
        let first = taken.iter().filter(|f| **f == Fault::Status500).count();
        assert!((400..=600).contains(&first), "{first}");
        assert_eq!(faults.injected().get("/key/info"), Some(&1000));
    }

    #[test]
    fn injected_faults_are_counted_per_path_and_times_limits_them() {
        let mut faults = Faults::default();
        faults.add(FaultRule::new("/key/info", Fault::Status500).times(3));
        assert_eq!(faulted(&mut faults, 10), 3);
        assert!(faults.rules().is_empty());
        assert!(faults.take("/key/list").is_none());
        assert_eq!(faults.injected().get("/key/info"), Some(&3));
        assert_eq!(faults.injected().get("/key/list"), None);
        faults.add(FaultRule::new("/key/info", Fault::Status500).rate(0.0));
        assert_eq!(faulted(&mut faults, 100), 0, "rate 0 faults nothing");
        faults.reset_injected();
        assert!(faults.injected().is_empty());
    }
}
