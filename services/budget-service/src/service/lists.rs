//! ListTenants, ListAlerts and ListAuditEvents: pages in a stable order with opaque tokens.

use super::Budgets;
use super::shared::parse_tenant;
use crate::domain::{
    Alert, AuditEvent, Delivery, EvaluatedStatus, FieldViolation, FleetState, Tenant, TenantConfig,
    TenantId, is_short_text,
};
use crate::error::BudgetError;
use crate::paging;
use crate::store::{TenantCursor, TenantOrder, TenantSortKey};

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
    /// listing never calls LiteLLM) in the order `order_by` names (see [`tenant_order`]);
    /// deleted tenants too when `include_deleted`, one fleet state only when `state` is set.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn list_tenants(
        &self,
        scope: Option<&TenantId>,
        filter: &str,
        state: Option<FleetState>,
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
        let order = tenant_order(order_by)?;
        let cursor = decode_tenant_cursor(order, page_token)?;
        let mut rows = self
            .store
            .list_tenant_statuses(
                scope,
                filter,
                state,
                order,
                cursor.as_ref(),
                limit + 1,
                include_deleted,
            )
            .await?;
        let next_page_token = next_token(&mut rows, limit, |(_, _, _, cursor)| {
            encode_tenant_cursor(order, cursor)
        });
        let items = rows
            .into_iter()
            .map(|(tenant, config, status, _)| TenantOverview {
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

/// The columns ListTenants orders by, by their names in `order_by`.
const TENANT_SORT_KEYS: [(&str, TenantSortKey); 5] = [
    ("tenant_id", TenantSortKey::TenantId),
    ("spend_micros", TenantSortKey::Spend),
    ("max_budget_micros", TenantSortKey::MaxBudget),
    ("percent_used", TenantSortKey::PercentUsed),
    ("state", TenantSortKey::State),
];

/// Parses ListTenants' `order_by`: a column name, optionally followed by "asc" or "desc"
/// (AIP-132); empty is "tenant_id".
fn tenant_order(order_by: &str) -> Result<TenantOrder, FieldViolation> {
    let mut words = order_by.split_whitespace();
    let (column, direction) = (words.next().unwrap_or("tenant_id"), words.next());
    let key = TENANT_SORT_KEYS
        .iter()
        .find(|(name, _)| *name == column)
        .map(|(_, key)| *key);
    let descending = match direction {
        None | Some("asc") => Some(false),
        Some("desc") => Some(true),
        Some(_) => None,
    };
    match (key, descending, words.next()) {
        (Some(key), Some(descending), None) => Ok(TenantOrder { key, descending }),
        _ => Err(FieldViolation::new(
            "order_by",
            "Order must be tenant_id, spend_micros, max_budget_micros, percent_used or state, \
             optionally followed by \"desc\" (for example \"percent_used desc\")",
        )),
    }
}

/// The page token kind of an order, so a token only continues the order it was made for.
/// ("tenants" and "tenants-by-percent" are what tokens were called when those were the only
/// orders, so tokens handed out then still work.)
fn token_kind(order: TenantOrder) -> &'static str {
    use TenantSortKey::*;
    match (order.key, order.descending) {
        (TenantId, false) => "tenants",
        (TenantId, true) => "tenants-desc",
        (Spend, false) => "tenants-by-spend",
        (Spend, true) => "tenants-by-spend-desc",
        (MaxBudget, false) => "tenants-by-budget",
        (MaxBudget, true) => "tenants-by-budget-desc",
        (PercentUsed, false) => "tenants-by-percent-asc",
        (PercentUsed, true) => "tenants-by-percent",
        (State, false) => "tenants-by-state",
        (State, true) => "tenants-by-state-desc",
    }
}

/// The token after `cursor`: the tenant id, preceded by the one value the order sorts on.
fn encode_tenant_cursor(order: TenantOrder, cursor: &TenantCursor) -> String {
    let id = &cursor.tenant_id;
    let key = match order.key {
        TenantSortKey::TenantId => id.clone(),
        TenantSortKey::PercentUsed => format!("{}:{id}", cursor.sort_float),
        TenantSortKey::Spend | TenantSortKey::MaxBudget | TenantSortKey::State => {
            format!("{}:{id}", cursor.sort_int)
        }
    };
    paging::encode_key(token_kind(order), &key)
}

/// Decodes a token made by [`encode_tenant_cursor`] for the same order.
fn decode_tenant_cursor(
    order: TenantOrder,
    token: &str,
) -> Result<Option<TenantCursor>, FieldViolation> {
    let Some(key) = paging::decode_key(token_kind(order), token)? else {
        return Ok(None);
    };
    let cursor = |sort_int, sort_float, id: &str| TenantCursor {
        sort_int,
        sort_float,
        tenant_id: id.to_owned(),
    };
    let parsed = match order.key {
        TenantSortKey::TenantId => Some(cursor(0, 0.0, &key)),
        TenantSortKey::PercentUsed => key
            .split_once(':')
            .and_then(|(value, id)| Some(cursor(0, value.parse().ok()?, id))),
        TenantSortKey::Spend | TenantSortKey::MaxBudget | TenantSortKey::State => key
            .split_once(':')
            .and_then(|(value, id)| Some(cursor(value.parse().ok()?, 0.0, id))),
    };
    parsed.map(Some).ok_or_else(|| {
        FieldViolation::new(
            "page_token",
            "Page token is invalid; start again from the first page",
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_a_column_and_an_optional_direction() {
        let order = |key, descending| Ok(TenantOrder { key, descending });
        assert_eq!(tenant_order(""), order(TenantSortKey::TenantId, false));
        assert_eq!(
            tenant_order(" percent_used  desc "),
            order(TenantSortKey::PercentUsed, true)
        );
        assert_eq!(
            tenant_order("spend_micros asc"),
            order(TenantSortKey::Spend, false)
        );
        assert_eq!(
            tenant_order("state desc"),
            order(TenantSortKey::State, true)
        );
        for bad in [
            "desc",
            "state DESC",
            "state desc desc",
            "spend",
            "tenant_id up",
        ] {
            assert_eq!(
                tenant_order(bad).map_err(|v| v.field),
                Err("order_by".to_owned()),
                "{bad}"
            );
        }
    }

    #[test]
    fn each_order_reads_only_its_own_tokens() {
        let orders: Vec<TenantOrder> = TENANT_SORT_KEYS
            .iter()
            .flat_map(|(_, key)| {
                [false, true].map(|descending| TenantOrder {
                    key: *key,
                    descending,
                })
            })
            .collect();
        let cursor = TenantCursor {
            sort_int: -7,
            sort_float: f64::INFINITY,
            tenant_id: "acme".into(),
        };
        for order in &orders {
            let token = encode_tenant_cursor(*order, &cursor);
            let back = decode_tenant_cursor(*order, &token).unwrap().unwrap();
            assert_eq!(back.tenant_id, "acme", "{order:?}");
            match order.key {
                TenantSortKey::TenantId => assert_eq!((back.sort_int, back.sort_float), (0, 0.0)),
                TenantSortKey::PercentUsed => {
                    assert_eq!((back.sort_int, back.sort_float), (0, f64::INFINITY))
                }
                _ => assert_eq!((back.sort_int, back.sort_float), (-7, 0.0)),
            }
            for other in orders.iter().filter(|o| *o != order) {
                assert!(
                    decode_tenant_cursor(*other, &token).is_err(),
                    "{order:?} in {other:?}"
                );
            }
        }
        // Tokens from before the other orders existed still continue theirs.
        let old = paging::encode_key("tenants-by-percent", "42.5:acme");
        let percent_desc = TenantOrder {
            key: TenantSortKey::PercentUsed,
            descending: true,
        };
        let back = decode_tenant_cursor(percent_desc, &old).unwrap().unwrap();
        assert_eq!((back.sort_float, back.tenant_id.as_str()), (42.5, "acme"));
    }
}
