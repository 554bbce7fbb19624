//! The shared simulator every handler and middleware holds: the in-memory database behind one
//! lock, the clock, the master key and the webhook client. It sits above `store`, `faults` and
//! `webhooks`, which never name it.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::faults::Fault;
use crate::store::State;
use crate::webhooks::{self, Alerting, Pending};

/// The shared simulator: state, clock and configuration.
#[derive(Debug)]
pub(crate) struct Sim {
    state: Mutex<State>,
    pub clock: Clock,
    pub master_key: String,
    /// The HTTP client for budget webhooks, built on first use.
    webhook_client: OnceLock<Option<reqwest::Client>>,
}

impl Sim {
    pub(crate) fn new(master_key: String, webhook_url: Option<String>) -> Self {
        let state = State {
            alerting: Alerting::new(webhook_url),
            ..State::default()
        };
        Self {
            state: Mutex::new(state),
            clock: Clock::default(),
            master_key,
            webhook_client: OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the state with the reset job applied as of now. Never hold this across an
    /// `.await`: `f` is synchronous.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State, DateTime<Utc>) -> R) -> R {
        let now = self.clock.now();
        let mut state = self.lock();
        state.apply_resets(now);
        f(&mut state, now)
    }

    /// Counts one call to `path` (for [`crate::SimControl::calls`]).
    pub(crate) fn count_call(&self, path: &str) {
        *self.lock().calls.entry(path.to_string()).or_default() += 1;
    }

    /// The fault for a call to `path`, if a rule faults it (see [`Faults::take`]).
    pub(crate) fn take_fault(&self, path: &str) -> Option<Fault> {
        self.lock().faults.take(path)
    }

    /// Sends what a request decided, in a spawned task, one POST after the other, and records
    /// each attempt.
    pub(crate) fn dispatch_webhooks(self: &Arc<Self>, outbox: Vec<Pending>) {
        if outbox.is_empty() {
            return;
        }
        let sim = self.clone();
        tokio::spawn(async move {
            for pending in outbox {
                let record = webhooks::send(sim.webhook_client(), &pending).await;
                sim.with_state(|db, _| db.alerting.finish(&pending, record));
            }
        });
    }

    /// The HTTP client for budget webhooks, built on first use.
    fn webhook_client(&self) -> Option<&reqwest::Client> {
        self.webhook_client.get_or_init(webhooks::client).as_ref()
    }
}
