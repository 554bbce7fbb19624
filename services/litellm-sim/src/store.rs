//! The in-memory database: key rows (`LiteLLM_VerificationToken`, see `records`, indexed in
//! `key_table`), their budget rows (`LiteLLM_BudgetTable`), the archive of deleted keys, the
//! daily spend table (indexed by date and by key), and the simulator's own switches (faults,
//! call counters, chat cost, budget webhooks).
//!
//! # The reset job, applied lazily
//!
//! LiteLLM's `ResetBudgetJob` runs every ~10 minutes and, for every key that has not expired and
//! whose `budget_reset_at < now`, sets `spend = 0` and `budget_reset_at` to the next snapped
//! boundary counted from *now*. The sim applies exactly that rule each time the state is locked
//! (`Sim::with_state`), to the keys whose reset time has passed (`KeyTable::apply_resets`), so any read or write (admin API, chat call, `/sim/*`,
//! [`crate::SimControl`]) sees the keys as the job would leave them. Clients cannot tell the
//! difference, except that the sim never shows the up-to-10-minutes lag of the real job. The
//! daily spend table is never touched by a reset.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use crate::faults::Faults;
use crate::key_table::KeyTable;
use crate::records::DeletedKey;
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
    pub keys: KeyTable,
    pub deleted: HashMap<String, DeletedKey>,
    pub daily: DailyTable,
    pub faults: Faults,
    pub calls: BTreeMap<String, u64>,
    /// A fixed cost per chat call, instead of the token-based one.
    pub chat_cost: Option<f64>,
    pub next_seq: u64,
    /// `WEBHOOK_URL`, the budget-alert dedupe cache and the log of sent webhooks.
    pub alerting: Alerting,
    /// The proxy has an enterprise licence (`/key/regenerate` works); off, like the real proxy
    /// without `LITELLM_LICENSE`.
    pub enterprise: bool,
}

impl State {
    pub(crate) fn apply_resets(&mut self, now: DateTime<Utc>) {
        self.keys.apply_resets(now);
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

    /// Live keys whose alias is exactly `alias`, oldest first.
    pub(crate) fn tokens_with_alias(&self, alias: &str) -> Vec<String> {
        self.keys.tokens_with_alias(alias)
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
}

/// The daily spend table: rows by (date, key hash, model, endpoint), and each key's dates, so
/// one key's history is read without touching other keys' rows.
#[derive(Debug, Default)]
pub(crate) struct DailyTable {
    rows: BTreeMap<DayKey, DayMetrics>,
    dates_of_key: HashMap<String, BTreeSet<NaiveDate>>,
}

impl DailyTable {
    /// Adds to one daily row.
    pub(crate) fn add(
        &mut self,
        date: NaiveDate,
        token: &str,
        model: &str,
        endpoint: &str,
        metrics: &DayMetrics,
    ) {
        self.rows
            .entry((
                date,
                token.to_string(),
                model.to_string(),
                endpoint.to_string(),
            ))
            .or_default()
            .add(metrics);
        self.dates_of_key
            .entry(token.to_string())
            .or_default()
            .insert(date);
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
        self.add(date, token, model, endpoint, &failed);
    }

    /// Replaces a key's rows for `date` by one row of `usd` (no row when `usd` is 0).
    pub(crate) fn set_day(&mut self, date: NaiveDate, token: &str, usd: f64) {
        let stale: Vec<DayKey> = self
            .of_key_on(date, token)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            self.rows.remove(&key);
        }
        if let Some(dates) = self.dates_of_key.get_mut(token) {
            dates.remove(&date);
        }
        if usd != 0.0 {
            let metrics = DayMetrics {
                spend: usd,
                ..DayMetrics::default()
            };
            self.add(date, token, SEEDED_MODEL, SEEDED_ENDPOINT, &metrics);
        }
    }

    /// The rows of one key on one date.
    fn of_key_on<'a>(
        &'a self,
        date: NaiveDate,
        token: &'a str,
    ) -> impl Iterator<Item = (&'a DayKey, &'a DayMetrics)> + 'a {
        self.rows
            .range((date, token.to_owned(), String::new(), String::new())..)
            .take_while(move |((d, t, _, _), _)| *d == date && t == token)
    }

    /// The rows dated `start` to `end` inclusive, of one key or of all, oldest date first.
    pub(crate) fn between<'a>(
        &'a self,
        start: NaiveDate,
        end: NaiveDate,
        token: Option<&'a str>,
    ) -> Box<dyn Iterator<Item = (&'a DayKey, &'a DayMetrics)> + 'a> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        match token {
            Some(token) => Box::new(
                self.dates_of_key
                    .get(token)
                    .into_iter()
                    .flat_map(move |dates| dates.range(start..=end))
                    .flat_map(move |date| self.of_key_on(*date, token)),
            ),
            None => Box::new(
                self.rows
                    .range((start, String::new(), String::new(), String::new())..)
                    .take_while(move |((date, _, _, _), _)| *date <= end),
            ),
        }
    }
}
