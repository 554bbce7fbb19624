//! The fleet: ListTenants' pages in every order it offers, and GetFleetSummary's figures, all
//! read from the evaluator's `tenant_status` (never LiteLLM).

use super::rows::{self, TenantPageRow, TenantStatusRow};
use super::{Store, StoreError, escape_like};
use crate::domain::{EvaluatedStatus, FleetState, Tenant, TenantConfig, TenantId};

/// The columns ListTenants can order by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TenantSortKey {
    TenantId,
    Spend,
    MaxBudget,
    PercentUsed,
    /// By fleet state severity: ok, warning, grace, blocked, suspended.
    State,
}

/// How ListTenants orders tenants: a column, then the tenant id in the same direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TenantOrder {
    pub key: TenantSortKey,
    pub descending: bool,
}

/// The name `fleet_state_sql!` gives a fleet state.
fn fleet_state_name(state: FleetState) -> &'static str {
    match state {
        FleetState::Ok => "ok",
        FleetState::Warning => "warning",
        FleetState::Grace => "grace",
        FleetState::Blocked => "blocked",
        FleetState::Suspended => "suspended",
        FleetState::Unavailable => "unavailable",
    }
}

/// Where a ListTenants page starts: the last row's sort values and id. An order sorts on one
/// integer or one float (the other is 0 throughout), so one statement shape serves them all.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TenantCursor {
    pub sort_int: i64,
    pub sort_float: f64,
    pub tenant_id: String,
}

/// A tenant in the list, with the position a page after it starts from.
pub(crate) type TenantListed = (Tenant, TenantConfig, Option<EvaluatedStatus>, TenantCursor);

/// GetFleetSummary's figures for live tenants.
#[derive(Clone, Debug, Default, PartialEq, sqlx::FromRow)]
pub(crate) struct FleetTotals {
    pub ok: i64,
    pub warning: i64,
    pub grace: i64,
    pub blocked: i64,
    pub suspended: i64,
    pub unavailable: i64,
    /// Tenants with an evaluated status, which the sums cover.
    pub evaluated: i64,
    /// Held within i64 (the sum itself is NUMERIC, so it never overflows).
    pub spend_micros: i64,
    pub budget_micros: i64,
    /// Tenants, not suspended, the forecast expects to reach their budget before their reset.
    pub runs_out: i64,
}

/// A tenant's fleet state name, over `tenants t` and `tenant_status s`.
macro_rules! fleet_state_sql {
    () => {
        "CASE WHEN t.suspended_at IS NOT NULL THEN 'suspended' ELSE COALESCE(s.state, 'unavailable') END"
    };
}

/// A tenant with its settings and latest status (the columns `TenantStatusRow` reads), its
/// fleet state, then the `$tail` pieces (literals, or macros that expand to them).
macro_rules! tenant_status_sql {
    ($($tail:expr),*) => {
        concat!(
            tenant_columns_sql!(),
            "FROM tenants t JOIN tenant_configs c USING (tenant_id) LEFT JOIN tenant_status s USING (tenant_id) ",
            $($tail),*
        )
    };
}

/// The columns `TenantStatusRow` reads and the fleet state, over `tenants t`,
/// `tenant_configs c` and `tenant_status s`.
macro_rules! tenant_columns_sql {
    () => {
        concat!(
            "SELECT t.tenant_id, t.display_name, t.key_alias, t.key_hash, t.created_at, ",
            "t.deleted_at, t.suspended_at, ",
            "c.max_budget_micros, c.alert_threshold_percent, c.grace_threshold_percent, c.budget_duration, ",
            "c.version, c.updated_at, c.budget_reset_at, ",
            "s.spend_micros AS status_spend_micros, s.percent_used AS status_percent_used, ",
            "s.state AS status_state, s.reset_time AS status_reset_time, s.fetch_time AS status_fetch_time, ",
            "s.run_out_time AS status_run_out_time, ",
            fleet_state_sql!(),
            " AS fleet_state "
        )
    };
}

/// The filters every ListTenants statement applies, numbered from `$1`: $1 LIKE pattern, then
/// `$only` only this tenant, `$deleted` with deleted tenants, `$state` only this fleet state.
macro_rules! tenant_filters_sql {
    ($only:literal, $deleted:literal, $state:literal) => {
        concat!(
            "(t.tenant_id LIKE $1 OR lower(t.display_name) LIKE $1) ",
            "AND (",
            $only,
            "::text IS NULL OR t.tenant_id = ",
            $only,
            ") ",
            "AND (",
            $deleted,
            " OR t.deleted_at IS NULL) ",
            "AND (",
            $state,
            "::text IS NULL OR ",
            fleet_state_sql!(),
            " = ",
            $state,
            ") "
        )
    };
}

/// A page of evaluated tenants by percent used, walking `tenant_status_percent` from the
/// keyset position: $2 last tenant id, $3 last percent (the first page passes ±Infinity, which
/// no finite percent reaches), $4 limit, then the filters ($5..$7).
macro_rules! percent_page_sql {
    ($after:literal, $dir:literal) => {
        concat!(
            tenant_columns_sql!(),
            ", 0::int8 AS sort_int, s.percent_used AS sort_float ",
            "FROM tenant_status s JOIN tenants t USING (tenant_id) JOIN tenant_configs c USING (tenant_id) ",
            "WHERE (s.percent_used, s.tenant_id) ", $after, " ($3::float8, $2::text) AND ",
            tenant_filters_sql!("$5", "$6", "$7"),
            "ORDER BY s.percent_used ", $dir, ", s.tenant_id ", $dir, " LIMIT $4"
        )
    };
}

/// The tenants never evaluated (no status), which sort after every evaluated one by percent,
/// as `$sentinel`, by tenant id: $2 last tenant id (NULL: from the first), $3 limit, then the
/// filters ($4..$6).
macro_rules! unevaluated_page_sql {
    ($after:literal, $dir:literal, $sentinel:literal) => {
        concat!(
            tenant_columns_sql!(),
            ", 0::int8 AS sort_int, ", $sentinel, "::float8 AS sort_float ",
            "FROM tenants t JOIN tenant_configs c USING (tenant_id) LEFT JOIN tenant_status s USING (tenant_id) ",
            "WHERE s.tenant_id IS NULL AND ($2::text IS NULL OR t.tenant_id ", $after, " $2) AND ",
            tenant_filters_sql!("$4", "$5", "$6"),
            "ORDER BY t.tenant_id ", $dir, " LIMIT $3"
        )
    };
}

/// One ListTenants page ordered by `($int, $float, tenant_id)` in direction `$dir` (`$after` is
/// the keyset comparison that goes with it). Parameters: $1 LIKE pattern, $2 last tenant id
/// (NULL: first page), $3 last integer, $4 last float, $5 limit, $6 only this tenant, $7 with
/// deleted tenants, $8 only this fleet state.
macro_rules! tenant_page_sql {
    ($int:literal, $float:literal, $after:literal, $dir:literal) => {
        tenant_page_sql!($int, $float, $after, $dir, "")
    };
    // `$bound`: the keyset again on the tenant id alone, for the orders by tenant id, so
    // PostgreSQL starts the page in the primary key's index instead of filtering up to it.
    ($int:literal, $float:literal, $after:literal, $dir:literal, $bound:literal) => {
        concat!(
            "SELECT * FROM (",
            tenant_status_sql!("WHERE ", tenant_filters_sql!("$6", "$7", "$8")),
            ") f, LATERAL (SELECT ",
            "(",
            $int,
            ")::int8 AS sort_int, (",
            $float,
            ")::float8 AS sort_float) k ",
            "WHERE ($2::text IS NULL OR (k.sort_int, k.sort_float, f.tenant_id) ",
            $after,
            " ($3::int8, $4::float8, $2)) ",
            $bound,
            "ORDER BY k.sort_int ",
            $dir,
            ", k.sort_float ",
            $dir,
            ", f.tenant_id ",
            $dir,
            " LIMIT $5"
        )
    };
}

/// How one order's pages are read.
enum Statements {
    /// One statement (`tenant_page_sql!`).
    One(&'static str),
    /// By percent used, in two parts so a page is a walk of `tenant_status_percent`, however
    /// large the fleet: the evaluated tenants from the keyset position (`first` on the first
    /// page), then, once they run out, the never-evaluated ones, which all sort as
    /// `unevaluated_sorts_as` (after every evaluated tenant in either direction).
    ByPercent {
        evaluated: &'static str,
        unevaluated: &'static str,
        first: f64,
        unevaluated_sorts_as: f64,
    },
}

/// The statements for one order. Tenants not yet evaluated sort as the extreme value
/// (i64::MAX ascending, i64::MIN descending; state ranks ok 1 … suspended 5; percent
/// Infinity ascending), so they come last in either direction. Percent descending keeps -1 for
/// them, as the page tokens handed out before the other orders existed say.
fn page_sql(order: TenantOrder) -> Statements {
    use TenantSortKey::*;
    Statements::One(match (order.key, order.descending) {
        (TenantId, false) => tenant_page_sql!(
            "0",
            "0",
            ">",
            "ASC",
            "AND ($2::text IS NULL OR f.tenant_id > $2) "
        ),
        (TenantId, true) => tenant_page_sql!(
            "0",
            "0",
            "<",
            "DESC",
            "AND ($2::text IS NULL OR f.tenant_id < $2) "
        ),
        (Spend, false) => tenant_page_sql!(
            "COALESCE(f.status_spend_micros, 9223372036854775807)",
            "0",
            ">",
            "ASC"
        ),
        (Spend, true) => tenant_page_sql!(
            "COALESCE(f.status_spend_micros, -9223372036854775807 - 1)",
            "0",
            "<",
            "DESC"
        ),
        (MaxBudget, false) => tenant_page_sql!("f.max_budget_micros", "0", ">", "ASC"),
        (MaxBudget, true) => tenant_page_sql!("f.max_budget_micros", "0", "<", "DESC"),
        (PercentUsed, false) => {
            return Statements::ByPercent {
                evaluated: percent_page_sql!(">", "ASC"),
                unevaluated: unevaluated_page_sql!(">", "ASC", "'Infinity'"),
                first: f64::NEG_INFINITY,
                unevaluated_sorts_as: f64::INFINITY,
            };
        }
        (PercentUsed, true) => {
            return Statements::ByPercent {
                evaluated: percent_page_sql!("<", "DESC"),
                unevaluated: unevaluated_page_sql!("<", "DESC", "-1"),
                first: f64::INFINITY,
                unevaluated_sorts_as: -1.0,
            };
        }
        (State, false) => tenant_page_sql!(
            "CASE f.fleet_state WHEN 'ok' THEN 1 WHEN 'warning' THEN 2 WHEN 'grace' THEN 3 \
             WHEN 'blocked' THEN 4 WHEN 'suspended' THEN 5 ELSE 9223372036854775807 END",
            "0",
            ">",
            "ASC"
        ),
        (State, true) => tenant_page_sql!(
            "CASE f.fleet_state WHEN 'ok' THEN 1 WHEN 'warning' THEN 2 WHEN 'grace' THEN 3 \
             WHEN 'blocked' THEN 4 WHEN 'suspended' THEN 5 ELSE -9223372036854775807 - 1 END",
            "0",
            "<",
            "DESC"
        ),
    })
}

/// GetFleetSummary's counts and sums in one pass over live tenants. Sums are NUMERIC in
/// PostgreSQL (no overflow however many tenants) and held within i64 when returned.
const FLEET_TOTALS_SQL: &str = concat!(
    "SELECT count(*) FILTER (WHERE fs = 'ok') AS ok, ",
    "count(*) FILTER (WHERE fs = 'warning') AS warning, ",
    "count(*) FILTER (WHERE fs = 'grace') AS grace, ",
    "count(*) FILTER (WHERE fs = 'blocked') AS blocked, ",
    "count(*) FILTER (WHERE fs = 'suspended') AS suspended, ",
    "count(*) FILTER (WHERE fs = 'unavailable') AS unavailable, ",
    "count(spend_micros) AS evaluated, ",
    "LEAST(GREATEST(COALESCE(sum(spend_micros), 0), -9223372036854775808), 9223372036854775807)::int8 AS spend_micros, ",
    "LEAST(GREATEST(COALESCE(sum(max_budget_micros), 0), -9223372036854775808), 9223372036854775807)::int8 AS budget_micros, ",
    "count(*) FILTER (WHERE run_out_time IS NOT NULL AND fs <> 'suspended') AS runs_out ",
    "FROM (SELECT ",
    fleet_state_sql!(),
    " AS fs, s.spend_micros, s.max_budget_micros, s.run_out_time ",
    "FROM tenants t LEFT JOIN tenant_status s USING (tenant_id) WHERE t.deleted_at IS NULL) fleet"
);

impl Store {
    /// A page of tenants with their settings and latest evaluated status, in `order`;
    /// deleted tenants only when `include_deleted`, one fleet state only when `state` is set.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn list_tenant_statuses(
        &self,
        only: Option<&TenantId>,
        filter: &str,
        state: Option<FleetState>,
        order: TenantOrder,
        cursor: Option<&TenantCursor>,
        limit: i64,
        include_deleted: bool,
    ) -> Result<Vec<TenantListed>, StoreError> {
        let pattern = format!("{}%", escape_like(&filter.to_lowercase()));
        let only = only.map(TenantId::as_str);
        let state = state.map(fleet_state_name);
        // Each statement is planned for this page's own values (`persistent(false)`): a
        // cached generic plan cannot turn the optional filters and the first page's absent
        // cursor into index bounds, and would read the fleet from its first row every page.
        let rows: Vec<TenantPageRow> = match page_sql(order) {
            Statements::One(sql) => {
                sqlx::query_as(sql)
                    .persistent(false)
                    .bind(pattern)
                    .bind(cursor.map(|c| c.tenant_id.as_str()))
                    .bind(cursor.map_or(0, |c| c.sort_int))
                    .bind(cursor.map_or(0.0, |c| c.sort_float))
                    .bind(limit)
                    .bind(only)
                    .bind(include_deleted)
                    .bind(state)
                    .fetch_all(&self.pool)
                    .await?
            }
            Statements::ByPercent {
                evaluated,
                unevaluated,
                first,
                unevaluated_sorts_as,
            } => {
                let in_unevaluated = cursor.is_some_and(|c| c.sort_float == unevaluated_sorts_as);
                let mut rows: Vec<TenantPageRow> = Vec::new();
                if !in_unevaluated {
                    rows = sqlx::query_as(evaluated)
                        .persistent(false)
                        .bind(&pattern)
                        .bind(cursor.map_or("", |c| c.tenant_id.as_str()))
                        .bind(cursor.map_or(first, |c| c.sort_float))
                        .bind(limit)
                        .bind(only)
                        .bind(include_deleted)
                        .bind(state)
                        .fetch_all(&self.pool)
                        .await?;
                }
                let missing = limit.saturating_sub(rows.len() as i64);
                if missing > 0 {
                    let rest: Vec<TenantPageRow> = sqlx::query_as(unevaluated)
                        .persistent(false)
                        .bind(&pattern)
                        .bind(
                            cursor
                                .filter(|_| in_unevaluated)
                                .map(|c| c.tenant_id.as_str()),
                        )
                        .bind(missing)
                        .bind(only)
                        .bind(include_deleted)
                        .bind(state)
                        .fetch_all(&self.pool)
                        .await?;
                    rows.extend(rest);
                }
                rows
            }
        };
        rows.into_iter()
            .map(|row| {
                let cursor = TenantCursor {
                    sort_int: row.sort_int,
                    sort_float: row.sort_float,
                    tenant_id: row.status.tenant_id().to_owned(),
                };
                let (tenant, config, status) = row.status.split()?;
                Ok((tenant, config, status, cursor))
            })
            .collect()
    }

    /// The fleet's counts by state and its spend and budget totals: one statement.
    pub(crate) async fn fleet_totals(&self) -> Result<FleetTotals, StoreError> {
        Ok(sqlx::query_as(FLEET_TOTALS_SQL)
            .fetch_one(&self.pool)
            .await?)
    }

    /// The first `limit` live, unsuspended tenants the forecast expects to reach their budget
    /// before their reset, soonest first.
    pub(crate) async fn soonest_run_outs(
        &self,
        limit: i64,
    ) -> Result<Vec<(Tenant, TenantConfig, Option<EvaluatedStatus>)>, StoreError> {
        let rows: Vec<TenantStatusRow> = sqlx::query_as(tenant_status_sql!(
            "WHERE s.run_out_time IS NOT NULL AND t.deleted_at IS NULL AND t.suspended_at IS NULL \
             ORDER BY s.run_out_time, t.tenant_id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(rows::TenantStatusRow::split).collect()
    }
}
