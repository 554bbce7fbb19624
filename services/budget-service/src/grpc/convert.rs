//! Hand-written conversions between domain records and `budget.v1` messages.

use budget_proto::v1 as pb;
use chrono::{DateTime, Utc};

use crate::domain::notification::{RawTarget, url_origin};
use crate::domain::{
    AlertKind, BudgetPreview, BudgetSettings, BudgetState, BudgetStatus, Crossing, DeliveryStatus,
    FieldViolation, FleetState, Milestone, NotificationKind, RawConfigUpdate, RawIncrease,
    RawSettings, TemporaryIncrease,
};
use crate::domain::{AuditEvent, Delivery, NotificationTarget, Tenant, TenantConfig};
use crate::service::{AlertEntry, FleetSummary, TenantOverview};

pub(super) fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub(super) fn raw_settings(config: Option<&pb::BudgetConfig>) -> RawSettings {
    config
        .map(|c| RawSettings {
            max_budget_micros: c.max_budget_micros,
            alert_threshold_percent: c.alert_threshold_percent,
            grace_threshold_percent: c.grace_threshold_percent,
            budget_duration: c.budget_duration.clone(),
        })
        .unwrap_or_default()
}

/// An UpdateBudgetConfig as the use case takes it: the mask's paths (`None` without a
/// mask) and both etags, checked below the transport.
pub(super) fn raw_config_update(req: &pb::UpdateBudgetConfigRequest) -> RawConfigUpdate {
    RawConfigUpdate {
        settings: raw_settings(req.config.as_ref()),
        update_mask: req.update_mask.as_ref().map(|mask| mask.paths.clone()),
        etag: req.etag.clone(),
        config_etag: req
            .config
            .as_ref()
            .map(|config| config.etag.clone())
            .unwrap_or_default(),
    }
}

/// A PreviewBudgetConfig as the use case takes it: UpdateBudgetConfig's settings and mask,
/// without etags (a preview checks none).
pub(super) fn raw_preview(req: &pb::PreviewBudgetConfigRequest) -> RawConfigUpdate {
    RawConfigUpdate {
        settings: raw_settings(req.config.as_ref()),
        update_mask: req.update_mask.as_ref().map(|mask| mask.paths.clone()),
        ..RawConfigUpdate::default()
    }
}

fn milestone(m: &Milestone) -> pb::Milestone {
    let (crossing, time) = match m.crossing {
        Crossing::Reached => (pb::Crossing::Reached, None),
        Crossing::BeforeReset(at) => (pb::Crossing::BeforeReset, Some(timestamp(at))),
        Crossing::NotBeforeReset => (pb::Crossing::NotBeforeReset, None),
    };
    pb::Milestone {
        amount_micros: m.amount_micros,
        crossing: crossing.into(),
        time,
    }
}

pub(super) fn preview(tenant_id: &str, p: &BudgetPreview) -> pb::BudgetPreview {
    pb::BudgetPreview {
        tenant_id: tenant_id.to_owned(),
        config: Some(settings(tenant_id, &p.settings)),
        spend_micros: p.spend_micros,
        daily_rate_micros: p.daily_rate_micros,
        projected_spend_micros: p.projected_spend_micros,
        alert: Some(milestone(&p.alert)),
        budget: Some(milestone(&p.budget)),
        block: Some(milestone(&p.block)),
        reset_time: p.reset_time.map(timestamp),
        period_changes: p.period_changes,
        fetch_time: Some(timestamp(p.fetch_time)),
    }
}

fn state(state: BudgetState) -> pb::BudgetState {
    match state {
        BudgetState::Ok => pb::BudgetState::Ok,
        BudgetState::Warning => pb::BudgetState::Warning,
        BudgetState::Grace => pb::BudgetState::Grace,
        BudgetState::Blocked => pb::BudgetState::Blocked,
    }
}

pub(super) fn status(s: &BudgetStatus) -> pb::BudgetStatus {
    pb::BudgetStatus {
        tenant_id: s.tenant_id.to_string(),
        spend_micros: s.spend_micros,
        max_budget_micros: s.settings.max_budget_micros,
        percent_used: s.percent_used,
        alert_threshold_percent: s.settings.alert_threshold_percent,
        grace_threshold_percent: s.settings.grace_threshold_percent,
        block_at_micros: s.block_at_micros,
        state: state(s.state).into(),
        reset_time: s.reset_time.map(timestamp),
        days_until_reset: s.days_until_reset,
        budget_duration: s.settings.budget_duration.as_str().to_owned(),
        fetch_time: Some(timestamp(s.fetch_time)),
        suspended: s.suspended,
        projected_spend_micros: s.forecast.projected_spend_micros,
        projected_exhaustion_time: s.forecast.exhaustion_time.map(timestamp),
        alert_at_micros: s.alert_at_micros,
        daily_rate_micros: s.forecast.daily_rate_micros,
        base_budget_micros: s.base_budget_micros,
        temporary_increase: s.temporary_increase.as_ref().map(increase),
    }
}

fn settings(tenant_id: &str, s: &BudgetSettings) -> pb::BudgetConfig {
    pb::BudgetConfig {
        tenant_id: tenant_id.to_owned(),
        max_budget_micros: s.max_budget_micros,
        alert_threshold_percent: s.alert_threshold_percent,
        grace_threshold_percent: s.grace_threshold_percent,
        budget_duration: s.budget_duration.as_str().to_owned(),
        ..Default::default()
    }
}

pub(super) fn config(c: &TenantConfig) -> pb::BudgetConfig {
    pb::BudgetConfig {
        etag: c.etag(),
        update_time: Some(timestamp(c.updated_at)),
        reset_time: c.budget_reset_at.map(timestamp),
        ..settings(c.tenant_id.as_str(), &c.settings)
    }
}

pub(super) fn tenant(t: &Tenant) -> pb::Tenant {
    pb::Tenant {
        tenant_id: t.tenant_id.to_string(),
        display_name: t.display_name.clone(),
        key_alias: t.key_alias.clone(),
        create_time: Some(timestamp(t.created_at)),
        delete_time: t.deleted_at.map(timestamp),
        suspended: t.suspended_at.is_some(),
    }
}

pub(super) fn tenant_summary(o: &TenantOverview) -> pb::TenantSummary {
    let mut summary = pb::TenantSummary {
        tenant_id: o.tenant.tenant_id.to_string(),
        display_name: o.tenant.display_name.clone(),
        max_budget_micros: o.config.settings.max_budget_micros,
        delete_time: o.tenant.deleted_at.map(timestamp),
        suspended: o.tenant.suspended_at.is_some(),
        ..Default::default()
    };
    if let Some(s) = &o.status {
        summary.spend_micros = s.spend_micros;
        summary.percent_used = s.percent_used;
        summary.state = state(s.state).into();
        summary.status_available = true;
        summary.fetch_time = Some(timestamp(s.fetch_time));
        summary.run_out_time = s.run_out_time.map(timestamp);
        summary.reset_time = s.reset_time.map(timestamp);
    }
    summary
}

/// ListTenants' state filter: `None` for every state; a value this version does not know is
/// refused rather than ignored, so a newer client's filter never silently lists everything.
pub(super) fn fleet_state_filter(raw: i32) -> Result<Option<FleetState>, FieldViolation> {
    Ok(match pb::FleetState::try_from(raw) {
        Ok(pb::FleetState::Unspecified) => None,
        Ok(pb::FleetState::Ok) => Some(FleetState::Ok),
        Ok(pb::FleetState::Warning) => Some(FleetState::Warning),
        Ok(pb::FleetState::Grace) => Some(FleetState::Grace),
        Ok(pb::FleetState::Blocked) => Some(FleetState::Blocked),
        Ok(pb::FleetState::Suspended) => Some(FleetState::Suspended),
        Ok(pb::FleetState::Unavailable) => Some(FleetState::Unavailable),
        Err(_) => {
            return Err(FieldViolation::new(
                "state",
                "State must be one of the FleetState values (0 to 6)",
            ));
        }
    })
}

pub(super) fn fleet_summary(summary: &FleetSummary) -> pb::GetFleetSummaryResponse {
    let t = &summary.totals;
    let count = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
    pb::GetFleetSummaryResponse {
        ok_count: count(t.ok),
        warning_count: count(t.warning),
        grace_count: count(t.grace),
        blocked_count: count(t.blocked),
        suspended_count: count(t.suspended),
        unavailable_count: count(t.unavailable),
        evaluated_count: count(t.evaluated),
        total_spend_micros: t.spend_micros,
        total_budget_micros: t.budget_micros,
        runs_out_count: count(t.runs_out),
        runs_out: summary.runs_out.iter().map(tenant_summary).collect(),
    }
}

pub(super) fn alert(entry: &AlertEntry) -> pb::Alert {
    let a = &entry.alert;
    let kind = match a.kind {
        AlertKind::Threshold => pb::AlertType::Threshold,
        AlertKind::BudgetExceeded => pb::AlertType::BudgetExceeded,
        AlertKind::Blocked => pb::AlertType::Blocked,
        AlertKind::ProjectedLimit => pb::AlertType::ProjectedLimit,
    };
    pb::Alert {
        alert_id: a.alert_id.to_string(),
        tenant_id: a.tenant_id.to_string(),
        r#type: kind.into(),
        create_time: Some(timestamp(a.created_at)),
        spend_micros: a.spend_micros,
        max_budget_micros: a.max_budget_micros,
        percent: a.percent,
        threshold_percent: a.threshold_percent,
        message: a.message.clone(),
        deliveries: entry.deliveries.iter().map(delivery).collect(),
    }
}

fn notification_kind(kind: NotificationKind) -> pb::NotificationKind {
    match kind {
        NotificationKind::Webhook => pb::NotificationKind::Webhook,
        NotificationKind::Slack => pb::NotificationKind::Slack,
    }
}

fn delivery(d: &Delivery) -> pb::NotificationDelivery {
    let status = match d.status {
        DeliveryStatus::Pending => pb::DeliveryStatus::Pending,
        DeliveryStatus::Delivered => pb::DeliveryStatus::Delivered,
        DeliveryStatus::Failed => pb::DeliveryStatus::Failed,
    };
    pb::NotificationDelivery {
        target_id: d.target_id.to_string(),
        kind: notification_kind(d.kind).into(),
        status: status.into(),
        attempts: d.attempts,
        last_error: d.last_error.clone().unwrap_or_default(),
        deliver_time: d.delivered_at.map(timestamp),
        next_attempt_time: d.next_attempt_at.map(timestamp),
    }
}

/// A stored target as callers see it: never its URL or secret.
pub(super) fn target(t: &NotificationTarget) -> pb::NotificationTarget {
    pb::NotificationTarget {
        target_id: t.target_id.to_string(),
        kind: notification_kind(t.kind).into(),
        url: String::new(),
        secret: String::new(),
        has_secret: t.has_secret,
        description: t.description.clone(),
        create_time: Some(timestamp(t.created_at)),
        url_origin: url_origin(&t.url),
    }
}

pub(super) fn raw_target(t: &pb::NotificationTarget) -> RawTarget {
    let kind = match pb::NotificationKind::try_from(t.kind) {
        Ok(pb::NotificationKind::Webhook) => Some(NotificationKind::Webhook),
        Ok(pb::NotificationKind::Slack) => Some(NotificationKind::Slack),
        Ok(pb::NotificationKind::Unspecified) | Err(_) => None,
    };
    RawTarget {
        target_id: t.target_id.clone(),
        kind,
        url: t.url.clone(),
        secret: t.secret.clone(),
        description: t.description.clone(),
    }
}

pub(super) fn audit(e: &AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        event_id: e.event_id.to_string(),
        tenant_id: e.tenant_id.to_string(),
        actor: e.actor.clone(),
        action: e.action.clone(),
        old_config: e.old.as_ref().map(|s| settings(e.tenant_id.as_str(), s)),
        new_config: e.new.as_ref().map(|s| settings(e.tenant_id.as_str(), s)),
        create_time: Some(timestamp(e.created_at)),
        detail: e.detail.clone().unwrap_or_default(),
    }
}

pub(super) fn increase(i: &TemporaryIncrease) -> pb::TemporaryIncrease {
    pb::TemporaryIncrease {
        amount_micros: i.amount_micros,
        expire_time: Some(timestamp(i.expire_time)),
        reason: i.reason.clone(),
    }
}

/// A GrantTemporaryIncrease request as plain values; an unset or unrepresentable expiry is
/// `None` (reported as required).
pub(super) fn raw_increase(req: &pb::GrantTemporaryIncreaseRequest) -> RawIncrease {
    RawIncrease {
        amount_micros: req.amount_micros,
        expire_time: req.expire_time.as_ref().and_then(|t| {
            DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(u32::MAX))
        }),
        reason: req.reason.clone(),
    }
}

pub(super) fn model_spend(m: &crate::domain::ModelSpend) -> pb::ModelSpend {
    pb::ModelSpend {
        model: m.model.clone().unwrap_or_default(),
        spend_micros: m.spend_micros,
        other: m.model.is_none(),
    }
}
