//! The evaluation pass's statements: a page of tenants with everything the pass compares
//! in one SELECT, and the page's writes in a few statements each (arrays through UNNEST),
//! never one round trip per tenant. Each write takes column arrays built by a `*Rows`
//! type, so a new column is one more array and one more UNNEST argument.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::rows::{self, AlertRow, TenantConfigRow};
use super::{NewAlert, Store, StoreError};
use crate::domain::history::MAX_HISTORY_DAYS;
use crate::domain::{Alert, BudgetStatus, TemporaryIncrease, Tenant, TenantConfig, TenantId};

/// A tenant as the evaluation pass reads it: settings, the stored increase, whether its
/// history was loaded, and the fingerprint of its last completed evaluation.
#[derive(Clone, Debug)]
pub(crate) struct EvalTenant {
    pub tenant: Tenant,
    pub config: TenantConfig,
    pub increase: Option<TemporaryIncrease>,
    pub history_loaded: bool,
    pub fingerprint: Option<String>,
}

#[derive(sqlx::FromRow)]
struct EvalTenantRow {
    #[sqlx(flatten)]
    tenant: TenantConfigRow,
    history_loaded: bool,
    increase_micros: Option<i64>,
    increase_expire_time: Option<DateTime<Utc>>,
    increase_reason: Option<String>,
    eval_fingerprint: Option<String>,
}

impl EvalTenantRow {
    fn into_record(self) -> Result<EvalTenant, StoreError> {
        let (tenant, config) = self.tenant.split()?;
        let increase = match (
            self.increase_micros,
            self.increase_expire_time,
            self.increase_reason,
        ) {
            (Some(amount_micros), Some(expire_time), Some(reason)) => Some(TemporaryIncrease {
                amount_micros,
                expire_time,
                reason,
            }),
            _ => None,
        };
        Ok(EvalTenant {
            tenant,
            config,
            increase,
            history_loaded: self.history_loaded,
            fingerprint: self.eval_fingerprint,
        })
    }
}

/// Daily spend rows for many tenants, as column arrays.
#[derive(Debug, Default)]
pub(crate) struct DailySpendRows {
    tenant_ids: Vec<String>,
    days: Vec<NaiveDate>,
    spends: Vec<i64>,
}

impl DailySpendRows {
    pub(crate) fn push(&mut self, id: &TenantId, day: NaiveDate, spend_micros: i64) {
        self.tenant_ids.push(id.as_str().to_owned());
        self.days.push(day);
        self.spends.push(spend_micros);
    }
}

/// Evaluated statuses for many tenants, each with the fingerprint of the inputs it was
/// computed from (`None`: the next pass evaluates the tenant again).
#[derive(Debug, Default)]
pub(crate) struct StatusRows {
    tenant_ids: Vec<String>,
    spends: Vec<i64>,
    max_budgets: Vec<i64>,
    percents: Vec<f64>,
    states: Vec<&'static str>,
    reset_times: Vec<Option<DateTime<Utc>>>,
    fetch_times: Vec<DateTime<Utc>>,
    fingerprints: Vec<Option<String>>,
    run_out_times: Vec<Option<DateTime<Utc>>>,
}

impl StatusRows {
    pub(crate) fn push(&mut self, status: &BudgetStatus, fingerprint: Option<String>) {
        self.tenant_ids.push(status.tenant_id.as_str().to_owned());
        self.spends.push(status.spend_micros);
        self.max_budgets.push(status.settings.max_budget_micros);
        self.percents.push(status.percent_used);
        self.states.push(rows::state_name(status.state));
        self.reset_times.push(status.reset_time);
        self.fetch_times.push(status.fetch_time);
        self.fingerprints.push(fingerprint);
        self.run_out_times.push(status.forecast.exhaustion_time);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tenant_ids.is_empty()
    }
}

/// A page of the evaluation pass: up to `$2` live tenants after `$1` by id ('' for the first
/// page), with what the pass compares. The bound is on every table and never optional, so
/// each index scan starts at the page under a cached generic plan too: written as
/// `$1 IS NULL OR t.tenant_id > $1`, with the bound on `tenants` alone, every page read the
/// tables from their first row (70 ms a page at 100,000 tenants, and growing with them).
pub const EVALUATION_PAGE_SQL: &str = "SELECT t.tenant_id, t.display_name, t.key_alias, t.key_hash, t.created_at, \
    t.deleted_at, t.suspended_at, \
    c.max_budget_micros, c.alert_threshold_percent, c.grace_threshold_percent, c.budget_duration, \
    c.version, c.updated_at, c.budget_reset_at, \
    t.history_loaded_at IS NOT NULL AS history_loaded, \
    i.amount_micros AS increase_micros, i.expire_time AS increase_expire_time, \
    i.reason AS increase_reason, s.eval_fingerprint \
    FROM tenants t \
    JOIN tenant_configs c ON c.tenant_id = t.tenant_id AND c.tenant_id > $1 \
    LEFT JOIN temporary_increases i ON i.tenant_id = t.tenant_id AND i.tenant_id > $1 \
    LEFT JOIN tenant_status s ON s.tenant_id = t.tenant_id AND s.tenant_id > $1 \
    WHERE t.deleted_at IS NULL AND t.tenant_id > $1 \
    ORDER BY t.tenant_id LIMIT $2";

/// The stored daily spend since `$2` (at most `$3` days) of each tenant in `$1`: one index
/// lookup per tenant whatever the statistics say. As `tenant_id = ANY($1) AND day >= $2` a
/// cached plan read every tenant's recent days through `daily_spend_day` (700 ms a page at
/// 100,000 tenants); the LIMIT keeps the subquery a per-tenant lookup rather than a join
/// PostgreSQL may reorder.
pub const DAILY_HISTORIES_SQL: &str = "SELECT u.tenant_id, d.day, d.spend_micros FROM UNNEST($1::text[]) AS u(tenant_id) \
    CROSS JOIN LATERAL (SELECT day, spend_micros FROM daily_spend \
      WHERE tenant_id = u.tenant_id AND day >= $2 ORDER BY day LIMIT $3) d \
    ORDER BY u.tenant_id, d.day";

impl Store {
    /// Up to `limit` live tenants after `after` by id, each with what the evaluation pass
    /// compares: one statement.
    pub(crate) async fn evaluation_page(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<EvalTenant>, StoreError> {
        self.count_statements(1);
        let rows: Vec<EvalTenantRow> = sqlx::query_as(EVALUATION_PAGE_SQL)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(EvalTenantRow::into_record).collect()
    }

    /// Stores spend per day for many tenants at once (replacing what was stored for those
    /// days): one statement.
    pub(crate) async fn write_daily_spend_rows(
        &self,
        rows: &DailySpendRows,
    ) -> Result<(), StoreError> {
        if rows.tenant_ids.is_empty() {
            return Ok(());
        }
        self.count_statements(1);
        sqlx::query(
            "INSERT INTO daily_spend (tenant_id, day, spend_micros) \
             SELECT * FROM UNNEST($1::text[], $2::date[], $3::bigint[]) \
             ON CONFLICT (tenant_id, day) DO UPDATE SET spend_micros = EXCLUDED.spend_micros, updated_at = now()",
        )
        .bind(&rows.tenant_ids)
        .bind(&rows.days)
        .bind(&rows.spends)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The stored daily spend from `since` of each of `ids`: one statement.
    pub(crate) async fn daily_histories(
        &self,
        ids: &[TenantId],
        since: NaiveDate,
    ) -> Result<HashMap<TenantId, Vec<(NaiveDate, i64)>>, StoreError> {
        let mut histories: HashMap<TenantId, Vec<(NaiveDate, i64)>> = HashMap::new();
        if ids.is_empty() {
            return Ok(histories);
        }
        self.count_statements(1);
        let ids: Vec<&str> = ids.iter().map(TenantId::as_str).collect();
        let found: Vec<(String, NaiveDate, i64)> = sqlx::query_as(DAILY_HISTORIES_SQL)
            .bind(&ids)
            .bind(since)
            .bind(i64::from(MAX_HISTORY_DAYS))
            .fetch_all(&self.pool)
            .await?;
        for (id, day, micros) in found {
            histories
                .entry(rows::tenant_id(&id)?)
                .or_default()
                .push((day, micros));
        }
        Ok(histories)
    }

    /// Remembers the latest reset time LiteLLM reported for many tenants: one statement.
    pub(crate) async fn record_reset_times(
        &self,
        resets: &[(TenantId, DateTime<Utc>)],
    ) -> Result<(), StoreError> {
        if resets.is_empty() {
            return Ok(());
        }
        self.count_statements(1);
        let (ids, times): (Vec<&str>, Vec<DateTime<Utc>>) =
            resets.iter().map(|(id, at)| (id.as_str(), *at)).unzip();
        sqlx::query(
            "UPDATE tenant_configs c SET budget_reset_at = u.reset_at \
             FROM UNNEST($1::text[], $2::timestamptz[]) AS u(tenant_id, reset_at) \
             WHERE c.tenant_id = u.tenant_id AND c.budget_reset_at IS DISTINCT FROM u.reset_at",
        )
        .bind(&ids)
        .bind(&times)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records the alerts whose dedupe key is new and, in the same transaction, queues each
    /// new alert's deliveries (one per notification target of its tenant): four statements
    /// (BEGIN, the alerts, the deliveries, COMMIT) for any number of alerts. Returns the new
    /// alerts.
    pub(crate) async fn insert_alerts(
        &self,
        alerts: &[NewAlert],
    ) -> Result<Vec<Alert>, StoreError> {
        if alerts.is_empty() {
            return Ok(Vec::new());
        }
        let mut columns = AlertColumns::default();
        for alert in alerts {
            columns.push(alert);
        }
        let mut tx = self.begin().await?;
        self.count_statements(1);
        let rows: Vec<AlertRow> = sqlx::query_as(
            "INSERT INTO budget_alert_history (tenant_id, alert_type, spend_micros, max_budget_micros, percent, \
             threshold_percent, message, dedupe_key, created_at) \
             SELECT u.tenant_id, u.alert_type, u.spend_micros, u.max_budget_micros, u.percent, \
             u.threshold_percent, u.message, u.dedupe_key, COALESCE(u.created_at, now()) \
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::float8[], \
             $6::int4[], $7::text[], $8::text[], $9::timestamptz[]) \
             AS u(tenant_id, alert_type, spend_micros, max_budget_micros, percent, threshold_percent, \
             message, dedupe_key, created_at) \
             ON CONFLICT (dedupe_key) DO NOTHING \
             RETURNING alert_id, tenant_id, alert_type, spend_micros, max_budget_micros, percent, \
             threshold_percent, message, created_at",
        )
        .bind(&columns.tenant_ids)
        .bind(&columns.kinds)
        .bind(&columns.spends)
        .bind(&columns.max_budgets)
        .bind(&columns.percents)
        .bind(&columns.thresholds)
        .bind(&columns.messages)
        .bind(&columns.dedupe_keys)
        .bind(&columns.created_at)
        .fetch_all(&mut *tx)
        .await?;
        let recorded = rows
            .into_iter()
            .map(AlertRow::into_record)
            .collect::<Result<Vec<_>, _>>()?;
        if !recorded.is_empty() {
            self.count_statements(1);
            let (ids, tenants): (Vec<i64>, Vec<&str>) = recorded
                .iter()
                .map(|a| (a.alert_id, a.tenant_id.as_str()))
                .unzip();
            sqlx::query(
                "INSERT INTO notification_deliveries (alert_id, target_id) \
                 SELECT a.alert_id, n.target_id FROM UNNEST($1::bigint[], $2::text[]) AS a(alert_id, tenant_id) \
                 JOIN notification_targets n ON n.tenant_id = a.tenant_id AND n.removed_at IS NULL \
                 ORDER BY a.alert_id, n.target_id FOR SHARE OF n",
            )
            .bind(&ids)
            .bind(&tenants)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(recorded)
    }

    /// Records many tenants' evaluated statuses with their fingerprints: one statement. A
    /// row already holding a later evaluation is left as it is.
    pub(crate) async fn upsert_statuses(&self, rows: &StatusRows) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.count_statements(1);
        sqlx::query(
            "INSERT INTO tenant_status (tenant_id, spend_micros, max_budget_micros, percent_used, state, \
             reset_time, fetch_time, eval_fingerprint, run_out_time) \
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::float8[], $5::text[], \
             $6::timestamptz[], $7::timestamptz[], $8::text[], $9::timestamptz[]) \
             ON CONFLICT (tenant_id) DO UPDATE SET spend_micros = EXCLUDED.spend_micros, \
             max_budget_micros = EXCLUDED.max_budget_micros, percent_used = EXCLUDED.percent_used, \
             state = EXCLUDED.state, reset_time = EXCLUDED.reset_time, fetch_time = EXCLUDED.fetch_time, \
             eval_fingerprint = EXCLUDED.eval_fingerprint, run_out_time = EXCLUDED.run_out_time \
             WHERE tenant_status.fetch_time <= EXCLUDED.fetch_time",
        )
        .bind(&rows.tenant_ids)
        .bind(&rows.spends)
        .bind(&rows.max_budgets)
        .bind(&rows.percents)
        .bind(&rows.states)
        .bind(&rows.reset_times)
        .bind(&rows.fetch_times)
        .bind(&rows.fingerprints)
        .bind(&rows.run_out_times)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks the statuses of tenants whose inputs did not change as evaluated at `now`: one
    /// statement. A row whose fingerprint changed meanwhile (another writer) is left alone.
    pub(crate) async fn touch_statuses(
        &self,
        unchanged: &[(TenantId, String)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if unchanged.is_empty() {
            return Ok(());
        }
        self.count_statements(1);
        let (ids, fingerprints): (Vec<&str>, Vec<&str>) = unchanged
            .iter()
            .map(|(id, fingerprint)| (id.as_str(), fingerprint.as_str()))
            .unzip();
        sqlx::query(
            "UPDATE tenant_status s SET fetch_time = $3 \
             FROM UNNEST($1::text[], $2::text[]) AS u(tenant_id, fingerprint) \
             WHERE s.tenant_id = u.tenant_id AND s.eval_fingerprint = u.fingerprint AND s.fetch_time < $3",
        )
        .bind(&ids)
        .bind(&fingerprints)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// New alerts as column arrays.
#[derive(Default)]
struct AlertColumns {
    tenant_ids: Vec<String>,
    kinds: Vec<&'static str>,
    spends: Vec<i64>,
    max_budgets: Vec<i64>,
    percents: Vec<f64>,
    thresholds: Vec<i32>,
    messages: Vec<String>,
    dedupe_keys: Vec<String>,
    created_at: Vec<Option<DateTime<Utc>>>,
}

impl AlertColumns {
    fn push(&mut self, alert: &NewAlert) {
        self.tenant_ids.push(alert.tenant_id.as_str().to_owned());
        self.kinds.push(alert.kind.as_str());
        self.spends.push(alert.spend_micros);
        self.max_budgets.push(alert.max_budget_micros);
        self.percents.push(alert.percent);
        self.thresholds.push(alert.threshold_percent);
        self.messages.push(alert.message.clone());
        self.dedupe_keys.push(alert.dedupe_key.clone());
        self.created_at.push(alert.created_at);
    }
}
