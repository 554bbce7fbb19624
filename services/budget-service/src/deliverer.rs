//! The background task that sends alert notifications as a stream: every
//! BUDGET_DELIVERY_POLL_MS (and whenever a send ends while more is due) it claims as many due
//! deliveries as there are free slots and starts each at once, so a slow receiver holds only
//! its own slot, never a batch. Slots are capped in all, per tenant and per receiver
//! ([`InFlight`]), so one tenant's stalling receivers cannot delay another tenant's alerts.
//! On shutdown it stops claiming and lets the sends in flight finish (startup bounds the wait;
//! what is abandoned is sent again once its lease runs out).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{Id, JoinSet};

use crate::domain::egress::receiver_key;
use crate::domain::notification::{InFlight, Slot};
use crate::metrics::Metrics;
use crate::service::{Deliveries, DeliveryOutcome};
use crate::store::StoreError;

type Sends = JoinSet<Result<DeliveryOutcome, StoreError>>;

/// How often the deliverer samples the backlog for its gauges: one aggregate over the
/// pending rows, a fraction of a typical scrape interval.
const BACKLOG_SAMPLE: Duration = Duration::from_secs(15);

/// Streams deliveries until `stop` turns true; the first claim is at once.
pub(crate) async fn run(
    deliveries: Arc<Deliveries>,
    metrics: Arc<Metrics>,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sampler = tokio::time::interval(BACKLOG_SAMPLE);
    sampler.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight = InFlight::new(deliveries.limits());
    let mut sends = Sends::new();
    let mut slots: HashMap<Id, Slot> = HashMap::new();
    // The last claim filled every free slot: more may be due than was taken.
    let mut more_due = false;
    loop {
        let sample = tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break,
            Some(joined) = sends.join_next_with_id() => {
                finished(joined, &mut in_flight, &mut slots);
                if !more_due {
                    continue;
                }
                false
            }
            _ = ticker.tick() => false,
            _ = sampler.tick() => true,
        };
        if sample {
            sample_backlog(&deliveries, &metrics).await;
            continue;
        }
        more_due = start_due(&deliveries, &mut in_flight, &mut sends, &mut slots).await;
    }
    while let Some(joined) = sends.join_next_with_id().await {
        finished(joined, &mut in_flight, &mut slots);
    }
}

/// Shows the backlog in the gauges; a failed read keeps the last sample.
async fn sample_backlog(deliveries: &Deliveries, metrics: &Metrics) {
    match deliveries.backlog().await {
        Ok(backlog) => metrics.delivery_backlog(&backlog),
        Err(error) => tracing::warn!(error = %error, "reading the delivery backlog failed"),
    }
}

/// Claims and starts due deliveries while slots are free; true when the last claim filled
/// them all (so more may be due).
async fn start_due(
    deliveries: &Arc<Deliveries>,
    in_flight: &mut InFlight,
    sends: &mut Sends,
    slots: &mut HashMap<Id, Slot>,
) -> bool {
    loop {
        let free = in_flight.free();
        if free == 0 {
            return true;
        }
        let claimed = match deliveries.claim(in_flight).await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(error = %error, "claiming deliveries failed; retrying next poll");
                return false;
            }
        };
        let filled = claimed.len() >= free;
        for due in claimed {
            let slot = Slot {
                tenant_id: due.alert.tenant_id.to_string(),
                target_id: due.target_id,
                receiver: receiver_key(&due.url).unwrap_or_default(),
            };
            if in_flight.try_start(&slot) {
                let deliveries = deliveries.clone();
                let handle = sends.spawn(async move { deliveries.deliver(&due).await });
                slots.insert(handle.id(), slot);
            } else if let Err(error) = deliveries.release(&due).await {
                // Its lease makes it due again.
                tracing::warn!(error = %error, delivery_id = due.delivery_id, "could not give back a delivery");
            }
        }
        if !filled {
            return false;
        }
    }
}

/// Frees the slot of a send that ended and logs what could not be recorded.
fn finished(
    joined: Result<(Id, Result<DeliveryOutcome, StoreError>), tokio::task::JoinError>,
    in_flight: &mut InFlight,
    slots: &mut HashMap<Id, Slot>,
) {
    let id = match joined {
        Ok((id, Ok(_))) => id,
        Ok((id, Err(error))) => {
            tracing::warn!(error = %error, "could not record a delivery attempt; it will be retried");
            id
        }
        Err(error) => {
            tracing::error!(error = %error, "a delivery send ended abnormally; its lease makes it due again");
            error.id()
        }
    };
    if let Some(slot) = slots.remove(&id) {
        in_flight.finish(&slot);
    }
}
