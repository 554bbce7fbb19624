//! The throttle on failed authentications that budget-service (bearer tokens) and the gateway
//! (its sign-in form) share: each peer address has a bucket of `burst` failures that refills
//! at `per_minute`; a peer with an empty bucket is refused until it refills, before any work.
//!
//! An attempt takes one failure from its peer's bucket before it is checked and gives it back
//! when it succeeds, so only failures count and a flood of concurrent attempts cannot get past
//! the limit while the first ones are still being checked. An attempt dropped unanswered (the
//! caller left) stays counted.
//!
//! Memory is bounded: at most `capacity` peers are remembered (moka evicts the rest), and a
//! peer idle long enough to have refilled is forgotten. An IPv6 peer is its /64, the block one
//! host is usually given, so one host cannot get a fresh bucket per address.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::future::Cache;

/// How many peers a throttle remembers unless told otherwise: a few MiB at most.
pub const DEFAULT_PEER_CAPACITY: u64 = 100_000;

/// Failed authentications per peer address.
#[derive(Clone)]
pub struct FailureThrottle {
    buckets: Cache<IpAddr, Arc<Mutex<Bucket>>>,
    burst: f64,
    per_sec: f64,
}

impl std::fmt::Debug for FailureThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureThrottle")
            .field("burst", &self.burst)
            .field("per_sec", &self.per_sec)
            .field("peers", &self.buckets.entry_count())
            .finish()
    }
}

#[derive(Debug)]
struct Bucket {
    failures_left: f64,
    at: Instant,
}

/// One attempt's reserved failure: call [`Attempt::succeeded`] to give it back.
#[must_use = "an attempt counts as a failure unless it is marked as succeeded"]
pub struct Attempt {
    bucket: Arc<Mutex<Bucket>>,
    burst: f64,
}

impl Attempt {
    /// The attempt authenticated (or could not be checked for reasons not the caller's): it
    /// does not count.
    pub fn succeeded(self) {
        if let Ok(mut bucket) = self.bucket.lock() {
            bucket.failures_left = (bucket.failures_left + 1.0).min(self.burst);
        }
    }
}

impl FailureThrottle {
    /// `burst` failures at once (at least 1), `per_minute` more each minute (at least 1),
    /// remembering at most `capacity` peers.
    pub fn new(burst: u32, per_minute: u32, capacity: u64) -> Self {
        let burst = f64::from(burst.max(1));
        let per_sec = f64::from(per_minute.max(1)) / 60.0;
        // After this long a bucket is full again: the same as a peer never seen.
        let refill = Duration::from_secs_f64(burst / per_sec).max(Duration::from_secs(1));
        Self {
            buckets: Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(refill)
                .build(),
            burst,
            per_sec,
        }
    }

    /// Takes one failure from `peer`'s bucket for an attempt about to be checked, or says how
    /// long the peer must wait.
    pub async fn begin(&self, peer: IpAddr) -> Result<Attempt, Duration> {
        let burst = self.burst;
        let bucket = self
            .buckets
            .get_with(peer_key(peer), async move {
                Arc::new(Mutex::new(Bucket {
                    failures_left: burst,
                    at: Instant::now(),
                }))
            })
            .await;
        let mut state = match bucket.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        let refill = now.duration_since(state.at).as_secs_f64() * self.per_sec;
        state.failures_left = (state.failures_left + refill).min(self.burst);
        state.at = now;
        if state.failures_left >= 1.0 {
            state.failures_left -= 1.0;
            drop(state);
            Ok(Attempt {
                bucket,
                burst: self.burst,
            })
        } else {
            let wait = (1.0 - state.failures_left) / self.per_sec;
            Err(Duration::from_secs_f64(wait))
        }
    }

    /// How many peers are remembered now (after pending evictions).
    pub async fn peers(&self) -> u64 {
        self.buckets.run_pending_tasks().await;
        self.buckets.entry_count()
    }
}

/// The address a peer is known by: IPv4 as is (also when IPv4-mapped), IPv6 by its /64.
pub fn peer_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// Whole seconds to wait, rounded up and at least 1: the `Retry-After` value for `wait`.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs();
    if wait.subsec_nanos() > 0 || secs == 0 {
        secs.saturating_add(1)
    } else {
        secs
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn only_failures_count_and_an_empty_bucket_waits() {
        let throttle = FailureThrottle::new(3, 60, 100);
        let peer = ip("203.0.113.7");
        for _ in 0..100 {
            throttle.begin(peer).await.unwrap().succeeded();
        }
        for _ in 0..3 {
            let _failed = throttle.begin(peer).await.unwrap();
        }
        let wait = throttle.begin(peer).await.err().unwrap();
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(retry_after_secs(wait), 1);
        // Another peer has its own bucket.
        throttle.begin(ip("203.0.113.8")).await.unwrap().succeeded();
    }

    #[tokio::test]
    async fn attempts_still_being_checked_count_against_the_burst() {
        let throttle = FailureThrottle::new(5, 1, 100);
        let peer = ip("198.51.100.1");
        let mut in_flight = Vec::new();
        for _ in 0..50 {
            in_flight.push(throttle.begin(peer).await);
        }
        assert_eq!(in_flight.iter().filter(|a| a.is_ok()).count(), 5);
    }

    #[tokio::test]
    async fn ipv6_hosts_share_their_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(peer_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(peer_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        let throttle = FailureThrottle::new(1, 1, 100);
        let _failed = throttle.begin(ip("2001:db8:1:2::1")).await.unwrap();
        assert!(throttle.begin(ip("2001:db8:1:2::ffff")).await.is_err());
        assert!(throttle.begin(ip("2001:db8:1:3::1")).await.is_ok());
    }

    #[tokio::test]
    async fn a_flood_from_many_addresses_is_remembered_up_to_the_capacity() {
        let capacity = 1_000;
        let throttle = FailureThrottle::new(2, 1, capacity);
        for n in 0..20_000u32 {
            let _failed = throttle.begin(IpAddr::from(n.to_be_bytes())).await;
        }
        let peers = throttle.peers().await;
        assert!(peers <= capacity, "{peers} peers remembered");
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
