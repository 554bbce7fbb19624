//! The retention purge: deletes alert history, notification deliveries, audit events and
//! daily spend (with its split by model) older than the window, in small batches, one replica at a time.

use chrono::{DateTime, Utc};

use super::{Store, StoreError};

/// The session advisory lock that lets one replica purge at a time.
const PURGE_LOCK_KEY: &str = "budget-service:retention-purge";

/// Rows deleted by one purge, per table, and how many batches it took.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    pub deliveries: u64,
    pub alerts: u64,
    pub audit_events: u64,
    pub daily_spend: u64,
    pub model_spend: u64,
    pub batches: u64,
}

/// One table's batch: deletes at most `$2` rows older than `$1` and returns how many it did.
/// Deliveries go before their alerts (their FK points at the alert).
const BATCHES: [(&str, &str); 5] = [
    (
        "deliveries",
        "DELETE FROM notification_deliveries WHERE ctid IN (SELECT d.ctid FROM notification_deliveries d \
         JOIN budget_alert_history a USING (alert_id) WHERE a.created_at < $1 LIMIT $2)",
    ),
    (
        "alerts",
        "DELETE FROM budget_alert_history WHERE ctid IN (SELECT ctid FROM budget_alert_history \
         WHERE created_at < $1 LIMIT $2)",
    ),
    (
        "audit_events",
        "DELETE FROM audit_events WHERE ctid IN (SELECT ctid FROM audit_events \
         WHERE created_at < $1 LIMIT $2)",
    ),
    (
        "daily_spend",
        "DELETE FROM daily_spend WHERE ctid IN (SELECT ctid FROM daily_spend \
         WHERE day < ($1 AT TIME ZONE 'UTC')::date LIMIT $2)",
    ),
    (
        "model_spend",
        "DELETE FROM model_spend WHERE ctid IN (SELECT ctid FROM model_spend \
         WHERE day < ($1 AT TIME ZONE 'UTC')::date LIMIT $2)",
    ),
];

impl Store {
    /// Deletes rows older than `cutoff` in batches of `batch` rows, each its own short
    /// statement. Returns `None` when another replica holds the purge lock. `keep_going` is
    /// asked between batches, so a shutdown stops the purge early.
    pub(crate) async fn purge_older_than(
        &self,
        cutoff: DateTime<Utc>,
        batch: i64,
        keep_going: impl Fn() -> bool,
    ) -> Result<Option<PurgeCounts>, StoreError> {
        // A dedicated connection holds the session lock; it is closed rather than returned to
        // the pool if anything fails, so the lock can never outlive the purge.
        let mut conn = self.pool.acquire().await?;
        let (locked,): (bool,) =
            sqlx::query_as("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(PURGE_LOCK_KEY)
                .fetch_one(&mut *conn)
                .await?;
        if !locked {
            return Ok(None);
        }
        let mut counts = PurgeCounts::default();
        let mut result = Ok(());
        'tables: for (table, sql) in BATCHES {
            loop {
                if !keep_going() {
                    break 'tables;
                }
                let deleted = match sqlx::query(sql)
                    .bind(cutoff)
                    .bind(batch)
                    .execute(&mut *conn)
                    .await
                {
                    Ok(done) => done.rows_affected(),
                    Err(error) => {
                        result = Err(StoreError::from(error));
                        break 'tables;
                    }
                };
                counts.batches += 1;
                match table {
                    "deliveries" => counts.deliveries += deleted,
                    "alerts" => counts.alerts += deleted,
                    "audit_events" => counts.audit_events += deleted,
                    "daily_spend" => counts.daily_spend += deleted,
                    _ => counts.model_spend += deleted,
                }
                if deleted < u64::try_from(batch).unwrap_or(0) {
                    break;
                }
            }
        }
        let unlocked = match result {
            Ok(()) => sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
                .bind(PURGE_LOCK_KEY)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::from),
            Err(error) => Err(error),
        };
        match unlocked {
            Ok(_) => Ok(Some(counts)),
            Err(error) => {
                // Ends the session, and the lock with it.
                drop(conn.detach());
                Err(error)
            }
        }
    }
}
