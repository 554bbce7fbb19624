//! Coordination between replicas sharing one database: status-change notifications
//! (LISTEN/NOTIFY on [`STATUS_CHANNEL`]) and session advisory locks held on a dedicated
//! connection (the evaluator's leadership).

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{Connection, PgConnection};

use super::{Store, StoreError, Tx};
use crate::domain::TenantId;

/// The channel on which a committed change of a tenant's status inputs is announced; the
/// payload is the tenant id.
pub(crate) const STATUS_CHANNEL: &str = "budget_cache";

/// `application_name` of each replica's listener connection (visible in pg_stat_activity).
pub const LISTENER_APPLICATION_NAME: &str = "budget-service-cache-listener";

/// `application_name` of the connection holding a leadership lock.
pub const LEADER_APPLICATION_NAME: &str = "budget-service-leader";

/// `application_name` of a lock connection that does not hold its lock (yet).
pub(crate) const CANDIDATE_APPLICATION_NAME: &str = "budget-service-lock-candidate";

/// How long a liveness check of a lock connection may take.
const LOCK_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Announces, inside `tx`, that the tenant's status inputs changed. PostgreSQL delivers
    /// the notification to every listening replica only if and when `tx` commits.
    pub(crate) async fn announce_status_change(
        &self,
        tx: &mut Tx,
        id: &TenantId,
    ) -> Result<(), StoreError> {
        self.count_statements(1);
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(STATUS_CHANNEL)
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Connects a listener on [`STATUS_CHANNEL`] over its own connection (outside the pool,
    /// named [`LISTENER_APPLICATION_NAME`]).
    pub(crate) async fn status_changes(&self) -> Result<StatusChanges, StoreError> {
        let options = self.dedicated_options(LISTENER_APPLICATION_NAME);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(LOCK_CHECK_TIMEOUT)
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(STATUS_CHANNEL).await?;
        Ok(StatusChanges { listener })
    }

    /// Opens a dedicated connection (outside the pool) on which session advisory locks are
    /// tried and held; a lock lives as long as its connection.
    pub(crate) async fn lock_session(&self) -> Result<LockSession, StoreError> {
        let options = self.dedicated_options(CANDIDATE_APPLICATION_NAME);
        Ok(LockSession {
            conn: PgConnection::connect_with(&options).await?,
        })
    }

    fn dedicated_options(&self, application_name: &str) -> PgConnectOptions {
        (*self.pool.connect_options())
            .clone()
            .application_name(application_name)
    }
}

/// Notifications of status changes, from a connection of its own.
pub(crate) struct StatusChanges {
    listener: PgListener,
}

/// What the listener saw.
#[derive(Debug)]
pub(crate) enum StatusChange {
    /// This tenant's status changed (the payload; not validated).
    Tenant(String),
    /// The connection was lost and re-established: notifications may have been missed.
    Reconnected,
}

impl StatusChanges {
    /// Waits for the next notification. An error means the connection is lost and could not
    /// be re-established now; the caller should start over with a new listener.
    pub(crate) async fn next(&mut self) -> Result<StatusChange, StoreError> {
        Ok(match self.listener.try_recv().await? {
            Some(notification) => StatusChange::Tenant(notification.payload().to_owned()),
            None => StatusChange::Reconnected,
        })
    }
}

/// A dedicated connection for session advisory locks.
pub(crate) struct LockSession {
    conn: PgConnection,
}

impl LockSession {
    /// Tries to take the lock named `name` (call it once: session locks stack). True when
    /// taken; the connection is then renamed [`LEADER_APPLICATION_NAME`].
    pub(crate) async fn try_lock(&mut self, name: &str) -> Result<bool, StoreError> {
        let (locked,): (bool,) =
            sqlx::query_as("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(name)
                .fetch_one(&mut self.conn)
                .await?;
        if locked {
            sqlx::query("SELECT set_config('application_name', $1, false)")
                .bind(LEADER_APPLICATION_NAME)
                .execute(&mut self.conn)
                .await?;
        }
        Ok(locked)
    }

    /// Whether the connection still answers (and so still holds its locks).
    pub(crate) async fn alive(&mut self) -> bool {
        matches!(
            tokio::time::timeout(LOCK_CHECK_TIMEOUT, self.conn.ping()).await,
            Ok(Ok(()))
        )
    }

    /// Ends the session, releasing its locks.
    pub(crate) async fn close(self) {
        let _ = self.conn.close().await;
    }
}
