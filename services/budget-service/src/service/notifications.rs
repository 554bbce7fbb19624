//! Alert notifications: each tenant's targets (listed and replaced as a whole set), and the
//! delivery pass that sends due deliveries and records each outcome.
//!
//! Delivery is at least once: a delivery is claimed (an attempt counted, a lease taken)
//! before it is sent, so a crash mid-send means it is sent again once the lease runs out.
//! Receivers drop repeats by the `Idempotency-Key` header, the alert id.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;

use super::{Actor, Budgets, Clock, parse_tenant};
use crate::domain::notification::{
    AfterFailure, ExistingTarget, RawTarget, after_failure, targets_summary, validate_targets,
};
use crate::error::BudgetError;
use crate::notify::{Destination, Notice, Notifier};
use crate::store::{DueDelivery, FailedAttempt, NewAudit, Store, StoreError, TargetRecord};

/// Deliveries claimed (and then sent concurrently) at a time.
pub const DELIVERY_BATCH: i64 = 20;

/// How long a claim keeps other senders off a delivery beyond the send timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

impl Budgets {
    /// The tenant's notification targets, oldest first.
    pub async fn notification_targets(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<TargetRecord>, BudgetError> {
        let id = parse_tenant(tenant_id)?;
        self.tenant_config(&id).await?;
        Ok(self.store.list_targets(&id).await?)
    }

    /// Replaces the tenant's whole set of targets and records who did it. The tenant's
    /// settings row is locked meanwhile, so concurrent replacements run one at a time.
    pub async fn set_notification_targets(
        &self,
        tenant_id: &str,
        targets: &[RawTarget],
        actor: &Actor,
    ) -> Result<Vec<TargetRecord>, BudgetError> {
        let id = parse_tenant(tenant_id)?;
        let mut tx = self.store.begin().await?;
        self.store
            .lock_tenant_config(&mut tx, &id)
            .await?
            .ok_or_else(|| BudgetError::TenantNotFound(id.clone()))?;
        let existing: Vec<ExistingTarget> = self
            .store
            .targets_in(&mut tx, &id)
            .await?
            .iter()
            .map(|t| ExistingTarget {
                target_id: t.target_id,
                has_secret: t.has_secret,
            })
            .collect();
        let specs = validate_targets(targets, &existing).map_err(BudgetError::InvalidArgument)?;
        let saved = self.store.replace_targets(&mut tx, &id, &specs).await?;
        let summary = targets_summary(
            saved
                .iter()
                .map(|t| (t.kind, t.url.as_str(), t.description.as_str())),
        );
        let audit = NewAudit {
            tenant_id: &id,
            actor: &actor.0,
            action: "notification_targets_updated",
            old: None,
            new: None,
            detail: Some(&summary),
        };
        self.store.insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(tenant_id = %id, actor = %actor.0, targets = saved.len(), "notification targets updated");
        Ok(saved)
    }
}

/// How deliveries are sent and retried.
#[derive(Clone, Debug)]
pub struct DeliveryPolicy {
    /// The wait after the first failed attempt; it doubles per attempt, up to an hour.
    pub retry_base: Duration,
    /// The timeout of one POST.
    pub timeout: Duration,
    /// The dashboard's base URL; a tenant's page is `{dashboard_url}/tenants/{id}`.
    pub dashboard_url: String,
}

/// What one delivery pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub given_up: usize,
}

/// Sends due deliveries and records how each went.
pub struct Deliveries {
    store: Store,
    notifier: Notifier,
    clock: Arc<dyn Clock>,
    policy: DeliveryPolicy,
}

impl Deliveries {
    pub fn new(
        store: Store,
        notifier: Notifier,
        clock: Arc<dyn Clock>,
        policy: DeliveryPolicy,
    ) -> Deliveries {
        Deliveries {
            store,
            notifier,
            clock,
            policy,
        }
    }

    /// Claims up to [`DELIVERY_BATCH`] due deliveries, sends them concurrently, and records
    /// each outcome. A recording failure is logged; the lease makes the delivery due again.
    pub async fn pass(&self) -> Result<DeliveryReport, StoreError> {
        let now = self.clock.now();
        let lease = TimeDelta::from_std(self.policy.timeout + LEASE_MARGIN)
            .unwrap_or(TimeDelta::minutes(5));
        let due = self
            .store
            .claim_due_deliveries(now, now + lease, DELIVERY_BATCH)
            .await?;
        let outcomes = futures::future::join_all(due.iter().map(|d| self.deliver(d))).await;
        let mut report = DeliveryReport {
            claimed: due.len(),
            ..DeliveryReport::default()
        };
        for outcome in outcomes {
            match outcome {
                Ok(Outcome::Delivered) => report.delivered += 1,
                Ok(Outcome::Retrying) => report.retrying += 1,
                Ok(Outcome::GivenUp) => report.given_up += 1,
                Err(error) => {
                    tracing::warn!(error = %error, "could not record a delivery attempt; it will be retried")
                }
            }
        }
        Ok(report)
    }

    async fn deliver(&self, due: &DueDelivery) -> Result<Outcome, StoreError> {
        let alert = &due.alert;
        let notice = Notice {
            alert_id: alert.alert_id,
            tenant_id: alert.tenant_id.to_string(),
            display_name: due.display_name.clone(),
            kind: alert.kind,
            message: alert.message.clone(),
            spend_micros: alert.spend_micros,
            max_budget_micros: alert.max_budget_micros,
            percent: alert.percent,
            threshold_percent: alert.threshold_percent,
            created_at: alert.created_at,
            dashboard_url: format!(
                "{}/tenants/{}",
                self.policy.dashboard_url.trim_end_matches('/'),
                alert.tenant_id
            ),
        };
        let destination = Destination {
            kind: due.kind,
            url: &due.url,
            secret: due.secret.as_deref(),
        };
        let sent = self.notifier.send(destination, &notice).await;
        let now = self.clock.now();
        let error = match sent {
            Ok(()) => {
                self.store.mark_delivered(due.delivery_id, now).await?;
                tracing::info!(
                    alert_id = alert.alert_id,
                    delivery_id = due.delivery_id,
                    kind = due.kind.as_str(),
                    attempts = due.attempts,
                    "alert notification delivered"
                );
                return Ok(Outcome::Delivered);
            }
            Err(error) => error,
        };
        let attempts = u32::try_from(due.attempts).unwrap_or(u32::MAX);
        let (outcome, recorded) =
            match after_failure(now, due.created_at, attempts, self.policy.retry_base) {
                AfterFailure::RetryAt(at) => (Outcome::Retrying, FailedAttempt::RetryAt(at)),
                AfterFailure::GiveUp => (Outcome::GivenUp, FailedAttempt::GiveUp),
            };
        self.store
            .mark_attempt_failed(due.delivery_id, due.attempts, recorded, &error.to_string())
            .await?;
        tracing::warn!(
            alert_id = alert.alert_id, delivery_id = due.delivery_id, kind = due.kind.as_str(),
            attempts = due.attempts, error = %error, given_up = outcome == Outcome::GivenUp,
            "alert notification not accepted"
        );
        Ok(outcome)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Retrying,
    GivenUp,
}
