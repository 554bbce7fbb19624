//! Alert notifications: each tenant's targets (listed and replaced as a whole set, checked
//! against the egress rules), and the claiming, sending and recording of deliveries that the
//! deliverer task streams.
//!
//! Delivery is at least once: a delivery is claimed (an attempt counted, a lease taken)
//! before it is sent, so a crash mid-send means it is sent again once the lease runs out.
//! Receivers drop repeats by the `Idempotency-Key` header, the alert id.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;

use super::Budgets;
use super::shared::{Actor, parse_tenant};
use crate::clock::Clock;
use crate::domain::egress::UrlRefusal;
use crate::domain::notification::{
    AfterFailure, DeliveryLimits, ExistingTarget, InFlight, MAX_TARGETS, RawTarget, after_failure,
    targets_summary, validate_targets,
};
use crate::domain::{DeliveryBacklog, NotificationTarget};
use crate::error::BudgetError;
use crate::notify::{Destination, Notice, Notifier, TargetGuard};
use crate::store::{Claim, DueDelivery, FailedAttempt, NewAudit, Store, StoreError};

/// How long a claim keeps other senders off a delivery beyond the send timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// How long a claimed delivery whose receiver is busy waits before it is due again.
const BUSY_RECEIVER_WAIT: Duration = Duration::from_secs(1);

impl Budgets {
    /// The tenant's notification targets, oldest first.
    pub(crate) async fn notification_targets(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<NotificationTarget>, BudgetError> {
        let id = parse_tenant(tenant_id)?;
        self.tenant_config(&id).await?;
        Ok(self.store.list_targets(&id).await?)
    }

    /// Replaces the tenant's whole set of targets and records who did it. The tenant's
    /// settings row is locked meanwhile, so concurrent replacements run one at a time.
    pub(crate) async fn set_notification_targets(
        &self,
        tenant_id: &str,
        targets: &[RawTarget],
        actor: &Actor,
    ) -> Result<Vec<NotificationTarget>, BudgetError> {
        let id = parse_tenant(tenant_id)?;
        // Names are resolved before the tenant's row is locked: a slow lookup holds nothing.
        let resolves_inside = self.targets_resolving_inside(targets).await;
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
        let specs = validate_targets(
            targets,
            &existing,
            self.target_guard.policy(),
            &resolves_inside,
        )
        .map_err(BudgetError::InvalidArgument)?;
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

    /// The indexes of the targets whose URL names a host that resolves to an address the
    /// egress rules refuse. All lookups run at once, each bounded by the lookup timeout.
    async fn targets_resolving_inside(&self, targets: &[RawTarget]) -> Vec<usize> {
        if targets.len() > MAX_TARGETS {
            return Vec::new();
        }
        let checks = targets.iter().map(|target| {
            let url = target.url.trim();
            async move {
                !url.is_empty()
                    && self.target_guard.check_target(url).await == Err(UrlRefusal::LocalAddress)
            }
        });
        futures::future::join_all(checks)
            .await
            .into_iter()
            .enumerate()
            .filter_map(|(i, inside)| inside.then_some(i))
            .collect()
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
    /// How many deliveries this replica sends at once.
    pub limits: DeliveryLimits,
}

/// How one delivery attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeliveryOutcome {
    Delivered,
    Retrying,
    GivenUp,
}

/// Claims due deliveries, sends them and records how each went.
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

    pub(crate) fn limits(&self) -> DeliveryLimits {
        self.policy.limits
    }

    /// What is still to be delivered, for the backlog gauges.
    pub async fn backlog(&self) -> Result<DeliveryBacklog, StoreError> {
        self.store.delivery_backlog().await
    }

    /// Claims as many due deliveries as `in_flight` has free slots, leaving out what would
    /// take a tenant or a target past its cap. Each comes with a lease of the send timeout
    /// and a margin, so it must be sent (or given back) at once.
    pub(crate) async fn claim(&self, in_flight: &InFlight) -> Result<Vec<DueDelivery>, StoreError> {
        let limits = in_flight.limits();
        let busy_tenants: Vec<(&str, usize)> = in_flight.by_tenant().collect();
        let busy_targets: Vec<(i64, usize)> = in_flight.by_target().collect();
        let now = self.clock.now();
        let lease = TimeDelta::from_std(self.policy.timeout + LEASE_MARGIN)
            .unwrap_or(TimeDelta::minutes(5));
        self.store
            .claim_due_deliveries(
                now,
                now + lease,
                &Claim {
                    limit: in_flight.free(),
                    per_tenant: limits.per_tenant,
                    busy_tenants: &busy_tenants,
                    // A target is one receiver, so its cap is the receiver's.
                    per_target: limits.per_receiver,
                    busy_targets: &busy_targets,
                },
            )
            .await
    }

    /// Gives back a claimed delivery that cannot start now (its receiver is busy with other
    /// targets' deliveries): it is due again shortly, its attempt not counted.
    pub(crate) async fn release(&self, due: &DueDelivery) -> Result<(), StoreError> {
        let wait = TimeDelta::from_std(BUSY_RECEIVER_WAIT).unwrap_or(TimeDelta::seconds(1));
        self.store
            .release_claim(due.delivery_id, due.attempts, self.clock.now() + wait)
            .await
    }

    /// Sends one claimed delivery and records the outcome. A recording failure is returned;
    /// the lease makes the delivery due again.
    pub(crate) async fn deliver(&self, due: &DueDelivery) -> Result<DeliveryOutcome, StoreError> {
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
                return Ok(DeliveryOutcome::Delivered);
            }
            Err(error) => error,
        };
        let attempts = u32::try_from(due.attempts).unwrap_or(u32::MAX);
        let (outcome, recorded) = match after_failure(
            now,
            due.created_at,
            attempts,
            self.policy.retry_base,
            error.backoff(),
        ) {
            AfterFailure::RetryAt(at) => (DeliveryOutcome::Retrying, FailedAttempt::RetryAt(at)),
            AfterFailure::GiveUp => (DeliveryOutcome::GivenUp, FailedAttempt::GiveUp),
        };
        self.store
            .mark_attempt_failed(due.delivery_id, due.attempts, recorded, &error.to_string())
            .await?;
        tracing::warn!(
            alert_id = alert.alert_id, delivery_id = due.delivery_id, kind = due.kind.as_str(),
            attempts = due.attempts, error = %error, given_up = outcome == DeliveryOutcome::GivenUp,
            "alert notification not accepted"
        );
        Ok(outcome)
    }
}

impl Budgets {
    /// Checks notification targets against these egress rules as they are saved; the
    /// default refuses plain http and every internal address.
    pub fn with_target_guard(mut self, guard: TargetGuard) -> Budgets {
        self.target_guard = guard;
        self
    }
}
