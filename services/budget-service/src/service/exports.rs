//! CSV exports of a tenant's daily spend, alerts and audit events for a range of UTC days.

use crate::domain::budget::BudgetSettings;
use crate::domain::export::{self, CsvWriter, DateRange, ExportKind, dollars, iso_time};
use crate::domain::{Alert, AuditEvent};
use crate::domain::{FieldViolation, Violations};
use crate::error::BudgetError;

use super::Budgets;
use super::shared::tenant_and;

/// An export ready to download.
#[derive(Clone, Debug)]
pub(crate) struct Export {
    pub filename: String,
    pub csv: String,
}

impl Budgets {
    /// The tenant's `kind` data for the UTC days `start_date..=end_date` as CSV. `kind` is
    /// `None` when the caller sent none (a field violation).
    pub(crate) async fn export(
        &self,
        tenant_id: &str,
        kind: Option<ExportKind>,
        start_date: &str,
        end_date: &str,
    ) -> Result<Export, BudgetError> {
        let mut violations = Violations::default();
        let kind = violations.take(kind.ok_or_else(|| {
            FieldViolation::new("kind", "Kind must be daily spend, alerts or audit events")
        }));
        let range = violations.take(DateRange::parse(start_date, end_date));
        let (id, (kind, range)) = tenant_and(tenant_id, violations.finish(kind.zip(range)))?;
        self.tenant_config(&id).await?;
        let (from, to) = range.bounds();
        let csv = match kind {
            ExportKind::DailySpend => {
                let days = self
                    .store
                    .daily_spend_between(&id, range.start, range.end)
                    .await?;
                let models = self
                    .store
                    .model_spend_between(&id, range.start, range.end)
                    .await?;
                export::daily_spend_csv(&range, &days, &models)
            }
            ExportKind::Alerts => alerts_csv(&self.store.alerts_between(&id, from, to).await?),
            ExportKind::AuditEvents => audit_csv(&self.store.audit_between(&id, from, to).await?),
        };
        Ok(Export {
            filename: export::file_name(id.as_str(), kind, &range),
            csv,
        })
    }
}

fn alerts_csv(alerts: &[Alert]) -> String {
    let mut csv = CsvWriter::with_header(&[
        "alert_id",
        "created_at",
        "type",
        "spend_usd",
        "max_budget_usd",
        "percent",
        "threshold_percent",
        "message",
    ]);
    for a in alerts {
        csv.row(&[
            a.alert_id.to_string(),
            iso_time(a.created_at),
            a.kind.as_str().to_owned(),
            dollars(a.spend_micros),
            dollars(a.max_budget_micros),
            format!("{:.2}", a.percent),
            a.threshold_percent.to_string(),
            a.message.clone(),
        ]);
    }
    csv.finish()
}

const SETTINGS_COLUMNS: [&str; 4] = [
    "max_budget_usd",
    "alert_threshold_percent",
    "grace_threshold_percent",
    "budget_duration",
];

fn settings_fields(settings: Option<&BudgetSettings>) -> [String; 4] {
    match settings {
        None => Default::default(),
        Some(s) => [
            dollars(s.max_budget_micros),
            s.alert_threshold_percent.to_string(),
            s.grace_threshold_percent.to_string(),
            s.budget_duration.as_str().to_owned(),
        ],
    }
}

fn audit_csv(events: &[AuditEvent]) -> String {
    let mut header = vec![
        "event_id".to_owned(),
        "created_at".to_owned(),
        "actor".to_owned(),
        "action".to_owned(),
    ];
    header.extend(SETTINGS_COLUMNS.iter().map(|c| format!("old_{c}")));
    header.extend(SETTINGS_COLUMNS.iter().map(|c| format!("new_{c}")));
    header.push("detail".to_owned());
    let mut csv = CsvWriter::default();
    csv.row(&header);
    for e in events {
        let mut row = vec![
            e.event_id.to_string(),
            iso_time(e.created_at),
            e.actor.clone(),
            e.action.clone(),
        ];
        row.extend(settings_fields(e.old.as_ref()));
        row.extend(settings_fields(e.new.as_ref()));
        row.push(e.detail.clone().unwrap_or_default());
        csv.row(&row);
    }
    csv.finish()
}
