//! [`SimControl`]: the sim's controls in-process, for tests in the same binary.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::{Context, anyhow};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::faults::FaultRule;
use crate::records::{KeyRecord, KeyStatus};
use crate::sim::Sim;
use crate::store::State as Db;
use crate::webhooks::SentWebhook;

/// A key as the sim holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeySnapshot {
    /// sha256 of the raw key.
    pub token: String,
    pub key_name: String,
    pub key_alias: Option<String>,
    pub spend: f64,
    pub total_spend: f64,
    pub max_budget: Option<f64>,
    pub soft_budget: Option<f64>,
    pub budget_duration: Option<String>,
    pub budget_reset_at: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    pub blocked: bool,
    pub metadata: Map<String, Value>,
    pub status: KeyStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl KeySnapshot {
    fn of(record: &KeyRecord, status: KeyStatus) -> Self {
        Self {
            token: record.token.clone(),
            key_name: record.key_name.clone(),
            key_alias: record.key_alias.clone(),
            spend: record.spend,
            total_spend: record.total_spend,
            max_budget: record.max_budget,
            soft_budget: record.soft_budget(),
            budget_duration: record.budget_duration.clone(),
            budget_reset_at: record.budget_reset_at,
            expires: record.expires,
            blocked: record.blocked == Some(true),
            metadata: record.metadata.clone(),
            status,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// A cheap handle on a running sim, for tests.
#[derive(Debug, Clone)]
pub struct SimControl {
    pub(crate) sim: Arc<Sim>,
}

pub(super) fn unknown(key: &str) -> anyhow::Error {
    anyhow!("litellm-sim: no key matches {key:?} (raw key, hash or alias)")
}

impl SimControl {
    fn live_token(db: &Db, key: &str) -> anyhow::Result<String> {
        db.resolve_any(key)
            .filter(|t| db.keys.contains_key(t))
            .ok_or_else(|| unknown(key))
    }

    /// Sets a live key's current-window `spend` (like `/key/update {"spend": ...}`; `total_spend`
    /// and the daily table are left alone). `key` is the raw key, its hash or its alias.
    pub fn set_spend(&self, key: &str, usd: f64) -> anyhow::Result<()> {
        self.sim.with_state(|db, now| {
            let token = Self::live_token(db, key)?;
            let mut record = db.keys.get_mut(&token).ok_or_else(|| unknown(key))?;
            record.spend = usd;
            record.updated_at = now;
            // Like `/key/update {"spend": ...}`, which drops LiteLLM's cached auth object.
            record.auth_cache = None;
            Ok(())
        })
    }

    /// Sets a key's spend for one UTC date in the daily table (replacing that day's rows by one
    /// `gpt-4o-mini` row; 0 removes the day). Works for live and deleted keys.
    pub fn set_daily_spend(&self, key: &str, date: NaiveDate, usd: f64) -> anyhow::Result<()> {
        self.sim.with_state(|db, _| {
            let token = db.resolve_any(key).ok_or_else(|| unknown(key))?;
            db.daily.set_day(date, &token, usd);
            Ok(())
        })
    }

    /// Adds `usd` of spend on `model` (reported as `openai/<model>`, like chat calls) to a
    /// key's row for one UTC date in the daily table. Works for live and deleted keys.
    pub fn add_model_spend(
        &self,
        key: &str,
        date: NaiveDate,
        model: &str,
        usd: f64,
    ) -> anyhow::Result<()> {
        self.sim.with_state(|db, _| {
            let token = db.resolve_any(key).ok_or_else(|| unknown(key))?;
            let metrics = crate::store::DayMetrics {
                spend: usd,
                api_requests: 1,
                successful_requests: 1,
                ..Default::default()
            };
            db.daily
                .add(date, &token, model, crate::store::SEEDED_ENDPOINT, &metrics);
            Ok(())
        })
    }

    /// Seeds `daily.len()` days of history ending on `last_day`: `daily[0]` is the oldest day and
    /// the last entry is `last_day` (each as [`SimControl::set_daily_spend`]).
    pub fn seed_daily_history(
        &self,
        key: &str,
        last_day: NaiveDate,
        daily: &[f64],
    ) -> anyhow::Result<()> {
        self.sim.with_state(|db, _| {
            let token = db.resolve_any(key).ok_or_else(|| unknown(key))?;
            let count = i64::try_from(daily.len()).context("too many days")?;
            for (i, usd) in (0_i64..).zip(daily) {
                let date = last_day - Duration::days(count - 1 - i);
                db.daily.set_day(date, &token, *usd);
            }
            Ok(())
        })
    }

    /// A key's state (live or deleted) by raw key, hash or alias.
    pub fn key(&self, key: &str) -> Option<KeySnapshot> {
        self.sim.with_state(|db, now| {
            let token = db.resolve_any(key)?;
            if let Some(record) = db.keys.get(&token) {
                return Some(KeySnapshot::of(record, record.status(now)));
            }
            db.deleted
                .get(&token)
                .map(|d| KeySnapshot::of(&d.record, KeyStatus::Deleted))
        })
    }

    /// Adds a fault rule (after the existing ones). A rule with `times: Some(0)` does nothing.
    pub fn inject(&self, fault: FaultRule) {
        if fault.times == Some(0) {
            return;
        }
        self.sim.with_state(|db, _| db.faults.add(fault));
    }

    /// The fault rules still in force (with their remaining `times`).
    pub fn faults(&self) -> Vec<FaultRule> {
        self.sim.with_state(|db, _| db.faults.rules().to_vec())
    }

    /// Removes every fault rule (the counts of injected faults stay).
    pub fn clear_faults(&self) {
        self.sim.with_state(|db, _| db.faults.clear());
    }

    /// How many faults were injected into calls to `path` exactly, since the start or the last
    /// [`SimControl::reset_calls`].
    pub fn injected(&self, path: &str) -> u64 {
        self.sim
            .with_state(|db, _| db.faults.injected().get(path).copied().unwrap_or(0))
    }

    /// Every path's count of injected faults.
    pub fn all_injected(&self) -> BTreeMap<String, u64> {
        self.sim.with_state(|db, _| db.faults.injected().clone())
    }

    /// How many calls reached `path` exactly (query string excluded), faulted ones included,
    /// since the start or the last [`SimControl::reset_calls`]. `/sim/*` is not counted.
    pub fn calls(&self, path: &str) -> u64 {
        self.sim
            .with_state(|db, _| db.calls.get(path).copied().unwrap_or(0))
    }

    /// Every path's call count.
    pub fn all_calls(&self) -> BTreeMap<String, u64> {
        self.sim.with_state(|db, _| db.calls.clone())
    }

    /// Resets the call counters and the counts of injected faults.
    pub fn reset_calls(&self) {
        self.sim.with_state(|db, _| {
            db.calls.clear();
            db.faults.reset_injected();
        });
    }

    /// Moves the sim's clock (the next access applies any budget reset that became due).
    pub fn advance_clock(&self, by: Duration) {
        self.sim.clock.advance(by);
    }

    /// Sets the sim's clock to `at`; it keeps running from there.
    pub fn set_clock(&self, at: DateTime<Utc>) {
        self.sim.clock.set(at);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.sim.clock.now()
    }

    /// A fixed cost charged per chat call, or `None` for the token-based price.
    pub fn set_chat_cost(&self, usd: Option<f64>) {
        self.sim.with_state(|db, _| db.chat_cost = usd);
    }

    /// The `WEBHOOK_URL` budget alerts go to (from [`crate::SimConfig::webhook_url`], `--webhook-url`
    /// or env `WEBHOOK_URL`, or [`SimControl::set_webhook_url`]).
    pub fn webhook_url(&self) -> Option<String> {
        self.sim.with_state(|db, _| db.alerting.url.clone())
    }

    /// Points budget alerts at `url` from now on (`None`: alerts are neither sent nor marked as
    /// sent, like LiteLLM without `WEBHOOK_URL`). An empty string counts as `None`.
    pub fn set_webhook_url(&self, url: Option<String>) {
        let url = url.filter(|u| !u.trim().is_empty());
        self.sim.with_state(|db, _| db.alerting.url = url);
    }

    /// Every webhook attempt that has finished, oldest first (see [`SentWebhook`]).
    pub fn webhooks(&self) -> Vec<SentWebhook> {
        self.sim.with_state(|db, _| db.alerting.log.clone())
    }

    /// How many webhooks are decided but not finished yet.
    pub fn webhooks_in_flight(&self) -> usize {
        self.sim.with_state(|db, _| db.alerting.in_flight)
    }

    /// Waits (at most `timeout`) until every webhook already decided has been sent, then returns
    /// [`SimControl::webhooks`]. Webhooks are decided before a chat call answers, so after the
    /// answer this is deterministic: an empty result means the call sent nothing.
    pub async fn settled_webhooks(&self, timeout: StdDuration) -> Vec<SentWebhook> {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.webhooks_in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(StdDuration::from_millis(5)).await;
        }
        self.webhooks()
    }

    /// Forgets the recorded attempts (not LiteLLM's 24 h dedupe cache: move the clock for that).
    pub fn clear_webhooks(&self) {
        self.sim.with_state(|db, _| db.alerting.log.clear());
    }

    /// Turns off (or back on) the `projected_limit_exceeded` alert, which LiteLLM sends after
    /// a charged call whose projected spend passes the key's soft budget (on by default, as in
    /// LiteLLM; see the `webhooks` module docs). For tests about the other alerts alone.
    pub fn set_projected_limit_alerts(&self, enabled: bool) {
        self.sim
            .with_state(|db, _| db.alerting.projected_alerts = enabled);
    }

    /// Gives the sim LiteLLM's enterprise licence (or takes it away): with it, `/key/regenerate`
    /// replaces a key's value; without it (the default, like a proxy without
    /// `LITELLM_LICENSE`) it answers 500.
    pub fn set_enterprise(&self, enabled: bool) {
        self.sim.with_state(|db, _| db.enterprise = enabled);
    }
}
