//! Spend per tenant, UTC day and model (`model_spend`): written beside the daily history
//! from LiteLLM's daily activity, read for the period's top models and the daily-spend CSV.
//! The "other models" entry is stored with the model `''`, which no real model name is.

use chrono::NaiveDate;

use super::{Store, StoreError};
use crate::domain::{ModelSpend, TenantId};

/// How the "other models" entry is stored.
const OTHER_MODELS: &str = "";

/// A tenant-day's spend by model, as read from LiteLLM (already capped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DayModels {
    pub tenant_id: TenantId,
    pub day: NaiveDate,
    pub models: Vec<ModelSpend>,
}

impl Store {
    /// Replaces the stored models of every tenant-day in `days` (a model gone from a
    /// day's top list is not left behind) in one transaction of two batched statements.
    /// With `only_if_loaded`, tenants whose history was never loaded are left alone (their
    /// first history load writes every day). Each tenant-day may appear once. One statement
    /// when no day has a model, else four (BEGIN, DELETE, INSERT, COMMIT).
    pub(crate) async fn upsert_model_spend(
        &self,
        days: &[DayModels],
        only_if_loaded: bool,
    ) -> Result<(), StoreError> {
        if days.is_empty() {
            return Ok(());
        }
        let (day_tenants, day_dates): (Vec<&str>, Vec<NaiveDate>) =
            days.iter().map(|d| (d.tenant_id.as_str(), d.day)).unzip();
        let rows = days
            .iter()
            .flat_map(|d| d.models.iter().map(move |m| (d, m)));
        let (mut tenants, mut dates, mut models, mut spends) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (day, model) in rows {
            tenants.push(day.tenant_id.as_str());
            dates.push(day.day);
            models.push(model.model.as_deref().unwrap_or(OTHER_MODELS));
            spends.push(model.spend_micros);
        }
        let delete = sqlx::query(
            "DELETE FROM model_spend m USING UNNEST($1::text[], $2::date[]) AS u(t, d) \
             WHERE m.tenant_id = u.t AND m.day = u.d AND (NOT $3 OR EXISTS \
               (SELECT 1 FROM tenants WHERE tenant_id = u.t AND history_loaded_at IS NOT NULL))",
        )
        .bind(&day_tenants)
        .bind(&day_dates)
        .bind(only_if_loaded);
        if tenants.is_empty() {
            // Idle tenant-days (the evaluator's usual case) cost one statement.
            self.count_statements(1);
            delete.execute(&self.pool).await?;
            return Ok(());
        }
        let mut tx = self.begin().await?;
        self.count_statements(2);
        delete.execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO model_spend (tenant_id, day, model, spend_micros) \
             SELECT t, d, m, s FROM UNNEST($1::text[], $2::date[], $3::text[], $4::bigint[]) AS u(t, d, m, s) \
             WHERE NOT $5 OR EXISTS \
               (SELECT 1 FROM tenants WHERE tenant_id = u.t AND history_loaded_at IS NOT NULL) \
             ON CONFLICT (tenant_id, day, model) DO UPDATE SET spend_micros = EXCLUDED.spend_micros, updated_at = now()",
        )
        .bind(&tenants)
        .bind(&dates)
        .bind(&models)
        .bind(&spends)
        .bind(only_if_loaded)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tenant's spend by model from `since` through today, summed per model (sums held
    /// at `i64::MAX`), in no particular order.
    pub(crate) async fn model_spend_since(
        &self,
        id: &TenantId,
        since: NaiveDate,
    ) -> Result<Vec<ModelSpend>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT model, LEAST(sum(spend_micros), 9223372036854775807)::bigint \
             FROM model_spend WHERE tenant_id = $1 AND day >= $2 GROUP BY model",
        )
        .bind(id.as_str())
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(model_spend).collect())
    }

    /// Stored spend by model for the days `start..=end`: by day, most spend first, "other
    /// models" last in its day.
    pub(crate) async fn model_spend_between(
        &self,
        id: &TenantId,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<(NaiveDate, ModelSpend)>, StoreError> {
        let rows: Vec<(NaiveDate, String, i64)> = sqlx::query_as(
            "SELECT day, model, spend_micros FROM model_spend \
             WHERE tenant_id = $1 AND day >= $2 AND day <= $3 \
             ORDER BY day, model = '', spend_micros DESC, model",
        )
        .bind(id.as_str())
        .bind(start)
        .bind(end)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(day, model, spend)| (day, model_spend((model, spend))))
            .collect())
    }
}

fn model_spend((model, spend_micros): (String, i64)) -> ModelSpend {
    if model == OTHER_MODELS {
        ModelSpend::other(spend_micros)
    } else {
        ModelSpend::named(model, spend_micros)
    }
}
