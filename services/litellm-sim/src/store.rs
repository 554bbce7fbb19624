//! The in-memory database: key rows (`LiteLLM_VerificationToken`, see `records`), their budget
//! rows (`LiteLLM_BudgetTable`), the archive of deleted keys, the daily spend table, and the
//! simulator's own switches (faults, call counters, chat cost, budget webhooks).
//!
//! # The reset job, applied lazily
//!
//! LiteLLM's `ResetBudgetJob` runs every ~10 minutes and, for every key that has not expired and
//! whose `budget_reset_at < now`, sets `spend = 0` and `budget_reset_at` to the next snapped
//! boundary counted from *now*. The sim applies exactly that rule to every key each time the
//! state is locked (`Sim::with_state`), so any read or write (admin API, chat call, `/sim/*`,
//! [`crate::SimControl`]) sees the keys as the job would leave them. Clients cannot tell the
//! difference, except that the sim never shows the up-to-10-minutes lag of the real job. The
//! daily spend table is never touched by a reset.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use crate::faults::Faults;
use crate::records::{DeletedKey, KeyRecord};
use crate::util::hash_if_needed;
use crate::webhooks::Alerting;

/// A row of the daily spend table: UTC date, key hash, model and endpoint (LiteLLM keys its
/// rows by more, all constant in the sim). The model is the model group a chat call asked for;
/// "" for a request refused before a model was resolved (a key without `sk-`, an admin route).
/// The endpoint is the route called; "" for admin routes.
pub(crate) type DayKey = (NaiveDate, String, String, String);

/// One row of the daily spend table.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct DayMetrics {
    pub spend: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub api_requests: u64,
    pub successful_requests: u64,
    pub failed_requests: u64,
}

impl DayMetrics {
    pub(crate) fn add(&mut self, other: &DayMetrics) {
        self.spend += other.spend;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.api_requests += other.api_requests;
        self.successful_requests += other.successful_requests;
        self.failed_requests += other.failed_requests;
    }
}

/// The model and endpoint of daily rows that tests set directly.
pub(crate) const SEEDED_MODEL: &str = "gpt-4o-mini";
pub(crate) const SEEDED_ENDPOINT: &str = "/chat/completions";

/// Everything behind the one mutex.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub keys: HashMap<String, KeyRecord>,
    pub deleted: HashMap<String, DeletedKey>,
    /// (date, key hash, model) → metrics.
    pub daily: BTreeMap<DayKey, DayMetrics>,
    pub faults: Faults,
    pub calls: BTreeMap<String, u64>,
    /// A fixed cost per chat call, instead of the token-based one.
    pub chat_cost: Option<f64>,
    pub next_seq: u64,
    /// No key's `budget_reset_at` is earlier than this (`None`: unknown). While the clock has
    /// not passed it no reset can be due, so requests skip the scan of every key: with 100,000
    /// keys that scan, not the request, was the sim's cost. Lowered by [`State::note_reset_at`]
    /// whenever a key's period is set.
    pub reset_floor: Option<DateTime<Utc>>,
    /// `WEBHOOK_URL`, the budget-alert dedupe cache and the log of sent webhooks.
    pub alerting: Alerting,
    /// The proxy has an enterprise licence (`/key/regenerate` works); off, like the real proxy
    /// without `LITELLM_LICENSE`.
    pub enterprise: bool,
}

impl State {
    pub(crate) fn apply_resets(&mut self, now: DateTime<Utc>) {
        // `apply_reset` acts only on keys whose reset time is before `now`.
        if self.reset_floor.is_some_and(|floor| now <= floor) {
            return;
        }
        let mut floor = DateTime::<Utc>::MAX_UTC;
        for record in self.keys.values_mut() {
            record.apply_reset(now);
            if record.budget_duration.is_some()
                && let Some(at) = record.budget_reset_at
            {
                floor = floor.min(at);
            }
        }
        self.reset_floor = Some(floor);
    }

    /// Keeps [`State::reset_floor`] a lower bound after a key's `budget_reset_at` was set.
    pub(crate) fn note_reset_at(&mut self, reset_at: Option<DateTime<Utc>>) {
        if let (Some(at), Some(floor)) = (reset_at, self.reset_floor) {
            self.reset_floor = Some(floor.min(at));
        }
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// A live key by raw key (`sk-...`) or hash.
    pub(crate) fn live_token(&self, key: &str) -> Option<String> {
        let token = hash_if_needed(key);
        self.keys.contains_key(&token).then_some(token)
    }

    /// Live keys whose alias is exactly `alias`.
    pub(crate) fn tokens_with_alias(&self, alias: &str) -> Vec<String> {
        let mut found: Vec<&KeyRecord> = self
            .keys
            .values()
            .filter(|k| k.key_alias.as_deref() == Some(alias))
            .collect();
        found.sort_by_key(|k| k.seq);
        found.into_iter().map(|k| k.token.clone()).collect()
    }

    /// For the test controls: raw key, hash or alias, live keys first, then the archive.
    pub(crate) fn resolve_any(&self, key: &str) -> Option<String> {
        if let Some(token) = self.live_token(key) {
            return Some(token);
        }
        if let Some(token) = self.tokens_with_alias(key).into_iter().next() {
            return Some(token);
        }
        let token = hash_if_needed(key);
        if self.deleted.contains_key(&token) {
            return Some(token);
        }
        let mut archived: Vec<&DeletedKey> = self
            .deleted
            .values()
            .filter(|d| d.record.key_alias.as_deref() == Some(key))
            .collect();
        archived.sort_by_key(|d| d.deleted_at);
        archived.last().map(|d| d.record.token.clone())
    }

    /// Adds to one daily row.
    pub(crate) fn add_daily(
        &mut self,
        date: NaiveDate,
        token: &str,
        model: &str,
        endpoint: &str,
        metrics: &DayMetrics,
    ) {
        self.daily
            .entry((
                date,
                token.to_string(),
                model.to_string(),
                endpoint.to_string(),
            ))
            .or_default()
            .add(metrics);
    }

    /// Counts a refused request of `token` (LiteLLM logs refusals from its auth checks, budget
    /// refusals included, as failed requests of the key that was presented).
    pub(crate) fn record_failed_request(
        &mut self,
        date: NaiveDate,
        token: &str,
        model: &str,
        endpoint: &str,
    ) {
        let failed = DayMetrics {
            api_requests: 1,
            failed_requests: 1,
            ..DayMetrics::default()
        };
        self.add_daily(date, token, model, endpoint, &failed);
    }

    /// Replaces a key's rows for `date` by one row of `usd` (no row when `usd` is 0).
    pub(crate) fn set_daily(&mut self, date: NaiveDate, token: &str, usd: f64) {
        self.daily
            .retain(|(d, t, _, _), _| !(*d == date && t == token));
        if usd != 0.0 {
            let metrics = DayMetrics {
                spend: usd,
                ..DayMetrics::default()
            };
            self.add_daily(date, token, SEEDED_MODEL, SEEDED_ENDPOINT, &metrics);
        }
    }
}
