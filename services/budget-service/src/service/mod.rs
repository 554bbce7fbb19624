//! The budget use cases: status, settings, alerts, history, tenants, audit and alert
//! notifications.
//!
//! Holds the one store, the one LiteLLM client and the caches. Knows neither protobuf
//! nor SQL; errors are [`BudgetError`].

pub mod auth;
mod evaluation;
mod exports;
mod increases;
mod invalidation;
mod lifecycle;
mod notifications;
pub mod retention;

pub use evaluation::PassReport;
pub use exports::Export;
pub use notifications::{Deliveries, DeliveryOutcome, DeliveryPolicy};

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, Utc};
use moka::future::Cache;

use crate::domain::history::MAX_HISTORY_DAYS;
use crate::domain::increase::effective_settings;
use crate::domain::{
    BudgetSettings, BudgetStatus, DailyHistory, FieldViolation, RawSettings, TenantId,
};
use crate::error::{BudgetError, KeyProblem};
use crate::litellm::{KeyBudget, KeyLimits, LiteLlmClient, LiteLlmError};
use crate::paging;
use crate::store::{
    AlertRecord, AuditRecord, ConfigRecord, DeliveryRecord, NewAudit, StatusRow, Store, StoreError,
    TenantCursor, TenantOrder, TenantRecord,
};

/// Where "now" comes from, so period and forecast logic can be tested.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Who is making a change, recorded in the audit trail.
#[derive(Clone, Debug)]
pub struct Actor(pub String);

/// One page of a list.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}

/// A tenant in the fleet list, with its status when LiteLLM could be read.
#[derive(Clone, Debug)]
pub struct TenantOverview {
    pub tenant: TenantRecord,
    pub config: ConfigRecord,
    /// The evaluator's latest reading; `None` before the tenant was first evaluated.
    pub status: Option<StatusRow>,
}

/// A new tenant, with its raw key shown this once.
#[derive(Clone, Debug)]
pub struct CreatedTenant {
    pub tenant: TenantRecord,
    pub config: ConfigRecord,
    pub virtual_key: String,
}

/// An alert with the state of its notifications, one per target.
#[derive(Clone, Debug)]
pub struct AlertEntry {
    pub alert: AlertRecord,
    pub deliveries: Vec<DeliveryRecord>,
}

/// Spend per day for the chart.
#[derive(Clone, Debug)]
pub struct SpendHistory {
    pub days: Vec<(chrono::NaiveDate, i64)>,
    pub days_with_data: u32,
}

/// The budget service's use cases.
pub struct Budgets {
    store: Store,
    litellm: LiteLlmClient,
    clock: Arc<dyn Clock>,
    statuses: Cache<TenantId, Arc<BudgetStatus>>,
    /// This service's Prometheus metrics, shared with the LiteLLM client and the servers.
    metrics: Arc<crate::metrics::Metrics>,
    /// Counts invalidations from other replicas' notifications, so a fill that raced one
    /// is not kept (see `status`).
    invalidations: std::sync::atomic::AtomicU64,
    /// Whether this replica's evaluator leads (see `invalidation.rs`).
    leading: std::sync::atomic::AtomicBool,
    /// Test-only panic injection (`crate::panic_points`); never armed in production.
    panic_points: Arc<crate::panic_points::PanicPoints>,
    /// The egress rules notification targets are checked against when saved.
    target_guard: crate::notify::TargetGuard,
}

pub const ALERTS_PAGE: (i64, i64) = (10, 100);
pub const TENANTS_PAGE: (i64, i64) = (50, 500);
pub const AUDIT_PAGE: (i64, i64) = (50, 500);

impl Budgets {
    pub fn new(
        store: Store,
        litellm: LiteLlmClient,
        clock: Arc<dyn Clock>,
        cache_ttl: Duration,
    ) -> Budgets {
        let metrics = Arc::new(crate::metrics::Metrics::new());
        Budgets {
            store,
            litellm: litellm.with_metrics(metrics.clone()),
            metrics,
            clock,
            statuses: Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(cache_ttl)
                .build(),
            invalidations: std::sync::atomic::AtomicU64::new(0),
            leading: std::sync::atomic::AtomicBool::new(false),
            panic_points: Arc::default(),
            target_guard: crate::notify::TargetGuard::new(Default::default()),
        }
    }

    /// Test-only panic injection points (see `crate::panic_points`).
    pub fn panic_points(&self) -> &Arc<crate::panic_points::PanicPoints> {
        &self.panic_points
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// This service's metrics (one registry per `Budgets`, so per application).
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// The tenant's status, from the cache or, on a miss, from LiteLLM. Concurrent misses
    /// for one tenant share one fill; errors are not cached.
    pub async fn status(&self, tenant_id: &str) -> Result<Arc<BudgetStatus>, BudgetError> {
        let id = parse_tenant(tenant_id)?;
        let raced = std::sync::atomic::AtomicBool::new(false);
        let missed = std::sync::atomic::AtomicBool::new(false);
        let fill = async {
            missed.store(true, std::sync::atomic::Ordering::Relaxed);
            self.panic_points.check(format_args!("status:{id}"));
            let before = self.invalidations.load(std::sync::atomic::Ordering::SeqCst);
            let status = self.fetch_status(&id).await;
            let after = self.invalidations.load(std::sync::atomic::Ordering::SeqCst);
            raced.store(before != after, std::sync::atomic::Ordering::SeqCst);
            status
        };
        let status = self
            .statuses
            .try_get_with_by_ref(&id, fill)
            .await
            .map_err(BudgetError::Shared);
        if missed.load(std::sync::atomic::Ordering::Relaxed) {
            self.metrics.cache_miss();
        } else {
            self.metrics.cache_hit();
        }
        let status = status?;
        if raced.load(std::sync::atomic::Ordering::SeqCst) {
            // A change was announced while this fill read: it may predate the change.
            self.statuses.invalidate(&id).await;
        }
        Ok(status)
    }

    async fn fetch_status(&self, id: &TenantId) -> Result<Arc<BudgetStatus>, BudgetError> {
        let (tenant, config) = self.tenant_config(id).await?;
        let key = self.litellm.key_info(&tenant.key_hash).await;
        let key = lifecycle::tenant_key(&tenant, key.map_err(|e| read_error(id, e))?)?;
        Ok(Arc::new(self.compute_status(&tenant, &config, &key).await?))
    }

    /// The status from LiteLLM's figures for the key and our settings and history; also
    /// remembers LiteLLM's latest reset time.
    async fn compute_status(
        &self,
        tenant: &TenantRecord,
        config: &ConfigRecord,
        key: &KeyBudget,
    ) -> Result<BudgetStatus, BudgetError> {
        let history = self.history(tenant).await?;
        if let Some(reset_at) = key
            .budget_reset_at
            .filter(|at| Some(*at) != config.budget_reset_at)
        {
            // Remembered so GetBudgetConfig answers without LiteLLM; a failure here only costs freshness.
            if let Err(error) = self
                .store
                .record_reset_time(&tenant.tenant_id, reset_at)
                .await
            {
                tracing::warn!(tenant_id = %tenant.tenant_id, error = %error, "could not remember the reset time");
            }
        }
        let (effective, increase) = self
            .effective_now(&tenant.tenant_id, &config.settings)
            .await?;
        let status = BudgetStatus::compute(
            tenant.tenant_id.clone(),
            effective,
            key.spend_micros,
            key.budget_reset_at,
            &history,
            self.clock.now(),
        )
        .with_increase(config.settings.max_budget_micros, increase);
        // A key we blocked on purpose is reported, not refused (see `lifecycle`).
        Ok(BudgetStatus {
            suspended: tenant.suspended_at.is_some(),
            ..status
        })
    }

    /// The last 90 days of the tenant's daily spend from our database, which the evaluator
    /// keeps fresh; read from LiteLLM (and stored) only the first time.
    async fn history(&self, tenant: &TenantRecord) -> Result<DailyHistory, BudgetError> {
        let today = self.clock.now().date_naive();
        let start = today
            .checked_sub_days(Days::new(u64::from(MAX_HISTORY_DAYS - 1)))
            .unwrap_or(today);
        if let Some(days) = self.store.daily_history(&tenant.tenant_id, start).await? {
            return Ok(DailyHistory::from_days(days));
        }
        let days = self
            .litellm
            .daily_spend(&tenant.key_hash, start, today)
            .await
            .map_err(|e| read_error(&tenant.tenant_id, e))?;
        self.store.load_history(&tenant.tenant_id, &days).await?;
        Ok(DailyHistory::from_days(days))
    }

    /// The tenant's stored settings; needs no LiteLLM.
    pub async fn config(&self, tenant_id: &str) -> Result<ConfigRecord, BudgetError> {
        let id = parse_tenant(tenant_id)?;
        Ok(self.tenant_config(&id).await?.1)
    }

    /// Replaces the tenant's settings in LiteLLM and in our database, or in neither.
    ///
    /// The settings row stays locked from the etag check to the commit, so updates of one
    /// tenant are serialised and LiteLLM ends with the values of the last committed one.
    pub async fn update_config(
        &self,
        tenant_id: &str,
        raw: &RawSettings,
        etag: &str,
        actor: &Actor,
    ) -> Result<ConfigRecord, BudgetError> {
        let id = parse_tenant(tenant_id);
        let settings = raw.validate("config");
        let (id, settings) = match (id, settings) {
            (Ok(id), Ok(settings)) => (id, settings),
            (id, settings) => {
                let mut violations: Vec<_> = id.err().into_iter().collect();
                violations.extend(settings.err().unwrap_or_default());
                return Err(BudgetError::InvalidArgument(violations));
            }
        };
        let mut tx = self.store.begin().await?;
        let (tenant, current) = self
            .store
            .lock_tenant_config(&mut tx, &id)
            .await?
            .ok_or_else(|| BudgetError::TenantNotFound(id.clone()))?;
        if !etag.is_empty() && etag != current.etag() {
            return Err(BudgetError::StaleEtag);
        }
        // While a temporary increase lasts, the key gets the new settings plus the increase.
        let now = self.clock.now();
        let increase = self.store.temporary_increase_in(&mut tx, &id).await?;
        let old_limits = effective_settings(&current.settings, increase.as_ref(), now);
        let new_limits = effective_settings(&settings, increase.as_ref(), now);
        let key = match self
            .litellm
            .update_key(
                &tenant.key_hash,
                &key_limits(&new_limits, Some(&old_limits)),
            )
            .await
        {
            Ok(key) => key,
            Err(error) => {
                if matches!(error, LiteLlmError::InvalidResponse(_)) {
                    // LiteLLM answered, so it probably applied the change: put our settings
                    // back now rather than at the evaluator's next pass.
                    let _ = tx.rollback().await;
                    if let Err(repair) = self.repair_key(&tenant).await {
                        tracing::warn!(tenant_id = %id, error = %repair, "could not check the key after a failed update; the evaluator will");
                    }
                }
                return Err(write_error(&id, error));
            }
        };
        let saved = self
            .save_config(
                tx,
                &id,
                &current.settings,
                &settings,
                key.budget_reset_at,
                actor,
            )
            .await;
        let saved = match saved {
            Ok(saved) => saved,
            Err(error) => {
                return Err(self
                    .restore_key(&tenant, &old_limits, &new_limits, error)
                    .await);
            }
        };
        self.statuses.invalidate(&id).await;
        tracing::info!(tenant_id = %id, actor = %actor.0, "budget configuration updated");
        Ok(saved)
    }

    async fn save_config(
        &self,
        mut tx: crate::store::Tx,
        id: &TenantId,
        old: &BudgetSettings,
        new: &BudgetSettings,
        reset_at: Option<DateTime<Utc>>,
        actor: &Actor,
    ) -> Result<ConfigRecord, StoreError> {
        let saved = self.store.update_config(&mut tx, id, new, reset_at).await?;
        let audit = NewAudit {
            tenant_id: id,
            actor: &actor.0,
            action: "budget_config_updated",
            old: Some(old),
            new: Some(new),
            detail: None,
        };
        self.store.insert_audit(&mut tx, audit).await?;
        self.store.announce_status_change(&mut tx, id).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Puts the old limits back in LiteLLM after our own write failed.
    async fn restore_key(
        &self,
        tenant: &TenantRecord,
        old: &BudgetSettings,
        attempted: &BudgetSettings,
        cause: StoreError,
    ) -> BudgetError {
        let limits = key_limits(old, Some(attempted));
        match self.litellm.update_key(&tenant.key_hash, &limits).await {
            Ok(_) => match cause {
                StoreError::Unavailable(_) => BudgetError::DatabaseUnavailable(cause),
                other => BudgetError::NotSaved(other),
            },
            Err(restore) => {
                tracing::error!(
                    tenant_id = %tenant.tenant_id, error = %cause, restore_error = %restore,
                    "saving failed and LiteLLM could not be restored: its key differs from our settings"
                );
                BudgetError::Drift(cause)
            }
        }
    }

    /// Creates a tenant with a new LiteLLM key; if our insert fails, the key is deleted again.
    pub async fn create_tenant(
        &self,
        tenant_id: &str,
        display_name: &str,
        raw: &RawSettings,
        actor: &Actor,
    ) -> Result<CreatedTenant, BudgetError> {
        let (id, settings) = validate_new_tenant(tenant_id, display_name, raw)?;
        let mut tx = self.store.begin().await?;
        self.store.lock_tenant_id(&mut tx, &id).await?;
        if self.store.tenant_exists(&mut tx, &id).await? {
            return Err(BudgetError::TenantExists(id));
        }
        let alias = id.key_alias();
        let limits = key_limits(&settings, None);
        let key = match self
            .litellm
            .generate_key(&alias, id.as_str(), &limits)
            .await
        {
            // A key left by an earlier attempt whose answer we never got: replaced.
            Err(LiteLlmError::DuplicateAlias(_)) if self.remove_orphan_key(&id, &alias).await => {
                self.litellm
                    .generate_key(&alias, id.as_str(), &limits)
                    .await
            }
            Err(error @ LiteLlmError::InvalidResponse(_)) => {
                // LiteLLM answered, so it probably made the key: remove it now.
                self.remove_orphan_key(&id, &alias).await;
                Err(error)
            }
            other => other,
        }
        .map_err(|e| match e {
            LiteLlmError::DuplicateAlias(alias) => BudgetError::KeyAliasTaken(alias),
            e => BudgetError::LiteLlmWriteFailed(e),
        })?;
        // generate does not return budget_reset_at (contract 2.1); read it back, best effort.
        let reset_at = self
            .litellm
            .key_info(&key.key_hash)
            .await
            .ok()
            .and_then(|info| info.budget_reset_at);
        let record = TenantRecord {
            tenant_id: id.clone(),
            display_name: display_name_or_id(display_name, &id),
            key_alias: alias,
            key_hash: key.key_hash.clone(),
            created_at: self.clock.now(),
            deleted_at: None,
            suspended_at: None,
        };
        match self
            .insert_tenant(tx, &record, &settings, reset_at, actor)
            .await
        {
            Ok((tenant, config)) => {
                tracing::info!(tenant_id = %id, actor = %actor.0, "tenant created");
                Ok(CreatedTenant {
                    tenant,
                    config,
                    virtual_key: key.raw_key,
                })
            }
            Err(error) => {
                if let Err(delete) = self.litellm.delete_key(&key.key_hash).await {
                    tracing::error!(tenant_id = %id, error = %delete, "could not delete the key of a tenant that was not saved");
                }
                Err(match error {
                    StoreError::UniqueViolation { .. } => BudgetError::TenantExists(id),
                    other => other.into(),
                })
            }
        }
    }

    /// Deletes the key a failed CreateTenant may have left in LiteLLM: LiteLLM made it but
    /// its answer was lost (cut, undecodable or too late), so nobody ever saw the raw key.
    /// Only a key that names this tenant in its metadata, has no spend and is no tenant's
    /// key qualifies; a key made by hand for `tenant attach` is left alone. Best effort:
    /// returns whether a key was deleted.
    async fn remove_orphan_key(&self, id: &TenantId, alias: &str) -> bool {
        let keys = match self.litellm.keys_with_alias(alias).await {
            Ok(keys) => keys,
            Err(error) => {
                tracing::warn!(tenant_id = %id, error = %error, "could not look for a key left by a failed create");
                return false;
            }
        };
        let mut removed = false;
        for key in keys {
            if key.tenant_id.as_deref() != Some(id.as_str()) || key.spend_micros != 0 {
                continue;
            }
            match self.store.tenant_by_key_hash(&key.key_hash).await {
                Ok(None) => {}
                Ok(Some(_)) => continue,
                Err(error) => {
                    tracing::warn!(tenant_id = %id, error = %error, "could not check a key left by a failed create");
                    continue;
                }
            }
            match self.litellm.delete_key(&key.key_hash).await {
                Ok(()) => {
                    tracing::warn!(tenant_id = %id, "deleted the key a failed create left in LiteLLM");
                    removed = true;
                }
                Err(error) => {
                    tracing::warn!(tenant_id = %id, error = %error, "could not delete a key left by a failed create");
                }
            }
        }
        removed
    }

    /// Makes an existing LiteLLM key (by hash) a new tenant's key, after checking LiteLLM
    /// knows it, and pushes the tenant's limits to it.
    pub async fn attach_tenant(
        &self,
        tenant_id: &str,
        display_name: &str,
        key_hash: &str,
        raw: &RawSettings,
        actor: &Actor,
    ) -> Result<(TenantRecord, ConfigRecord), BudgetError> {
        let (id, settings) = validate_new_tenant(tenant_id, display_name, raw)?;
        let key_hash = key_hash.to_ascii_lowercase();
        if key_hash.len() != 64 || !key_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FieldViolation::new(
                "key_hash",
                "Key hash must be 64 hex digits (sha256 of the key)",
            )
            .into());
        }
        let mut tx = self.store.begin().await?;
        self.store.lock_tenant_id(&mut tx, &id).await?;
        if self.store.tenant_exists(&mut tx, &id).await? {
            return Err(BudgetError::TenantExists(id));
        }
        usable_key(
            &id,
            self.litellm
                .key_info(&key_hash)
                .await
                .map_err(|e| read_error(&id, e))?,
        )?;
        let key = self
            .litellm
            .update_key(&key_hash, &key_limits(&settings, None))
            .await
            .map_err(|e| write_error(&id, e))?;
        let record = TenantRecord {
            tenant_id: id.clone(),
            display_name: display_name_or_id(display_name, &id),
            key_alias: id.key_alias(),
            key_hash,
            created_at: self.clock.now(),
            deleted_at: None,
            suspended_at: None,
        };
        self.insert_tenant(tx, &record, &settings, key.budget_reset_at, actor)
            .await
            .map_err(|e| match e {
                StoreError::UniqueViolation { .. } => BudgetError::TenantExists(id),
                other => other.into(),
            })
    }

    async fn insert_tenant(
        &self,
        mut tx: crate::store::Tx,
        record: &TenantRecord,
        settings: &BudgetSettings,
        reset_at: Option<DateTime<Utc>>,
        actor: &Actor,
    ) -> Result<(TenantRecord, ConfigRecord), StoreError> {
        let saved = self
            .store
            .insert_tenant(&mut tx, record, settings, reset_at)
            .await?;
        let audit = NewAudit {
            tenant_id: &record.tenant_id,
            actor: &actor.0,
            action: "tenant_created",
            old: None,
            new: Some(settings),
            detail: None,
        };
        self.store.insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// A page of tenants with their latest evaluated status (from the evaluator's table, so
    /// listing never calls LiteLLM), ordered by "tenant_id" (default) or "percent_used desc".
    pub async fn list_tenants(
        &self,
        scope: Option<&TenantId>,
        filter: &str,
        order_by: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<Page<TenantOverview>, BudgetError> {
        self.list_tenants_including(scope, filter, order_by, page_size, page_token, false)
            .await
    }

    /// Like [`Budgets::list_tenants`], with deleted tenants too when `include_deleted`.
    pub async fn list_tenants_including(
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
        if filter.chars().count() > 200 || filter.chars().any(char::is_control) {
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
            .list_tenant_statuses_including(
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
    pub async fn list_alerts(
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
    ) -> Result<Page<AuditRecord>, BudgetError> {
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

    /// Spend per UTC day for `days` days ending today (default 30, 7 to 90).
    pub async fn spend_history(
        &self,
        tenant_id: &str,
        days: i32,
    ) -> Result<SpendHistory, BudgetError> {
        let id = parse_tenant(tenant_id)?;
        let days = match days {
            0 => 30,
            7..=90 => days.unsigned_abs(),
            _ => return Err(FieldViolation::new("days", "Days must be between 7 and 90").into()),
        };
        let (tenant, _) = self.tenant_config(&id).await?;
        let history = self.history(&tenant).await?;
        let today = self.clock.now().date_naive();
        Ok(SpendHistory {
            days: history.series(today, days),
            days_with_data: history.days_with_data(today, days),
        })
    }

    async fn tenant_config(
        &self,
        id: &TenantId,
    ) -> Result<(TenantRecord, ConfigRecord), BudgetError> {
        self.store
            .tenant_config(id)
            .await?
            .ok_or_else(|| BudgetError::TenantNotFound(id.clone()))
    }
}

pub(crate) fn parse_tenant(raw: &str) -> Result<TenantId, FieldViolation> {
    TenantId::parse(raw)
        .ok_or_else(|| FieldViolation::new("tenant_id", crate::domain::tenant::TENANT_ID_RULE))
}

fn validate_new_tenant(
    tenant_id: &str,
    display_name: &str,
    raw: &RawSettings,
) -> Result<(TenantId, BudgetSettings), BudgetError> {
    let id = parse_tenant(tenant_id);
    let settings = raw.validate("config");
    let mut violations: Vec<FieldViolation> = Vec::new();
    if display_name.chars().count() > 200 || display_name.chars().any(char::is_control) {
        violations.push(FieldViolation::new(
            "display_name",
            "Display name must be at most 200 characters, without control characters",
        ));
    }
    match (id, settings) {
        (Ok(id), Ok(settings)) if violations.is_empty() => Ok((id, settings)),
        (id, settings) => {
            violations.extend(id.err());
            violations.extend(settings.err().unwrap_or_default());
            Err(BudgetError::InvalidArgument(violations))
        }
    }
}

fn display_name_or_id(display_name: &str, id: &TenantId) -> String {
    match display_name.trim() {
        "" => id.to_string(),
        name => name.to_owned(),
    }
}

/// The key limits for `new`; the period is sent only when it differs from `old`'s,
/// because LiteLLM restarts the period whenever it receives `budget_duration`.
fn key_limits(new: &BudgetSettings, old: Option<&BudgetSettings>) -> KeyLimits {
    let duration_changed = old.is_none_or(|old| old.budget_duration != new.budget_duration);
    KeyLimits {
        max_budget_micros: new.block_at_micros(),
        soft_budget_micros: new.alert_at_micros(),
        budget_duration: duration_changed.then(|| new.budget_duration.as_str()),
    }
}

fn usable_key(id: &TenantId, key: KeyBudget) -> Result<KeyBudget, BudgetError> {
    let Some(problem) = KeyProblem::of(key.status) else {
        return Ok(key);
    };
    Err(BudgetError::KeyUnusable {
        tenant: id.clone(),
        problem,
    })
}

fn read_error(id: &TenantId, error: LiteLlmError) -> BudgetError {
    match error {
        LiteLlmError::KeyNotFound => BudgetError::KeyUnusable {
            tenant: id.clone(),
            problem: KeyProblem::Unknown,
        },
        other => BudgetError::BudgetDataUnavailable(other),
    }
}

fn write_error(id: &TenantId, error: LiteLlmError) -> BudgetError {
    match error {
        LiteLlmError::KeyNotFound => BudgetError::KeyUnusable {
            tenant: id.clone(),
            problem: KeyProblem::Unknown,
        },
        other => BudgetError::LiteLlmWriteFailed(other),
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
