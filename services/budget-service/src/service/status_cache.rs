//! The status cache (moka): per tenant, only what a status cannot be derived from — the
//! effective settings, LiteLLM's spend and reset time, when they were read, the forecast and
//! the increase in force — inline in moka's entry, with no tenant id (the key has it) and no
//! derived figures. A read expands it into a [`BudgetStatus`]; gRPC builds its message from
//! that at the edge. With every tenant cached, the cache is the service's largest memory user,
//! so each entry is kept small (BENCHMARKS.md, figure 7, measures the bytes per tenant).
//!
//! An entry expires by the age it carries, checked on read, not by moka's time-to-live: that
//! spares each entry moka's write-order node (a tenth of its size). Entries past their age
//! stay until read (and refilled), replaced by the evaluator, invalidated, or evicted by the
//! capacity bound.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use moka::future::Cache;

use crate::domain::{
    BudgetSettings, BudgetStatus, Forecast, TemporaryIncrease, TenantId, days_until_reset,
};
use crate::error::BudgetError;

/// What is cached per tenant.
#[derive(Clone, Debug)]
struct CachedStatus {
    settings: BudgetSettings,
    spend_micros: i64,
    base_budget_micros: i64,
    reset_time: Option<DateTime<Utc>>,
    fetch_time: DateTime<Utc>,
    forecast: Forecast,
    suspended: bool,
    /// Rare, so behind a pointer: most entries pay 8 bytes for it.
    temporary_increase: Option<Arc<TemporaryIncrease>>,
    /// When it was cached, in tenths of a second since the cache was made (u32: 13 years).
    stored: u32,
}

impl CachedStatus {
    fn of(status: &BudgetStatus, stored: u32) -> CachedStatus {
        let cached = CachedStatus {
            settings: status.settings,
            spend_micros: status.spend_micros,
            base_budget_micros: status.base_budget_micros,
            reset_time: status.reset_time,
            fetch_time: status.fetch_time,
            forecast: status.forecast,
            suspended: status.suspended,
            temporary_increase: status.temporary_increase.clone().map(Arc::new),
            stored,
        };
        debug_assert_eq!(
            cached.expand(status.tenant_id.clone()),
            *status,
            "a status must be derivable from what is cached"
        );
        cached
    }

    /// The status, with the figures [`BudgetStatus::compute`] derives recomputed the same way.
    fn expand(&self, tenant_id: TenantId) -> BudgetStatus {
        let settings = self.settings;
        BudgetStatus {
            tenant_id,
            settings,
            spend_micros: self.spend_micros,
            percent_used: settings.percent_used(self.spend_micros),
            state: settings.state(self.spend_micros),
            block_at_micros: settings.block_at_micros(),
            alert_at_micros: settings.alert_at_micros(),
            reset_time: self.reset_time,
            days_until_reset: self
                .reset_time
                .map_or(0, |reset| days_until_reset(self.fetch_time, reset)),
            fetch_time: self.fetch_time,
            forecast: self.forecast,
            suspended: self.suspended,
            base_budget_micros: self.base_budget_micros,
            temporary_increase: self.temporary_increase.as_deref().cloned(),
        }
    }
}

/// Every tenant's cached status, for `ttl` after it was stored.
pub(crate) struct StatusCache {
    entries: Cache<TenantId, CachedStatus>,
    /// In tenths of a second, as entries count their age.
    ttl_tenths: u64,
    made: Instant,
}

impl StatusCache {
    pub(crate) fn new(ttl: Duration) -> StatusCache {
        StatusCache {
            entries: Cache::builder().max_capacity(1_000_000).build(),
            ttl_tenths: u64::try_from(ttl.as_millis() / 100).unwrap_or(u64::MAX),
            made: Instant::now(),
        }
    }

    /// Now, in tenths of a second since the cache was made.
    fn now(&self) -> u32 {
        u32::try_from(self.made.elapsed().as_millis() / 100).unwrap_or(u32::MAX)
    }

    fn is_fresh(&self, entry: &CachedStatus) -> bool {
        u64::from(self.now().saturating_sub(entry.stored)) < self.ttl_tenths
    }

    /// The cached status if younger than the TTL, otherwise `fill`'s, cached; concurrent
    /// misses for one tenant share one fill, and errors are not cached.
    pub(crate) async fn get_or_fill(
        &self,
        id: &TenantId,
        fill: impl Future<Output = Result<BudgetStatus, BudgetError>>,
    ) -> Result<BudgetStatus, BudgetError> {
        if let Some(entry) = self.entries.get(id).await {
            if self.is_fresh(&entry) {
                return Ok(entry.expand(id.clone()));
            }
            // Expired: removed, so the fill below replaces it. Readers racing here may fill
            // twice; none reads the expired status.
            self.entries.invalidate(id).await;
        }
        let cached = self
            .entries
            .try_get_with_by_ref(id, async {
                fill.await.map(|s| CachedStatus::of(&s, self.now()))
            })
            .await
            .map_err(BudgetError::Shared)?;
        Ok(cached.expand(id.clone()))
    }

    /// Stores a status just computed (by the evaluator).
    pub(crate) async fn insert(&self, id: TenantId, status: Arc<BudgetStatus>) {
        let entry = CachedStatus::of(&status, self.now());
        self.entries.insert(id, entry).await;
    }

    pub(crate) async fn invalidate(&self, id: &TenantId) {
        self.entries.invalidate(id).await;
    }

    pub(crate) fn invalidate_all(&self) {
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;

    use super::*;
    use crate::domain::{BudgetDuration, BudgetState, DailyHistory};

    fn status(spend_usd: i64, increase: bool, suspended: bool) -> BudgetStatus {
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 15, 30, 0).unwrap();
        let base = BudgetSettings {
            max_budget_micros: 100_000_000,
            alert_threshold_percent: 80,
            grace_threshold_percent: 110,
            budget_duration: BudgetDuration::parse("30d").unwrap(),
        };
        let increase = increase.then(|| TemporaryIncrease {
            amount_micros: 50_000_000,
            expire_time: now + chrono::Duration::days(2),
            reason: "launch week".into(),
        });
        let effective = increase.as_ref().map_or(base, |i| i.apply(&base));
        let history = DailyHistory::from_days(vec![
            (now.date_naive() - chrono::Duration::days(1), 3_000_000),
            (now.date_naive(), 2_000_000),
        ]);
        let reset = now + chrono::Duration::days(12);
        let status = BudgetStatus::compute(
            TenantId::parse("acme").unwrap(),
            effective,
            spend_usd * 1_000_000,
            Some(reset),
            &history,
            now,
        )
        .with_increase(base.max_budget_micros, increase);
        BudgetStatus {
            suspended,
            ..status
        }
    }

    #[test]
    fn a_cached_status_reads_back_exactly() {
        for (spend, increase, suspended) in [
            (0, false, false),
            (85, false, false),
            (105, true, false),
            (150, true, true),
        ] {
            let status = status(spend, increase, suspended);
            let back = CachedStatus::of(&status, 7).expand(status.tenant_id.clone());
            assert_eq!(back, status);
        }
        assert_eq!(status(150, false, false).state, BudgetState::Blocked);
    }

    #[tokio::test]
    async fn an_entry_is_read_until_its_ttl_then_filled_again() {
        let cache = StatusCache::new(Duration::from_millis(300));
        let id = TenantId::parse("acme").unwrap();
        let fills = std::sync::atomic::AtomicUsize::new(0);
        let fill = |spend| {
            let fills = &fills;
            async move {
                fills.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(status(spend, false, false))
            }
        };
        let spend = |status: Result<BudgetStatus, BudgetError>| status.unwrap().spend_micros;
        assert_eq!(spend(cache.get_or_fill(&id, fill(10)).await), 10_000_000);
        assert_eq!(spend(cache.get_or_fill(&id, fill(20)).await), 10_000_000);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(spend(cache.get_or_fill(&id, fill(30)).await), 30_000_000);
        assert_eq!(fills.load(std::sync::atomic::Ordering::SeqCst), 2);

        // What the evaluator stores is read as cached, for the TTL again.
        cache
            .insert(id.clone(), Arc::new(status(40, false, false)))
            .await;
        assert_eq!(spend(cache.get_or_fill(&id, fill(50)).await), 40_000_000);

        // A TTL of zero caches nothing.
        let uncached = StatusCache::new(Duration::ZERO);
        assert_eq!(spend(uncached.get_or_fill(&id, fill(60)).await), 60_000_000);
        assert_eq!(spend(uncached.get_or_fill(&id, fill(70)).await), 70_000_000);
        assert_eq!(fills.load(std::sync::atomic::Ordering::SeqCst), 4);
    }

    #[test]
    fn an_entry_is_smaller_than_the_status() {
        // Held inline in moka's entry, with no tenant id (the key has it) and no `Arc`. The
        // forecast carries its unrounded daily rate too (PreviewBudgetConfig reads it).
        let (cached, full) = (size_of::<CachedStatus>(), size_of::<BudgetStatus>());
        assert!(cached <= 120, "{cached} bytes");
        assert!(
            cached + 24 <= full,
            "{cached} bytes cached, {full} in a status"
        );
    }
}
