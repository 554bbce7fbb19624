//! LiteLLM's alerting state for budget webhooks: which alerts the auth checks and the
//! projection decide, deduped for `budget_alert_ttl`, and the log of attempts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::projection::projection;
use super::{
    AlertType, CallInfo, Event, MAX_BUDGET_ALERT_PERCENTAGE, SentWebhook, WebhookEvent,
    budget_alert_ttl, event_for,
};
use crate::periods;
use crate::records::KeyRecord;

/// A webhook decided under the state lock, sent after it is released.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(super) url: String,
    pub(super) event: WebhookEvent,
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
    pub(crate) fn finish(&mut self, pending: &Pending, record: SentWebhook) {
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
