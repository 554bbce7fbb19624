//! PostgreSQL persistence: the only module with SQL. Tenants, budget settings, alerts,
//! audit events and alert notifications. Errors are classified by SQLSTATE, never by
//! message text.

mod evaluation;
mod exports;
mod fleet;
mod increases;
mod lifecycle;
mod model_spend;
mod notifications;
mod notify;
mod retention;
mod rows;
mod schema;
mod tokens;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use crate::domain::{
    Alert, AlertKind, AuditEvent, BudgetSettings, BudgetStatus, Tenant, TenantConfig, TenantId,
};
pub use evaluation::{DAILY_HISTORIES_SQL, EVALUATION_PAGE_SQL};
pub(crate) use evaluation::{DailySpendRows, EvalTenant, StatusRows};
pub(crate) use fleet::{FleetTotals, TenantCursor, TenantOrder, TenantSortKey};
pub(crate) use model_spend::DayModels;
pub use notifications::ALERTS_PAGE_SQL;
pub(crate) use notifications::{Claim, DueDelivery, FailedAttempt};
pub use notify::{LEADER_APPLICATION_NAME, LISTENER_APPLICATION_NAME};
pub(crate) use notify::{LockSession, StatusChange, StatusChanges};
pub use retention::PurgeCounts;
use rows::{AlertRow, AuditRow, SettingsJson, TenantConfigRow};
pub use schema::SchemaStatus;
pub(crate) use tokens::TokenRecord;

/// An open transaction; callers pass it back into the store's functions.
pub(crate) type Tx = Transaction<'static, Postgres>;

/// A position in a newest-first list: the last row's time and id.
pub(crate) type Cursor = (DateTime<Utc>, i64);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("row already exists ({constraint})")]
    UniqueViolation { constraint: String },
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => StoreError::Unavailable(error),
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                StoreError::UniqueViolation {
                    constraint: db.constraint().unwrap_or_default().to_owned(),
                }
            }
            // 57P01 admin_shutdown (e.g. pg_terminate_backend), 08xxx connection exceptions.
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|code| code.starts_with("08") || code == "57P01") =>
            {
                StoreError::Unavailable(error)
            }
            _ => StoreError::Other(error),
        }
    }
}

/// A new alert to record.
#[derive(Clone, Debug)]
pub struct NewAlert {
    pub tenant_id: TenantId,
    pub kind: AlertKind,
    pub spend_micros: i64,
    pub max_budget_micros: i64,
    pub percent: f64,
    pub threshold_percent: i32,
    pub message: String,
    /// (tenant, type, budget period, threshold amount) in text: one alert per key.
    pub dedupe_key: String,
    /// When it fired; now when `None`.
    pub created_at: Option<DateTime<Utc>>,
}

/// A new audit event.
#[derive(Clone, Debug)]
pub(crate) struct NewAudit<'a> {
    pub tenant_id: &'a TenantId,
    pub actor: &'a str,
    pub action: &'a str,
    pub old: Option<&'a BudgetSettings>,
    pub new: Option<&'a BudgetSettings>,
    /// A summary of a change that is not a budget setting.
    pub detail: Option<&'a str>,
}

/// The database handle: one pool for the process.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    /// Statements the evaluation pass's store functions executed, for the pass report and
    /// `budget_evaluator_db_statements`.
    statements: Arc<AtomicU64>,
}

/// A SELECT of a tenant joined with its settings, followed by `$tail`.
macro_rules! tenant_config_sql {
    ($tail:literal) => {
        concat!(
            "SELECT t.tenant_id, t.display_name, t.key_alias, t.key_hash, t.created_at, ",
            "t.deleted_at, t.suspended_at, ",
            "c.max_budget_micros, c.alert_threshold_percent, c.grace_threshold_percent, c.budget_duration, ",
            "c.version, c.updated_at, c.budget_reset_at ",
            "FROM tenants t JOIN tenant_configs c USING (tenant_id) ",
            $tail
        )
    };
}

impl Store {
    /// Connects a pool whose connection requests give up after `acquire_timeout`.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Store, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(StoreError::Other)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Store {
            pool,
            statements: Arc::default(),
        })
    }

    /// How many statements the store's evaluation-path functions executed so far (a
    /// transaction's BEGIN and COMMIT included); a pass reports the difference.
    pub fn statements_executed(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    pub(crate) fn count_statements(&self, n: u64) {
        self.statements.fetch_add(n, Ordering::Relaxed);
    }

    /// The pool, for health checks and tools.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Begins a transaction, counted as two statements: BEGIN and its COMMIT or ROLLBACK.
    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        self.count_statements(2);
        Ok(self.pool.begin().await?)
    }

    /// A tenant with its settings.
    pub async fn tenant_config(
        &self,
        id: &TenantId,
    ) -> Result<Option<(Tenant, TenantConfig)>, StoreError> {
        let row: Option<TenantConfigRow> = sqlx::query_as(tenant_config_sql!(
            "WHERE t.tenant_id = $1 AND t.deleted_at IS NULL"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(TenantConfigRow::split).transpose()
    }

    /// Like [`Store::tenant_config`], and locks the settings row until the transaction ends,
    /// so updates of one tenant run one at a time.
    pub(crate) async fn lock_tenant_config(
        &self,
        tx: &mut Tx,
        id: &TenantId,
    ) -> Result<Option<(Tenant, TenantConfig)>, StoreError> {
        self.count_statements(1);
        let row: Option<TenantConfigRow> = sqlx::query_as(tenant_config_sql!(
            "WHERE t.tenant_id = $1 AND t.deleted_at IS NULL FOR UPDATE OF c"
        ))
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        row.map(TenantConfigRow::split).transpose()
    }

    /// The tenant whose LiteLLM key has this hash.
    pub(crate) async fn tenant_by_key_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<TenantId>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT tenant_id FROM tenants WHERE key_hash = $1 AND deleted_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(id,)| {
            TenantId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("tenant id {id:?}")))
        })
        .transpose()
    }

    /// Serialises creation of one tenant id across connections and replicas.
    pub(crate) async fn lock_tenant_id(
        &self,
        tx: &mut Tx,
        id: &TenantId,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("tenant:{id}"))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Whether a tenant id exists.
    pub(crate) async fn tenant_exists(
        &self,
        executor: &mut Tx,
        id: &TenantId,
    ) -> Result<bool, StoreError> {
        let found: Option<(String,)> =
            sqlx::query_as("SELECT tenant_id FROM tenants WHERE tenant_id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut **executor)
                .await?;
        Ok(found.is_some())
    }

    /// Inserts a tenant and its first settings.
    pub(crate) async fn insert_tenant(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        settings: &BudgetSettings,
        budget_reset_at: Option<DateTime<Utc>>,
    ) -> Result<(Tenant, TenantConfig), StoreError> {
        sqlx::query("INSERT INTO tenants (tenant_id, display_name, key_alias, key_hash) VALUES ($1, $2, $3, $4)")
            .bind(tenant.tenant_id.as_str())
            .bind(&tenant.display_name)
            .bind(&tenant.key_alias)
            .bind(&tenant.key_hash)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO tenant_configs (tenant_id, max_budget_micros, alert_threshold_percent, \
             grace_threshold_percent, budget_duration, budget_reset_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant.tenant_id.as_str())
        .bind(settings.max_budget_micros)
        .bind(settings.alert_threshold_percent)
        .bind(settings.grace_threshold_percent)
        .bind(settings.budget_duration.as_str())
        .bind(budget_reset_at)
        .execute(&mut **tx)
        .await?;
        let row: TenantConfigRow = sqlx::query_as(tenant_config_sql!("WHERE t.tenant_id = $1"))
            .bind(tenant.tenant_id.as_str())
            .fetch_one(&mut **tx)
            .await?;
        row.split()
    }

    /// Replaces a tenant's settings and bumps its version.
    pub(crate) async fn update_config(
        &self,
        tx: &mut Tx,
        id: &TenantId,
        settings: &BudgetSettings,
        budget_reset_at: Option<DateTime<Utc>>,
    ) -> Result<TenantConfig, StoreError> {
        let row: rows::ConfigRow = sqlx::query_as(
            "UPDATE tenant_configs SET max_budget_micros = $2, alert_threshold_percent = $3, \
             grace_threshold_percent = $4, budget_duration = $5, \
             budget_reset_at = COALESCE($6, budget_reset_at), version = version + 1, updated_at = now() \
             WHERE tenant_id = $1 \
             RETURNING tenant_id, max_budget_micros, alert_threshold_percent, grace_threshold_percent, \
             budget_duration, version, updated_at, budget_reset_at",
        )
        .bind(id.as_str())
        .bind(settings.max_budget_micros)
        .bind(settings.alert_threshold_percent)
        .bind(settings.grace_threshold_percent)
        .bind(settings.budget_duration.as_str())
        .bind(budget_reset_at)
        .fetch_one(&mut **tx)
        .await?;
        row.into_record()
    }

    /// Remembers the latest reset time LiteLLM reported, when it changed.
    pub(crate) async fn record_reset_time(
        &self,
        id: &TenantId,
        reset_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.count_statements(1);
        sqlx::query(
            "UPDATE tenant_configs SET budget_reset_at = $2 \
             WHERE tenant_id = $1 AND budget_reset_at IS DISTINCT FROM $2",
        )
        .bind(id.as_str())
        .bind(reset_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records an audit event in the caller's transaction.
    pub(crate) async fn insert_audit(
        &self,
        tx: &mut Tx,
        event: NewAudit<'_>,
    ) -> Result<(), StoreError> {
        self.count_statements(1);
        sqlx::query(
            "INSERT INTO audit_events (tenant_id, actor, action, old_config, new_config, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(event.tenant_id.as_str())
        .bind(event.actor)
        .bind(event.action)
        .bind(event.old.map(|s| sqlx::types::Json(SettingsJson::from(s))))
        .bind(event.new.map(|s| sqlx::types::Json(SettingsJson::from(s))))
        .bind(event.detail)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Records an alert unless one with the same dedupe key exists; returns it when new. A new
    /// alert's deliveries, one per notification target of the tenant, are queued in the same
    /// transaction, so no alert is ever recorded without them.
    pub async fn insert_alert(&self, alert: &NewAlert) -> Result<Option<Alert>, StoreError> {
        self.count_statements(1);
        let mut tx = self.begin().await?;
        let row: Option<AlertRow> = sqlx::query_as(
            "INSERT INTO budget_alert_history (tenant_id, alert_type, spend_micros, max_budget_micros, percent, \
             threshold_percent, message, dedupe_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9, now())) \
             ON CONFLICT (dedupe_key) DO NOTHING \
             RETURNING alert_id, tenant_id, alert_type, spend_micros, max_budget_micros, percent, \
             threshold_percent, message, created_at",
        )
        .bind(alert.tenant_id.as_str())
        .bind(alert.kind.as_str())
        .bind(alert.spend_micros)
        .bind(alert.max_budget_micros)
        .bind(alert.percent)
        .bind(alert.threshold_percent)
        .bind(&alert.message)
        .bind(&alert.dedupe_key)
        .bind(alert.created_at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let record = row.into_record()?;
        self.queue_deliveries(&mut tx, record.alert_id, &record.tenant_id)
            .await?;
        tx.commit().await?;
        Ok(Some(record))
    }

    /// A page of a tenant's audit events, newest first, after `cursor`.
    pub(crate) async fn list_audit(
        &self,
        id: &TenantId,
        cursor: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let (time, last_id) = cursor.map_or((None, None), |(t, i)| (Some(t), Some(i)));
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT event_id, tenant_id, actor, action, old_config, new_config, detail, created_at FROM audit_events \
             WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, event_id) < ($2, $3)) \
             ORDER BY created_at DESC, event_id DESC LIMIT $4",
        )
        .bind(id.as_str())
        .bind(time)
        .bind(last_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AuditRow::into_record).collect()
    }
}

impl Store {
    /// Records a tenant's latest evaluated status.
    pub(crate) async fn upsert_tenant_status(
        &self,
        status: &BudgetStatus,
    ) -> Result<(), StoreError> {
        self.count_statements(1);
        sqlx::query(
            "INSERT INTO tenant_status (tenant_id, spend_micros, max_budget_micros, percent_used, state, reset_time, fetch_time, run_out_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (tenant_id) DO UPDATE SET spend_micros = EXCLUDED.spend_micros, \
             max_budget_micros = EXCLUDED.max_budget_micros, percent_used = EXCLUDED.percent_used, \
             state = EXCLUDED.state, reset_time = EXCLUDED.reset_time, fetch_time = EXCLUDED.fetch_time, \
             run_out_time = EXCLUDED.run_out_time, eval_fingerprint = NULL \
             WHERE tenant_status.fetch_time <= EXCLUDED.fetch_time",
        )
        .bind(status.tenant_id.as_str())
        .bind(status.spend_micros)
        .bind(status.settings.max_budget_micros)
        .bind(status.percent_used)
        .bind(rows::state_name(status.state))
        .bind(status.reset_time)
        .bind(status.fetch_time)
        // The fleet overview's "runs out before reset" (GetFleetSummary): the forecast's date.
        .bind(status.forecast.exhaustion_time)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores spend per day for a tenant (replacing what was stored for those days).
    pub async fn upsert_daily_spend(
        &self,
        id: &TenantId,
        days: &[(NaiveDate, i64)],
    ) -> Result<(), StoreError> {
        self.write_daily_spend(id, days).await
    }

    async fn write_daily_spend(
        &self,
        id: &TenantId,
        days: &[(NaiveDate, i64)],
    ) -> Result<(), StoreError> {
        if days.is_empty() {
            return Ok(());
        }
        self.count_statements(1);
        let (dates, spends): (Vec<NaiveDate>, Vec<i64>) = days.iter().copied().unzip();
        sqlx::query(
            "INSERT INTO daily_spend (tenant_id, day, spend_micros) \
             SELECT $1, d, s FROM UNNEST($2::date[], $3::bigint[]) AS u(d, s) \
             ON CONFLICT (tenant_id, day) DO UPDATE SET spend_micros = EXCLUDED.spend_micros, updated_at = now()",
        )
        .bind(id.as_str())
        .bind(dates)
        .bind(spends)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores a tenant's whole history as read from LiteLLM and marks it loaded, so later
    /// passes only refresh recent days.
    pub(crate) async fn load_history(
        &self,
        id: &TenantId,
        days: &[(NaiveDate, i64)],
    ) -> Result<(), StoreError> {
        self.upsert_daily_spend(id, days).await?;
        self.count_statements(1);
        sqlx::query("UPDATE tenants SET history_loaded_at = now() WHERE tenant_id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The tenant's stored daily spend from `since`, or `None` when its history was never
    /// loaded from LiteLLM.
    pub(crate) async fn daily_history(
        &self,
        id: &TenantId,
        since: NaiveDate,
    ) -> Result<Option<Vec<(NaiveDate, i64)>>, StoreError> {
        self.count_statements(2);
        let loaded: Option<(Option<DateTime<Utc>>,)> =
            sqlx::query_as("SELECT history_loaded_at FROM tenants WHERE tenant_id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        if !matches!(loaded, Some((Some(_),))) {
            return Ok(None);
        }
        let days: Vec<(NaiveDate, i64)> = sqlx::query_as(
            "SELECT day, spend_micros FROM daily_spend WHERE tenant_id = $1 AND day >= $2 ORDER BY day",
        )
        .bind(id.as_str())
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(days))
    }
}

/// Escapes LIKE's wildcards so a filter is matched literally.
fn escape_like(raw: &str) -> String {
    raw.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
