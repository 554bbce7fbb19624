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
//! spend of its first call only ([`crate::records::KeyRecord::cached_auth_spend`]). That is why
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

mod alerting;
mod projection;
mod send;

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::Duration;
use serde::Serialize;
use serde_json::Value;

use crate::records::KeyRecord;
use crate::util::py_float;

pub(crate) use alerting::{Alerting, Pending};
pub(crate) use send::{client, send};

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
pub(super) const MAX_BUDGET_ALERT_PERCENTAGE: f64 = 0.8;

pub(super) const CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(5);
pub(super) const SEND_TIMEOUT: StdDuration = StdDuration::from_secs(30);

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
}
