//! The background task that sends alert notifications: every BUDGET_DELIVERY_POLL_MS it
//! claims the deliveries that are due and sends them, batch after batch while batches come
//! back full. It stops between batches on shutdown; what it leaves is sent after a restart.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::service::{DELIVERY_BATCH, Deliveries};

/// Polls until `stop` turns true; the first poll is at once.
pub async fn run(deliveries: Arc<Deliveries>, poll: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let full = usize::try_from(DELIVERY_BATCH).unwrap_or(usize::MAX);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        loop {
            match deliveries.pass().await {
                Ok(report) => {
                    if report.claimed > 0 {
                        tracing::debug!(
                            claimed = report.claimed,
                            delivered = report.delivered,
                            retrying = report.retrying,
                            given_up = report.given_up,
                            "delivery pass finished"
                        );
                    }
                    if report.claimed < full || *stop.borrow() {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, "delivery pass failed; retrying next poll");
                    break;
                }
            }
        }
        if *stop.borrow() {
            return;
        }
    }
}
