//! Running several replicas on one PostgreSQL.
//!
//! - [`run_cache_listener`]: each replica listens on `budget_cache` and drops the status of
//!   each tenant announced there (changes are announced in their own transaction, so only
//!   committed ones arrive). A lost connection may have missed notifications, so the whole
//!   cache is dropped once it is re-established.
//! - [`Leadership`]: the evaluator runs on one replica at a time, the one holding a session
//!   advisory lock on a dedicated connection; when that replica stops or its connection
//!   dies the lock is released and another replica takes it at its next tick.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::service::Budgets;
use crate::store::{LockSession, StatusChange, StatusChanges, Store};

/// The advisory lock naming the evaluator's leader.
pub(crate) const EVALUATOR_LOCK: &str = "budget-service:evaluator";

/// Waits between attempts to (re)connect the listener.
const RECONNECT_MIN: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// Listens for status changes until `stop` turns true.
pub(crate) async fn run_cache_listener(
    budgets: Arc<Budgets>,
    store: Store,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = RECONNECT_MIN;
    let mut first = true;
    loop {
        let connected = tokio::select! {
            connected = store.status_changes() => connected,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        let mut changes = match connected {
            Ok(changes) => changes,
            Err(error) => {
                tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64,
                    "status-change listener could not connect; cached statuses may be stale");
                budgets.forget_all_statuses();
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|stopped| *stopped) => return,
                }
                backoff = (backoff * 2).min(RECONNECT_MAX);
                continue;
            }
        };
        if !first {
            // Anything announced while we were away was missed.
            budgets.forget_all_statuses();
            tracing::info!("status-change listener reconnected; status cache dropped");
        }
        first = false;
        backoff = RECONNECT_MIN;
        tokio::select! {
            () = listen(&budgets, &mut changes) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// Applies notifications until the listener fails.
async fn listen(budgets: &Budgets, changes: &mut StatusChanges) {
    loop {
        match changes.next().await {
            Ok(StatusChange::Tenant(tenant_id)) => {
                tracing::debug!(tenant_id = %tenant_id, "status change announced; cache entry dropped");
                budgets.forget_status(&tenant_id).await;
            }
            Ok(StatusChange::Reconnected) => {
                budgets.forget_all_statuses();
                tracing::info!("status-change listener reconnected; status cache dropped");
            }
            Err(error) => {
                budgets.forget_all_statuses();
                tracing::warn!(error = %error, "status-change listener lost its connection; status cache dropped");
                return;
            }
        }
    }
}

/// The evaluator's claim to run passes.
pub(crate) struct Leadership {
    budgets: Arc<Budgets>,
    store: Store,
    /// The lock connection, kept between attempts; holds the lock while `leading`.
    session: Option<LockSession>,
    leading: bool,
}

impl Leadership {
    pub(crate) fn new(budgets: Arc<Budgets>, store: Store) -> Leadership {
        Leadership {
            budgets,
            store,
            session: None,
            leading: false,
        }
    }

    /// True when this replica leads: it still holds the lock, or has just taken it.
    pub(crate) async fn lead(&mut self) -> bool {
        if self.leading {
            if let Some(session) = self.session.as_mut()
                && session.alive().await
            {
                return true;
            }
            tracing::warn!("evaluator leadership lost (lock connection gone)");
            self.step_down();
        }
        let session = match self.session.as_mut() {
            Some(session) => session,
            None => match self.store.lock_session().await {
                Ok(session) => self.session.insert(session),
                Err(error) => {
                    tracing::warn!(error = %error, "could not connect to try the evaluator lock");
                    return false;
                }
            },
        };
        match session.try_lock(EVALUATOR_LOCK).await {
            Ok(true) => {
                tracing::info!("this replica now leads the evaluator");
                self.leading = true;
                self.budgets.set_leads_evaluation(true);
                true
            }
            Ok(false) => false,
            Err(error) => {
                tracing::warn!(error = %error, "could not try the evaluator lock");
                // The connection may be broken (or hold the lock half-way): start afresh.
                self.step_down();
                false
            }
        }
    }

    fn step_down(&mut self) {
        // Dropping the connection ends the session, and any lock with it.
        self.session = None;
        self.leading = false;
        self.budgets.set_leads_evaluation(false);
    }

    /// Gives the lead up (on shutdown), so another replica takes over at once.
    pub(crate) async fn release(mut self) {
        self.leading = false;
        self.budgets.set_leads_evaluation(false);
        if let Some(session) = self.session.take() {
            session.close().await;
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        if self.leading {
            self.budgets.set_leads_evaluation(false);
        }
    }
}
