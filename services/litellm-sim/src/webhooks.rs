//! Budget-alert webhooks, as LiteLLM sends them with `general_settings.alerting: ["webhook"]` and
//! `WEBHOOK_URL` (`shared/reference/litellm-contract.md` §7, with the checks of §5 and §6).
//!
//! # When the checks run: before the call is charged, on the spend as it stood
//!
//! LiteLLM runs its key budget checks inside `user_api_key_auth`, before the request is routed
//! and long before its cost is known (contract §5 `virtual_key_max_budget_check`, §6
//! `virtual_key_soft_budget_check`; §7 "Key alerts fire only when the key makes an LLM (or
//! pass-through) request, from the auth checks"). The sim does the same: on
//! `/chat/completions` and `/v1/chat/completions` from a virtual key, at the point where it
//! decides the 422, it evaluates the alerts on the key's current `spend` (before this call's
//! cost is added), then answers (422 or 200) and only then charges a 200. Consequences, all as
//! in the real proxy:
//!
//! * the call that pushes the spend over a threshold does not alert; the key's *next* LLM call
//!   does (it sees the new spend);
//! * a key already at or over `max_budget` still alerts (`budget_crossed`) on the call that is
//!   refused with 422, because LiteLLM starts the alert task before raising
//!   `BudgetExceededError`;
//! * admin edits (`/key/update`, `/key/{key}/reset_spend`), reads, the sim's own controls and
//!   budget resets never alert, and there is no background scan: an idle key pushed over its
//!   budget by an admin edit sends nothing until it makes an LLM call;
//! * calls the sim refuses before its budget check (no or bad key, blocked, expired, malformed
//!   body, model not allowed) send nothing.
//!
//! The checks, in `user_api_key_auth`'s order, each a `budget_alerts(type, CallInfo)` call:
//!
//! 1. `token_budget` (`_virtual_key_max_budget_check`), when the key has a `max_budget`
//!    (including an unexpired `temp_budget_increase`); if `spend >= max_budget` the call is
//!    refused after this one.
//! 2. `max_budget_alert` (`_virtual_key_max_budget_alert_check`), when
//!    `0 < spend`, `spend >= 0.8 × max_budget` and `spend < max_budget`. Its event is computed
//!    the same way as 1's, so on the webhook path it never adds anything (below 85 % there is
//!    no event, contract §6).
//! 3. `soft_budget` (`_virtual_key_soft_budget_check`), when `soft_budget` is set (non-zero)
//!    and `spend >= soft_budget`.
//!
//! Each check turns into an event with `_get_event_and_event_message` (see [`event_for`]):
//! `soft_budget_crossed` when `spend >= soft_budget`, then overridden by `budget_crossed`
//! (`spend >= max_budget`) or `threshold_crossed` (5 % or 15 % or less of `max_budget` left).
//! The message starts with the check's prefix (`"Key Budget: "`, `"Soft Budget Crossed: "`) and
//! LiteLLM appends every matching part, so a key past both its soft budget and 85 % of its max
//! gets `"Key Budget: Total Soft Budget:`5.0`15% or less of budget remaining"`.
//!
//! # Deduplication
//!
//! The cache key is `budget_alerts:{event}:{token hash}`, kept 24 h (`budget_alert_ttl`) on the
//! sim's movable clock. The 85 % and 95 % alerts share `threshold_crossed`, so once the first
//! fired the second is suppressed for 24 h (the contract's 5.0 / 8.6 / 9.6 / 10.2 sequence).
//! Budget resets do not clear the cache (LiteLLM's is independent of the key row).
//!
//! LiteLLM reads the cache, sends, and writes the cache after the send returns. So:
//! * a non-200 answer still marks the alert as sent (it is printed and dropped, never retried);
//! * when the POST fails outright (connection refused, timeout) or `WEBHOOK_URL` is unset,
//!   LiteLLM raises before writing the cache, and the next LLM call tries again. The sim does
//!   the same: with no URL nothing is sent or cached; a failed connection is recorded (status
//!   `None`) and un-marked.
//!
//! One deliberate difference: the sim marks the cache atomically when it decides to send. In
//! LiteLLM the checks of one request run as separate asyncio tasks that all read the (still
//! empty) cache before the first send completes, so a request can POST the same event two or
//! three times (checks 1, 2 and 3 above). The sim sends it once. Receivers must dedupe anyway
//! (contract §7: on token, event and budget window).
//!
//! # Sending
//!
//! One `POST` per alert to the URL as given, body `WebhookEvent.model_dump_json()` (every
//! `CallInfo` field, nulls included, in pydantic's field order, compact), headers
//! `Content-Type: application/json` and `user-agent: litellm/1.108.7` plus what the HTTP client
//! adds (`accept`, `host`, `content-length`); no signature, token or auth header. Sends are
//! spawned, so they never delay or fail the chat call. The sim bypasses HTTP proxies from the
//! environment (its receivers are local). Every attempt is recorded ([`SentWebhook`]).
//!
//! Fields the sim cannot fill are null: `team_alias` and `organization_id` come from the team
//! row in LiteLLM's combined key view and the sim has no teams; `user_email` comes from the user
//! row (no users); `customer_id`, `alert_emails`, `max_budget_alert_emails` are not set by
//! these checks.
//!
//! # `projected_limit_exceeded`: after a charged call
//!
//! LiteLLM 1.108.7 sends it by default: `proxy_server.py` `update_cache` →
//! `_update_key_cache`, after every charged call of a key whose cached auth object has a soft
//! budget (and `soft_budget_cooldown` false, which the sim's keys always have), projects the
//! key's spend including the call against the soft budget with
//! `proxy/utils.py` `get_projected_spend_over_limit`, and alerts when the projection passes it
//! (observed on the real proxy, see `tests/webhooks.rs`). The sim does the same after charging
//! a chat call ([`projection`]):
//!
//! * with a `budget_duration` and a `budget_reset_at` (`_project_within_window`): the window
//!   ends at `budget_reset_at` and starts at `get_budget_window_start` (a calendar month before
//!   for `30d` and `1mo`, else the duration before; [`crate::periods::window_start`]);
//!   `elapsed = max(now - start, window / 24)`, `remaining = max(end - now, 0)`,
//!   `rate = spend / elapsed`, `projected_spend = spend + rate × remaining`; nothing when
//!   `now` is before the start or the projection does not pass the soft budget;
//!   `projected_exceeded_date` is the UTC date of `min(now + (soft - spend) / rate, end)`, or
//!   today when `rate <= 0` or the spend already passed the soft budget;
//! * otherwise (`_project_to_month_end`): `daily = spend / max(day_of_month - 1, 1)`,
//!   `projected_spend = spend + daily × days left in the month`, and the date
//!   `today + floor((soft - spend) / daily)` days (today as above).
//!
//! The spend projected is not the key's spend but that of LiteLLM's cached auth object for the
//! key plus the call's cost: the cache holds the row as it was read (for 60 s, or until an
//! admin edit) and is never charged, so while a key keeps calling, the projection sees the
//! spend of its first call only ([`crate::store::KeyRecord::cached_auth_spend`]). That is why
//! the real proxy sends `projected_limit_exceeded` once and not, as the spend grows, a
//! `budget_crossed` against the soft budget.
//!
//! The `CallInfo` carries `max_budget` = the **soft** budget, `soft_budget` null,
//! `projected_spend`, `projected_exceeded_date` as `YYYY-MM-DD`, `event_group` "key", and no
//! team. It goes through the usual event logic, so the event stays `projected_limit_exceeded`
//! ("Key Budget: Projected Limit Exceeded") while the spend is below 85 % of the soft budget;
//! nearer, LiteLLM's code turns it into `threshold_crossed` or `budget_crossed` against the
//! soft budget, and the sim does the same. It is deduped like every alert
//! (`budget_alerts:projected_limit_exceeded:{token}`, 24 h), so a key sends it once a day.
//! [`crate::SimControl::set_projected_limit_alerts`] turns it off for tests about the other
//! alerts alone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::periods;
use serde::Serialize;
use serde_json::Value;

use crate::store::{KeyRecord, Sim};
use crate::util::py_float;

/// The `user-agent` LiteLLM's httpx client sends.
pub const WEBHOOK_USER_AGENT: &str = "litellm/1.108.7";

/// `alerting_args.budget_alert_ttl`: 24 h.
pub(crate) fn budget_alert_ttl() -> Duration {
    Duration::hours(24)
}

/// `SLACK_ALERTING_THRESHOLD_5_PERCENT` / `_15_PERCENT`.
const THRESHOLD_5_PERCENT: f64 = 0.05;
const THRESHOLD_15_PERCENT: f64 = 0.15;
/// `EMAIL_BUDGET_ALERT_MAX_SPEND_ALERT_PERCENTAGE`.
const MAX_BUDGET_ALERT_PERCENTAGE: f64 = 0.8;

const CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(5);
const SEND_TIMEOUT: StdDuration = StdDuration::from_secs(30);

/// One webhook attempt, recorded when it finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentWebhook {
    /// The `WEBHOOK_URL` it went to.
    pub url: String,
    /// The JSON body (`WebhookEvent`).
    pub body: Value,
    /// The receiver's status, or `None` when no answer came (connection refused, timeout).
    pub status: Option<u16>,
}

/// `WebhookEvent.event` for budget alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Event {
    BudgetCrossed,
    ThresholdCrossed,
    SoftBudgetCrossed,
    ProjectedLimitExceeded,
}

impl Event {
    fn as_str(self) -> &'static str {
        match self {
            Event::BudgetCrossed => "budget_crossed",
            Event::ThresholdCrossed => "threshold_crossed",
            Event::SoftBudgetCrossed => "soft_budget_crossed",
            Event::ProjectedLimitExceeded => "projected_limit_exceeded",
        }
    }
}

/// The `type` of a `budget_alerts` call (`budget_alert_types.py`), for keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AlertType {
    TokenBudget,
    MaxBudgetAlert,
    SoftBudget,
    ProjectedLimitExceeded,
}

impl AlertType {
    /// `get_event_message()`.
    fn prefix(self) -> &'static str {
        match self {
            AlertType::TokenBudget | AlertType::MaxBudgetAlert => "Key Budget: ",
            AlertType::SoftBudget => "Soft Budget Crossed: ",
            AlertType::ProjectedLimitExceeded => "Key Budget: Projected Limit Exceeded",
        }
    }
}

/// LiteLLM's `CallInfo`, in pydantic's field order (which is the JSON order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CallInfo {
    pub spend: f64,
    pub max_budget: Option<f64>,
    pub soft_budget: Option<f64>,
    /// sha256 of the key.
    pub token: Option<String>,
    pub customer_id: Option<String>,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub team_alias: Option<String>,
    pub organization_id: Option<String>,
    pub user_email: Option<String>,
    pub key_alias: Option<String>,
    pub projected_exceeded_date: Option<String>,
    pub projected_spend: Option<f64>,
    pub event_group: &'static str,
    pub alert_emails: Option<Vec<String>>,
    pub max_budget_alert_emails: Option<HashMap<String, Vec<String>>>,
}

impl CallInfo {
    /// What the auth checks put in a key's `CallInfo`.
    fn of_key(record: &KeyRecord, max_budget: Option<f64>) -> Self {
        Self {
            spend: record.spend,
            max_budget,
            soft_budget: record.soft_budget(),
            token: Some(record.token.clone()),
            customer_id: None,
            user_id: record.user_id.clone(),
            team_id: record.team_id.clone(),
            team_alias: None,
            organization_id: None,
            user_email: None,
            key_alias: record.key_alias.clone(),
            projected_exceeded_date: None,
            projected_spend: None,
            event_group: "key",
            alert_emails: None,
            max_budget_alert_emails: None,
        }
    }
}

/// `WebhookEvent`: the `CallInfo` fields, then `event` and `event_message`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WebhookEvent {
    #[serde(flatten)]
    pub info: CallInfo,
    pub event: Event,
    pub event_message: String,
}

/// `_get_percent_of_max_budget_left`.
fn percent_left(info: &CallInfo) -> f64 {
    match info.max_budget {
        Some(max) if max > 0.0 => (max - info.spend) / max,
        _ => 0.0,
    }
}

/// `_get_event_and_event_message`, with the contract's message texts (§7).
pub(crate) fn event_for(
    info: &CallInfo,
    mut event: Option<Event>,
    mut message: String,
) -> (Option<Event>, String) {
    let left = percent_left(info);
    if let Some(soft) = info.soft_budget
        && info.spend >= soft
    {
        event = Some(Event::SoftBudgetCrossed);
        message.push_str(&format!("Total Soft Budget:`{}`", py_float(soft)));
    }
    if let Some(max) = info.max_budget {
        if info.spend >= max {
            event = Some(Event::BudgetCrossed);
            message.push_str(&format!(
                "Budget Crossed\n Total Budget:`{}`",
                py_float(max)
            ));
        } else if left <= THRESHOLD_5_PERCENT {
            event = Some(Event::ThresholdCrossed);
            message.push_str("5% or less of budget remaining");
        } else if left <= THRESHOLD_15_PERCENT {
            event = Some(Event::ThresholdCrossed);
            message.push_str("15% or less of budget remaining");
        }
    }
    (event, message)
}

/// A webhook decided under the state lock, sent after it is released.
#[derive(Debug)]
pub(crate) struct Pending {
    url: String,
    event: WebhookEvent,
    cache_key: String,
    attempt: u64,
}

/// The webhook side of the state: `WEBHOOK_URL`, LiteLLM's dedupe cache and the sim's log.
#[derive(Debug, Default)]
pub(crate) struct Alerting {
    pub url: Option<String>,
    /// Cache key → (expiry on the sim clock, attempt that set it).
    cache: HashMap<String, (DateTime<Utc>, u64)>,
    pub log: Vec<SentWebhook>,
    /// Decided but not yet recorded.
    pub in_flight: usize,
    pub projected_alerts: bool,
    next_attempt: u64,
}

impl Alerting {
    pub(crate) fn new(url: Option<String>) -> Self {
        Self {
            url,
            projected_alerts: true,
            ..Self::default()
        }
    }

    /// `SlackAlerting.budget_alerts(type, user_info)` on the webhook path.
    fn budget_alert(
        &mut self,
        kind: AlertType,
        info: CallInfo,
        now: DateTime<Utc>,
        outbox: &mut Vec<Pending>,
    ) {
        if info.max_budget.is_none() && info.soft_budget.is_none() {
            return;
        }
        let preset =
            (kind == AlertType::ProjectedLimitExceeded).then_some(Event::ProjectedLimitExceeded);
        let (Some(event), message) = event_for(&info, preset, kind.prefix().to_string()) else {
            return;
        };
        let id = info.token.as_deref().unwrap_or("default_id");
        let cache_key = format!("budget_alerts:{}:{id}", event.as_str());
        self.cache.retain(|_, (expires, _)| *expires > now);
        if self.cache.contains_key(&cache_key) {
            tracing::debug!(%cache_key, "budget alert already sent within budget_alert_ttl");
            return;
        }
        let Some(url) = self.url.clone() else {
            // LiteLLM raises "Missing webhook_url from environment" before caching the alert.
            tracing::warn!(%cache_key, "budget alert not sent: WEBHOOK_URL is not set");
            return;
        };
        self.next_attempt += 1;
        let attempt = self.next_attempt;
        self.cache
            .insert(cache_key.clone(), (now + budget_alert_ttl(), attempt));
        self.in_flight += 1;
        outbox.push(Pending {
            url,
            event: WebhookEvent {
                info,
                event,
                event_message: message,
            },
            cache_key,
            attempt,
        });
    }

    /// The budget checks of `user_api_key_auth` for a virtual key on an LLM route, on the
    /// spend as it stands before the call is charged (see the module docs).
    pub(crate) fn auth_checks(
        &mut self,
        record: &KeyRecord,
        max_budget: Option<f64>,
        now: DateTime<Utc>,
        outbox: &mut Vec<Pending>,
    ) {
        let info = CallInfo::of_key(record, max_budget);
        let spend = record.spend;
        // Check 1: _virtual_key_max_budget_check (the 422 follows when spend >= max_budget).
        if let Some(max) = max_budget {
            self.budget_alert(AlertType::TokenBudget, info.clone(), now, outbox);
            if spend >= max {
                return;
            }
            // Check 2: _virtual_key_max_budget_alert_check.
            if spend > 0.0 && spend >= max * MAX_BUDGET_ALERT_PERCENTAGE {
                self.budget_alert(AlertType::MaxBudgetAlert, info.clone(), now, outbox);
            }
        }
        // Check 3: _virtual_key_soft_budget_check (`if valid_token.soft_budget and ...`).
        if let Some(soft) = info.soft_budget
            && soft != 0.0
            && spend >= soft
        {
            self.budget_alert(AlertType::SoftBudget, info, now, outbox);
        }
    }

    /// `_update_key_cache`'s projection against the soft budget, after a call is charged, of
    /// `new_spend`: the spend of LiteLLM's cached auth object plus the call's cost (see the
    /// module docs).
    pub(crate) fn after_charge(
        &mut self,
        record: &KeyRecord,
        new_spend: f64,
        now: DateTime<Utc>,
        outbox: &mut Vec<Pending>,
    ) {
        if !self.projected_alerts {
            return;
        }
        let Some(soft) = record.soft_budget() else {
            return;
        };
        let window = match (&record.budget_duration, record.budget_reset_at) {
            (Some(duration), Some(end)) => periods::window_start(duration, end)
                .filter(|start| *start < end)
                .map(|start| (start, end)),
            _ => None,
        };
        let Some((projected_spend, date)) = projection(new_spend, soft, window, now) else {
            return;
        };
        let info = CallInfo {
            spend: new_spend,
            max_budget: Some(soft),
            soft_budget: None,
            token: Some(record.token.clone()),
            customer_id: None,
            user_id: record.user_id.clone(),
            team_id: None,
            team_alias: None,
            organization_id: None,
            user_email: None,
            key_alias: record.key_alias.clone(),
            projected_exceeded_date: Some(date.format("%Y-%m-%d").to_string()),
            projected_spend: Some(projected_spend),
            event_group: "key",
            alert_emails: None,
            max_budget_alert_emails: None,
        };
        self.budget_alert(AlertType::ProjectedLimitExceeded, info, now, outbox);
    }

    /// Records a finished attempt; a failed connection un-marks the cache, like LiteLLM
    /// raising before it writes the cache.
    fn finish(&mut self, pending: &Pending, record: SentWebhook) {
        if record.status.is_none()
            && self
                .cache
                .get(&pending.cache_key)
                .is_some_and(|(_, attempt)| *attempt == pending.attempt)
        {
            self.cache.remove(&pending.cache_key);
        }
        self.log.push(record);
        self.in_flight = self.in_flight.saturating_sub(1);
    }
}

fn last_day_of_month(day: NaiveDate) -> NaiveDate {
    let (year, month) = if day.month() == 12 {
        (day.year() + 1, 1)
    } else {
        (day.year(), day.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|first| first.pred_opt())
        .unwrap_or(day)
}

/// Seconds, with Python `timedelta.total_seconds()`'s microsecond precision.
fn seconds(span: Duration) -> f64 {
    span.num_microseconds()
        .map_or(f64::MAX, |us| us as f64 / 1e6)
}

/// `get_projected_spend_over_limit`: the projected spend and the UTC date it passes
/// `soft_budget`, when it does; within the budget window (start, end) when there is one, else
/// to the end of the month (see the module docs).
pub(crate) fn projection(
    spend: f64,
    soft_budget: f64,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Option<(f64, NaiveDate)> {
    match window {
        Some(window) => project_within_window(spend, soft_budget, window, now),
        None => project_to_month_end(spend, soft_budget, now.date_naive()),
    }
}

/// `_project_within_window`.
fn project_within_window(
    spend: f64,
    soft_budget: f64,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Option<(f64, NaiveDate)> {
    if now < start {
        return None;
    }
    // MIN_ELAPSED_WINDOW_FRACTION = 1/24 of the window.
    let elapsed = seconds(now - start).max(seconds(end - start) / 24.0);
    let remaining = seconds(end - now).max(0.0);
    let rate = spend / elapsed;
    let projected = spend + rate * remaining;
    if projected <= soft_budget {
        return None;
    }
    let remaining_budget = soft_budget - spend;
    if rate <= 0.0 || remaining_budget <= 0.0 {
        return Some((projected, now.date_naive()));
    }
    let until = remaining_budget / rate;
    let exceed_at = if until >= remaining {
        end
    } else {
        // `timedelta(seconds=...)` rounds to the microsecond.
        now.checked_add_signed(Duration::microseconds((until * 1e6).round() as i64))
            .map_or(end, |at| at.min(end))
    };
    Some((projected, exceed_at.date_naive()))
}

/// `_project_to_month_end`.
fn project_to_month_end(
    spend: f64,
    soft_budget: f64,
    today: NaiveDate,
) -> Option<(f64, NaiveDate)> {
    let remaining_days = (last_day_of_month(today) - today).num_days() as f64;
    let daily = spend / f64::from(today.day().saturating_sub(1).max(1));
    let projected = spend + daily * remaining_days;
    if projected <= soft_budget {
        return None;
    }
    let remaining_budget = soft_budget - spend;
    let date = if daily <= 0.0 || remaining_budget <= 0.0 {
        today
    } else {
        // `date + timedelta(days=x)` keeps whole days only.
        let days = (remaining_budget / daily).floor();
        if days.is_finite() && days < 1e6 {
            today + Duration::days(days as i64)
        } else {
            today
        }
    };
    Some((projected, date))
}

fn client(sim: &Sim) -> Option<&reqwest::Client> {
    sim.webhook_client
        .get_or_init(|| {
            reqwest::Client::builder()
                .no_proxy()
                .user_agent(WEBHOOK_USER_AGENT)
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(SEND_TIMEOUT)
                .build()
                .map_err(|err| tracing::error!(%err, "litellm-sim cannot build its webhook client"))
                .ok()
        })
        .as_ref()
}

/// Sends what a request decided, in a spawned task, one POST after the other.
pub(crate) fn dispatch(sim: &Arc<Sim>, outbox: Vec<Pending>) {
    if outbox.is_empty() {
        return;
    }
    let sim = sim.clone();
    tokio::spawn(async move {
        for pending in outbox {
            let record = send(&sim, &pending).await;
            sim.with_state(|db, _| db.alerting.finish(&pending, record));
        }
    });
}

async fn send(sim: &Sim, pending: &Pending) -> SentWebhook {
    let payload = serde_json::to_string(&pending.event).unwrap_or_default();
    let body = serde_json::from_str(&payload).unwrap_or(Value::Null);
    let mut record = SentWebhook {
        url: pending.url.clone(),
        body,
        status: None,
    };
    let Some(client) = client(sim) else {
        return record;
    };
    let answer = client
        .post(&pending.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(payload)
        .send()
        .await;
    match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            record.status = Some(status);
            if status == 200 {
                tracing::debug!(url = %pending.url, event = pending.event.event.as_str(), "budget webhook sent");
            } else {
                let text = response.text().await.unwrap_or_default();
                tracing::warn!(url = %pending.url, status, error = %text, "Error sending webhook alert (dropped, not retried)");
            }
        }
        Err(err) => {
            tracing::warn!(url = %pending.url, %err, "budget webhook failed; the next LLM call of the key retries it");
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(spend: f64, max: Option<f64>, soft: Option<f64>) -> CallInfo {
        CallInfo {
            spend,
            max_budget: max,
            soft_budget: soft,
            token: Some("t".into()),
            customer_id: None,
            user_id: None,
            team_id: None,
            team_alias: None,
            organization_id: None,
            user_email: None,
            key_alias: None,
            projected_exceeded_date: None,
            projected_spend: None,
            event_group: "key",
            alert_emails: None,
            max_budget_alert_emails: None,
        }
    }

    fn key_event(spend: f64, max: Option<f64>, soft: Option<f64>) -> (Option<Event>, String) {
        event_for(&info(spend, max, soft), None, "Key Budget: ".into())
    }

    #[test]
    fn thresholds_follow_get_event_and_event_message() {
        assert_eq!(key_event(5.0, Some(10.0), None).0, None);
        assert_eq!(key_event(8.49, Some(10.0), None).0, None);
        assert_eq!(
            key_event(8.5, Some(10.0), None),
            (
                Some(Event::ThresholdCrossed),
                "Key Budget: 15% or less of budget remaining".into()
            )
        );
        assert_eq!(
            key_event(9.6, Some(10.0), None),
            (
                Some(Event::ThresholdCrossed),
                "Key Budget: 5% or less of budget remaining".into()
            )
        );
        assert_eq!(
            key_event(10.2, Some(10.0), None),
            (
                Some(Event::BudgetCrossed),
                "Key Budget: Budget Crossed\n Total Budget:`10.0`".into()
            )
        );
        // A zero budget is crossed at once.
        assert_eq!(
            key_event(0.0, Some(0.0), None).0,
            Some(Event::BudgetCrossed)
        );
    }

    #[test]
    fn soft_budget_is_overridden_and_messages_concatenate() {
        assert_eq!(
            key_event(6.0, Some(100.0), Some(5.0)),
            (
                Some(Event::SoftBudgetCrossed),
                "Key Budget: Total Soft Budget:`5.0`".into()
            )
        );
        assert_eq!(
            key_event(8.6, Some(10.0), Some(5.0)),
            (
                Some(Event::ThresholdCrossed),
                "Key Budget: Total Soft Budget:`5.0`15% or less of budget remaining".into()
            )
        );
        assert_eq!(key_event(4.0, None, Some(5.0)).0, None);
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn projection_to_month_end_matches_litellm_utils() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let at = |d: u32| utc(&format!("2026-11-{d:02}T12:00:00Z"));
        // 40 over 10 days = 4/day, 19 days left in November: 40 + 76 = 116 > 100, passes 100
        // after 60 / 4 = 15 more days.
        assert_eq!(
            projection(40.0, 100.0, None, at(11)),
            Some((116.0, day(26)))
        );
        assert_eq!(projection(10.0, 100.0, None, at(11)), None);
        // On the 1st and the 2nd the whole spend is the daily rate.
        assert_eq!(projection(5.0, 100.0, None, at(1)), Some((150.0, day(20))));
        // Already over: today.
        assert_eq!(
            projection(120.0, 100.0, None, at(11)),
            Some((348.0, day(11)))
        );
        let dec = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        assert_eq!(last_day_of_month(dec), dec);
    }

    /// The three projections the real proxy 1.108.7 sent on 2026-12-03 for a key with soft
    /// budget 0.08 after its first 0.05 call (captured from its webhooks).
    #[test]
    fn projections_match_the_real_proxy() {
        let dec = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let window = |duration: &str, end: &str| {
            let end = utc(end);
            Some((periods::window_start(duration, end).unwrap(), end))
        };
        // budget_duration 30d: the window is December.
        let (spend, date) = projection(
            0.05,
            0.08,
            window("30d", "2027-01-01T00:00:00Z"),
            utc("2026-12-03T08:13:30Z"),
        )
        .unwrap();
        assert!((spend - 0.661_624_263_358_864_4).abs() < 1e-5, "{spend}");
        assert_eq!(date, dec(4));
        // No budget_duration: to the end of the month.
        let (spend, date) = projection(0.05, 0.08, None, utc("2026-12-03T08:13:37Z")).unwrap();
        assert!((spend - 0.75).abs() < 1e-12, "{spend}");
        assert_eq!(date, dec(4));
        // budget_duration 1h.
        let (spend, date) = projection(
            0.05,
            0.08,
            window("1h", "2026-12-03T09:00:00Z"),
            utc("2026-12-03T08:13:43Z"),
        )
        .unwrap();
        assert!((spend - 0.218_642_382_928_525_17).abs() < 1e-4, "{spend}");
        assert_eq!(date, dec(3));
        // Early in a window, elapsed counts as at least 1/24 of it.
        let (spend, _) = projection(
            0.01,
            0.08,
            window("1h", "2026-12-03T09:00:00Z"),
            utc("2026-12-03T08:00:01Z"),
        )
        .unwrap();
        assert!(
            (spend - 0.01 * 24.0 * 3599.0 / 3600.0 - 0.01).abs() < 1e-9,
            "{spend}"
        );
        // Before the window starts (a reset_at further away than one period): nothing.
        assert_eq!(
            projection(
                0.05,
                0.08,
                window("1h", "2026-12-03T12:00:00Z"),
                utc("2026-12-03T08:30:00Z")
            ),
            None
        );
    }
}
