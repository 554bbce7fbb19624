//! Notification targets and deliveries. A delivery is the durable queue entry of one alert
//! for one target; the worker claims due ones with `FOR UPDATE SKIP LOCKED` and a lease, so
//! replicas never send the same one at the same time and a crash only delays it.

use chrono::{DateTime, Utc};

use super::rows::{AlertRow, tenant_id};
use super::{Cursor, Store, StoreError, Tx};
use crate::domain::Alert;
use crate::domain::notification::{SecretChange, TargetSpec};
use crate::domain::{
    Delivery, DeliveryBacklog, DeliveryStatus, NotificationKind, NotificationTarget, TenantId,
};

/// The last_error of a delivery whose target was removed before it was delivered.
pub(crate) const TARGET_REMOVED: &str = "target removed";

/// ListAlerts' page as one statement: the page of a live tenant's alerts (`$1`), newest first,
/// after the cursor (`$2`, `$3`; NULL for the first page), at most `$4` rows, each with its
/// deliveries as a JSON array by target and the tenant's alert count on every row. Public so the
/// benchmark times exactly this text beside the RPC.
pub const ALERTS_PAGE_SQL: &str = "SELECT a.alert_id, a.tenant_id, a.alert_type, a.spend_micros, \
     a.max_budget_micros, a.percent, a.threshold_percent, a.message, a.created_at, \
     (SELECT count(*) FROM budget_alert_history WHERE tenant_id = $1) AS total, \
     (SELECT json_agg(json_build_object('alert_id', d.alert_id, 'target_id', d.target_id, \
        'kind', t.kind, 'status', d.status, 'attempts', d.attempts, 'last_error', d.last_error, \
        'delivered_at', d.delivered_at, 'next_attempt_at', d.next_attempt_at) ORDER BY d.target_id) \
      FROM notification_deliveries d JOIN notification_targets t USING (target_id) \
      WHERE d.alert_id = a.alert_id) AS deliveries \
     FROM budget_alert_history a \
     WHERE a.tenant_id = $1 \
       AND EXISTS (SELECT 1 FROM tenants WHERE tenant_id = $1 AND deleted_at IS NULL) \
       AND ($2::timestamptz IS NULL OR (a.created_at, a.alert_id) < ($2, $3)) \
     ORDER BY a.created_at DESC, a.alert_id DESC LIMIT $4";

/// A page of alerts with their deliveries, and the tenant's alert count.
#[derive(Clone, Debug)]
pub(crate) struct AlertsPage {
    pub alerts: Vec<(Alert, Vec<Delivery>)>,
    pub total: i64,
}

/// A claimed delivery with everything needed to send it.
#[derive(Clone, Debug)]
pub(crate) struct DueDelivery {
    pub delivery_id: i64,
    pub target_id: i64,
    /// Attempts so far, counting the one this claim starts.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub kind: NotificationKind,
    pub url: String,
    pub secret: Option<String>,
    pub alert: Alert,
    pub display_name: String,
}

/// Which due deliveries one claim may take.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Claim<'a> {
    /// At most this many.
    pub limit: usize,
    /// At most this many in flight per tenant, counting `busy_tenants`.
    pub per_tenant: usize,
    /// Tenants with deliveries in flight, and how many.
    pub busy_tenants: &'a [(&'a str, usize)],
    /// At most this many in flight per target, counting `busy_targets`.
    pub per_target: usize,
    /// Targets with deliveries in flight, and how many.
    pub busy_targets: &'a [(i64, usize)],
}

/// How a failed attempt ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FailedAttempt {
    RetryAt(DateTime<Utc>),
    GiveUp,
}

#[derive(sqlx::FromRow)]
struct TargetRow {
    target_id: i64,
    tenant_id: String,
    kind: String,
    url: String,
    has_secret: bool,
    description: String,
    created_at: DateTime<Utc>,
}

impl TargetRow {
    fn into_record(self) -> Result<NotificationTarget, StoreError> {
        Ok(NotificationTarget {
            target_id: self.target_id,
            tenant_id: tenant_id(&self.tenant_id)?,
            kind: kind(&self.kind)?,
            url: self.url,
            has_secret: self.has_secret,
            description: self.description,
            created_at: self.created_at,
        })
    }
}

/// A delivery as a row, or as one element of the JSON array ListAlerts' page reads.
#[derive(sqlx::FromRow, serde::Deserialize)]
struct DeliveryRow {
    alert_id: i64,
    target_id: i64,
    kind: String,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    delivered_at: Option<DateTime<Utc>>,
    next_attempt_at: DateTime<Utc>,
}

impl DeliveryRow {
    fn into_record(self) -> Result<Delivery, StoreError> {
        let status = DeliveryStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery status {:?}", self.status)))?;
        Ok(Delivery {
            alert_id: self.alert_id,
            target_id: self.target_id,
            kind: kind(&self.kind)?,
            status,
            attempts: self.attempts,
            last_error: self.last_error,
            delivered_at: self.delivered_at,
            next_attempt_at: (status == DeliveryStatus::Pending).then_some(self.next_attempt_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct AlertPageRow {
    #[sqlx(flatten)]
    alert: AlertRow,
    total: i64,
    deliveries: Option<sqlx::types::Json<Vec<DeliveryRow>>>,
}

#[derive(sqlx::FromRow)]
struct DueRow {
    delivery_id: i64,
    target_id: i64,
    attempts: i32,
    delivery_created_at: DateTime<Utc>,
    kind: String,
    url: String,
    secret: Option<String>,
    display_name: String,
    #[sqlx(flatten)]
    alert: AlertRow,
}

async fn fetch_targets<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    id: &TenantId,
) -> Result<Vec<NotificationTarget>, StoreError> {
    let rows: Vec<TargetRow> = sqlx::query_as(
        "SELECT target_id, tenant_id, kind, url, secret IS NOT NULL AS has_secret, description, \
         created_at FROM notification_targets \
         WHERE tenant_id = $1 AND removed_at IS NULL ORDER BY target_id",
    )
    .bind(id.as_str())
    .fetch_all(executor)
    .await?;
    rows.into_iter().map(TargetRow::into_record).collect()
}

fn kind(raw: &str) -> Result<NotificationKind, StoreError> {
    NotificationKind::parse(raw)
        .ok_or_else(|| StoreError::Corrupt(format!("notification kind {raw:?}")))
}

impl Store {
    /// The tenant's targets, oldest first.
    pub(crate) async fn list_targets(
        &self,
        id: &TenantId,
    ) -> Result<Vec<NotificationTarget>, StoreError> {
        fetch_targets(&self.pool, id).await
    }

    /// Like [`Store::list_targets`], inside the caller's transaction.
    pub(crate) async fn targets_in(
        &self,
        tx: &mut Tx,
        id: &TenantId,
    ) -> Result<Vec<NotificationTarget>, StoreError> {
        fetch_targets(&mut **tx, id).await
    }

    /// Makes `specs` the tenant's whole set of targets: updates the ones named, adds the new
    /// ones, removes the rest and fails their pending deliveries. The caller holds the
    /// tenant's settings lock, so sets of one tenant are replaced one at a time.
    pub(crate) async fn replace_targets(
        &self,
        tx: &mut Tx,
        id: &TenantId,
        specs: &[TargetSpec],
    ) -> Result<Vec<NotificationTarget>, StoreError> {
        let mut kept: Vec<i64> = Vec::new();
        for spec in specs {
            let (keep_secret, secret) = match &spec.secret {
                SecretChange::Keep => (true, None),
                SecretChange::Set(secret) => (false, Some(secret.as_str())),
                SecretChange::Clear => (false, None),
            };
            let target_id: (i64,) = match spec.target_id {
                Some(target_id) => {
                    sqlx::query_as(
                        "UPDATE notification_targets SET kind = $3, url = COALESCE($4, url), \
                         secret = CASE WHEN $5 THEN secret ELSE $6 END, description = $7, updated_at = now() \
                         WHERE target_id = $1 AND tenant_id = $2 AND removed_at IS NULL RETURNING target_id",
                    )
                    .bind(target_id)
                    .bind(id.as_str())
                    .bind(spec.kind.as_str())
                    .bind(spec.url.as_deref())
                    .bind(keep_secret)
                    .bind(secret)
                    .bind(&spec.description)
                    .fetch_one(&mut **tx)
                    .await?
                }
                None => {
                    sqlx::query_as(
                        "INSERT INTO notification_targets (tenant_id, kind, url, secret, description) \
                         VALUES ($1, $2, $3, $4, $5) RETURNING target_id",
                    )
                    .bind(id.as_str())
                    .bind(spec.kind.as_str())
                    .bind(spec.url.as_deref().unwrap_or_default())
                    .bind(secret)
                    .bind(&spec.description)
                    .fetch_one(&mut **tx)
                    .await?
                }
            };
            kept.push(target_id.0);
        }
        sqlx::query(
            "WITH removed AS ( \
               UPDATE notification_targets SET removed_at = now() \
               WHERE tenant_id = $1 AND removed_at IS NULL AND NOT (target_id = ANY($2)) \
               RETURNING target_id) \
             UPDATE notification_deliveries SET status = 'failed', last_error = $3 \
             WHERE status = 'pending' AND target_id IN (SELECT target_id FROM removed)",
        )
        .bind(id.as_str())
        .bind(&kept)
        .bind(TARGET_REMOVED)
        .execute(&mut **tx)
        .await?;
        self.targets_in(tx, id).await
    }

    /// Queues the alert for each of the tenant's targets. The targets are share-locked, so a
    /// concurrent removal waits for this transaction and then fails what it queued.
    pub(super) async fn queue_deliveries(
        &self,
        tx: &mut Tx,
        alert_id: i64,
        id: &TenantId,
    ) -> Result<(), StoreError> {
        self.count_statements(1);
        sqlx::query(
            "INSERT INTO notification_deliveries (alert_id, target_id) \
             SELECT $1, target_id FROM notification_targets \
             WHERE tenant_id = $2 AND removed_at IS NULL ORDER BY target_id FOR SHARE",
        )
        .bind(alert_id)
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A page of a tenant's alerts, newest first, after `cursor`, each with its deliveries by
    /// target, and how many alerts the tenant has: one statement ([`ALERTS_PAGE_SQL`]), so one
    /// round trip. `None` when there is no such live tenant.
    pub(crate) async fn alerts_page(
        &self,
        id: &TenantId,
        cursor: Option<Cursor>,
        limit: i64,
    ) -> Result<Option<AlertsPage>, StoreError> {
        let (time, last_id) = cursor.map_or((None, None), |(t, i)| (Some(t), Some(i)));
        let rows: Vec<AlertPageRow> = sqlx::query_as(ALERTS_PAGE_SQL)
            .bind(id.as_str())
            .bind(time)
            .bind(last_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let Some(total) = rows.first().map(|row| row.total) else {
            // No row: an empty page (past the end, or no alerts) or no tenant; the count says.
            let total: Option<(i64,)> = sqlx::query_as(
                "SELECT (SELECT count(*) FROM budget_alert_history WHERE tenant_id = $1) \
                 FROM tenants WHERE tenant_id = $1 AND deleted_at IS NULL",
            )
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
            return Ok(total.map(|(total,)| AlertsPage {
                alerts: Vec::new(),
                total,
            }));
        };
        let alerts = rows
            .into_iter()
            .map(|row| {
                let deliveries = row
                    .deliveries
                    .map_or_else(Vec::new, |json| json.0)
                    .into_iter()
                    .map(DeliveryRow::into_record)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((row.alert.into_record()?, deliveries))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(AlertsPage { alerts, total }))
    }

    /// Claims up to `claim.limit` pending deliveries due at `now`: counts an attempt for
    /// each and moves its next attempt to `lease_until`, so nobody else sends it meanwhile; a
    /// claim whose sender dies is retried then. Oldest due first, but never more per tenant
    /// (per target) than its cap less what the caller already has in flight for it.
    pub(crate) async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        claim: &Claim<'_>,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let (busy_tenants, tenant_counts): (Vec<&str>, Vec<i64>) = claim
            .busy_tenants
            .iter()
            .map(|(id, n)| (*id, i64::try_from(*n).unwrap_or(i64::MAX)))
            .unzip();
        let (busy_targets, target_counts): (Vec<i64>, Vec<i64>) = claim
            .busy_targets
            .iter()
            .map(|(id, n)| (*id, i64::try_from(*n).unwrap_or(i64::MAX)))
            .unzip();
        let rows: Vec<DueRow> = sqlx::query_as(
            "WITH candidates AS ( \
               SELECT d.delivery_id, d.next_attempt_at, \
                 row_number() OVER (PARTITION BY a.tenant_id ORDER BY d.next_attempt_at, d.delivery_id) \
                   + COALESCE(bt.n, 0) AS tenant_rank, \
                 row_number() OVER (PARTITION BY d.target_id ORDER BY d.next_attempt_at, d.delivery_id) \
                   + COALESCE(bg.n, 0) AS target_rank \
               FROM notification_deliveries d \
               JOIN notification_targets t ON t.target_id = d.target_id \
               JOIN budget_alert_history a ON a.alert_id = d.alert_id \
               LEFT JOIN unnest($4::text[], $5::int8[]) AS bt(tenant_id, n) ON bt.tenant_id = a.tenant_id \
               LEFT JOIN unnest($7::int8[], $8::int8[]) AS bg(target_id, n) ON bg.target_id = d.target_id \
               WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND t.removed_at IS NULL), \
             due AS ( \
               SELECT d.delivery_id FROM notification_deliveries d \
               JOIN candidates c ON c.delivery_id = d.delivery_id \
               WHERE c.tenant_rank <= $6 AND c.target_rank <= $9 \
                 AND d.status = 'pending' AND d.next_attempt_at <= $1 \
               ORDER BY c.next_attempt_at, c.delivery_id LIMIT $3 FOR UPDATE OF d SKIP LOCKED), \
             claimed AS ( \
               UPDATE notification_deliveries d SET attempts = d.attempts + 1, next_attempt_at = $2 \
               FROM due WHERE d.delivery_id = due.delivery_id \
               RETURNING d.delivery_id, d.alert_id, d.target_id, d.attempts, d.created_at) \
             SELECT c.delivery_id, c.target_id, c.attempts, c.created_at AS delivery_created_at, \
             t.kind, t.url, t.secret, tn.display_name, \
             a.alert_id, a.tenant_id, a.alert_type, a.spend_micros, a.max_budget_micros, a.percent, \
             a.threshold_percent, a.message, a.created_at \
             FROM claimed c \
             JOIN notification_targets t ON t.target_id = c.target_id \
             JOIN budget_alert_history a ON a.alert_id = c.alert_id \
             JOIN tenants tn ON tn.tenant_id = a.tenant_id \
             ORDER BY c.delivery_id",
        )
        .bind(now)
        .bind(lease_until)
        .bind(i64::try_from(claim.limit).unwrap_or(i64::MAX))
        .bind(&busy_tenants)
        .bind(&tenant_counts)
        .bind(i64::try_from(claim.per_tenant).unwrap_or(i64::MAX))
        .bind(&busy_targets)
        .bind(&target_counts)
        .bind(i64::try_from(claim.per_target).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(DueDelivery {
                    delivery_id: row.delivery_id,
                    target_id: row.target_id,
                    attempts: row.attempts,
                    created_at: row.delivery_created_at,
                    kind: kind(&row.kind)?,
                    url: row.url,
                    secret: row.secret,
                    alert: row.alert.into_record()?,
                    display_name: row.display_name,
                })
            })
            .collect()
    }

    /// Gives back a claim that was not sent: the attempt is not counted and the delivery is
    /// due again at `due_at`. Nothing happens if a later claim owns it now.
    pub(crate) async fn release_claim(
        &self,
        delivery_id: i64,
        attempts: i32,
        due_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE notification_deliveries SET attempts = attempts - 1, next_attempt_at = $3 \
             WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending'",
        )
        .bind(delivery_id)
        .bind(attempts)
        .bind(due_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records that the target accepted the delivery.
    pub(crate) async fn mark_delivered(
        &self,
        delivery_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE notification_deliveries SET status = 'delivered', delivered_at = $2, last_error = NULL \
             WHERE delivery_id = $1 AND status = 'pending'",
        )
        .bind(delivery_id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed attempt, unless a later claim (after this one's lease ran out) owns
    /// the delivery now.
    pub(crate) async fn mark_attempt_failed(
        &self,
        delivery_id: i64,
        attempts: i32,
        outcome: FailedAttempt,
        error: &str,
    ) -> Result<(), StoreError> {
        let (status, next) = match outcome {
            FailedAttempt::RetryAt(at) => (DeliveryStatus::Pending, Some(at)),
            FailedAttempt::GiveUp => (DeliveryStatus::Failed, None),
        };
        sqlx::query(
            "UPDATE notification_deliveries SET status = $3, \
             next_attempt_at = COALESCE($4, next_attempt_at), last_error = $5 \
             WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending'",
        )
        .bind(delivery_id)
        .bind(attempts)
        .bind(status.as_str())
        .bind(next)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The pending deliveries of every tenant and the age of the oldest (by the database's
    /// clock, which set `created_at`): one aggregate over the partial index of pending rows.
    pub(crate) async fn delivery_backlog(&self) -> Result<DeliveryBacklog, StoreError> {
        let (pending, oldest_secs): (i64, f64) = sqlx::query_as(
            "SELECT count(*), \
             COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 \
             FROM notification_deliveries WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(DeliveryBacklog {
            pending,
            oldest_age: std::time::Duration::try_from_secs_f64(oldest_secs).unwrap_or_default(),
        })
    }
}
