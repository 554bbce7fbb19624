//! ListTenants, ListAlerts and ListAuditEvents: pages in a stable order with opaque tokens.

use super::Budgets;
use super::shared::parse_tenant;
use crate::domain::{
    Alert, AuditEvent, Delivery, EvaluatedStatus, FieldViolation, Tenant, TenantConfig, TenantId,
    is_short_text,
};
use crate::error::BudgetError;
use crate::paging;
use crate::store::{TenantCursor, TenantOrder};

/// One page of a list.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}

/// A tenant in the fleet list, with its status when LiteLLM could be read.
#[derive(Clone, Debug)]
pub(crate) struct TenantOverview {
    pub tenant: Tenant,
    pub config: TenantConfig,
    /// The evaluator's latest reading; `None` before the tenant was first evaluated.
    pub status: Option<EvaluatedStatus>,
}

/// An alert with the state of its notifications, one per target.
#[derive(Clone, Debug)]
pub(crate) struct AlertEntry {
    pub alert: Alert,
    pub deliveries: Vec<Delivery>,
}

pub(super) const ALERTS_PAGE: (i64, i64) = (10, 100);
pub(super) const TENANTS_PAGE: (i64, i64) = (50, 500);
pub(super) const AUDIT_PAGE: (i64, i64) = (50, 500);

impl Budgets {
    /// A page of tenants with their latest evaluated status (from the evaluator's table, so
    /// listing never calls LiteLLM), ordered by "tenant_id" (default) or "percent_used desc";
    /// deleted tenants too when `include_deleted`.
    pub(crate) async fn list_tenants(
        &self,
        scope: Option<&TenantId>,
        filter: &str,
        order_by: &str,
        page_size: i32,
        page_token: &str,
        include_deleted: bool,
    ) -> Result<Page<TenantOverview>, BudgetError> {
        let limit = paging::page_size(page_size, TENANTS_PAGE.0, TENANTS_PAGE.1)?;
        let filter = filter.trim();
        // PostgreSQL cannot compare text holding NUL, so control characters are refused here.
        if !is_short_text(filter, 200) {
            return Err(FieldViolation::new(
                "filter",
                "Filter must be at most 200 characters, without control characters",
            )
            .into());
        }
        let order = match order_by.trim() {
            "" | "tenant_id" => TenantOrder::TenantId,
            "percent_used desc" => TenantOrder::PercentUsedDesc,
            _ => {
                return Err(FieldViolation::new(
                    "order_by",
                    "Order must be \"tenant_id\" or \"percent_used desc\"",
                )
                .into());
            }
        };
        let cursor = tenant_cursor(order, page_token)?;
        let mut rows = self
            .store
            .list_tenant_statuses(
                scope,
                filter,
                order,
                cursor.as_ref(),
                limit + 1,
                include_deleted,
            )
            .await?;
        let next_page_token = next_token(&mut rows, limit, |(t, _, status)| match order {
            TenantOrder::TenantId => paging::encode_key("tenants", t.tenant_id.as_str()),
            TenantOrder::PercentUsedDesc => {
                let percent = status.as_ref().map_or(-1.0, |s| s.percent_used);
                paging::encode_key("tenants-by-percent", &format!("{percent}:{}", t.tenant_id))
            }
        });
        let items = rows
            .into_iter()
            .map(|(tenant, config, status)| TenantOverview {
                tenant,
                config,
                status,
            })
            .collect();
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// A page of the tenant's alerts, newest first, each with its deliveries, and how many
    /// alerts there are in all: one statement, one round trip to PostgreSQL.
    pub(crate) async fn list_alerts(
        &self,
        tenant_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Page<AlertEntry>, i64), BudgetError> {
        let id = parse_tenant(tenant_id)?;
        let limit = paging::page_size(page_size, ALERTS_PAGE.0, ALERTS_PAGE.1)?;
        let cursor = paging::decode_cursor("alerts", page_token)?;
        let page = self
            .store
            .alerts_page(&id, cursor, limit + 1)
            .await?
            .ok_or_else(|| BudgetError::TenantNotFound(id.clone()))?;
        let total = page.total;
        let mut items: Vec<AlertEntry> = page
            .alerts
            .into_iter()
            .map(|(alert, deliveries)| AlertEntry { alert, deliveries })
            .collect();
        let next_page_token = next_token(&mut items, limit, |entry| {
            paging::encode_cursor("alerts", (entry.alert.created_at, entry.alert.alert_id))
        });
        Ok((
            Page {
                items,
                next_page_token,
            },
            total,
        ))
    }

    /// A page of the tenant's audit events, newest first.
    pub async fn list_audit(
        &self,
        tenant_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<Page<AuditEvent>, BudgetError> {
        let id = parse_tenant(tenant_id)?;
        let limit = paging::page_size(page_size, AUDIT_PAGE.0, AUDIT_PAGE.1)?;
        let cursor = paging::decode_cursor("audit", page_token)?;
        // Deleted tenants keep a readable audit trail (their deletion is in it).
        if !self.store.tenant_ever_existed(&id).await? {
            return Err(BudgetError::TenantNotFound(id));
        }
        let mut items = self.store.list_audit(&id, cursor, limit + 1).await?;
        let next_page_token = next_token(&mut items, limit, |e| {
            paging::encode_cursor("audit", (e.created_at, e.event_id))
        });
        Ok(Page {
            items,
            next_page_token,
        })
    }
}

fn tenant_cursor(order: TenantOrder, token: &str) -> Result<Option<TenantCursor>, FieldViolation> {
    Ok(match order {
        TenantOrder::TenantId => paging::decode_key("tenants", token)?.map(TenantCursor::After),
        TenantOrder::PercentUsedDesc => match paging::decode_key("tenants-by-percent", token)? {
            None => None,
            Some(key) => {
                let parsed = key.split_once(':').and_then(|(p, id)| {
                    Some(TenantCursor::AfterPercent(p.parse().ok()?, id.to_owned()))
                });
                Some(parsed.ok_or_else(|| {
                    FieldViolation::new(
                        "page_token",
                        "Page token is invalid; start again from the first page",
                    )
                })?)
            }
        },
    })
}

/// Trims a page fetched with one extra row and returns the token for the next page.
fn next_token<T>(items: &mut Vec<T>, limit: i64, token: impl Fn(&T) -> String) -> String {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() > limit {
        items.truncate(limit);
        items.last().map(token).unwrap_or_default()
    } else {
        String::new()
    }
}
