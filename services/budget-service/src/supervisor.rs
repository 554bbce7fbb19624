//! Supervision of background tasks (evaluator, deliverer, cache listener, purger). A task
//! that panics, or returns while the service is not stopping, is logged, counted
//! (`budget_background_task_restarts_total{task}`) and started again after a backoff that
//! doubles from 250 ms to 30 s (reset once a run lasted a minute). Without this a single
//! panic silently stopped alerts, drift repair or delivery for the whole fleet while health
//! still said SERVING.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::panic_points::PanicPoints;

const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A run at least this long counts as healthy: the next restart waits the minimum again.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// What a supervised task needs besides its own arguments.
#[derive(Clone)]
pub(crate) struct Supervision {
    pub metrics: Arc<Metrics>,
    pub panic_points: Arc<PanicPoints>,
    pub stop: watch::Receiver<bool>,
}

/// Spawns `name`, started by `start` and restarted whenever it ends before `stop` turns
/// true. The returned handle ends once the task has ended after a stop.
pub(crate) fn spawn<F, Fut>(
    name: &'static str,
    supervision: Supervision,
    mut start: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let Supervision {
            metrics,
            panic_points,
            mut stop,
        } = supervision;
        metrics.task_supervised(name);
        let mut backoff = BACKOFF_MIN;
        loop {
            let started = Instant::now();
            let run = start();
            let points = panic_points.clone();
            let task = AbortOnDrop(tokio::spawn(async move {
                points.check(format_args!("task:{name}"));
                run.await;
            }));
            let ended = task.join().await;
            if *stop.borrow() {
                return;
            }
            match ended {
                Err(error) if error.is_panic() => {
                    tracing::error!(task = name, "background task panicked; restarting it");
                }
                Err(_) => {
                    tracing::error!(task = name, "background task was cancelled; restarting it")
                }
                Ok(()) => tracing::error!(
                    task = name,
                    "background task ended unexpectedly; restarting it"
                ),
            }
            metrics.task_restarted(name);
            if started.elapsed() >= HEALTHY_RUN {
                backoff = BACKOFF_MIN;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            backoff = backoff.saturating_mul(2).min(BACKOFF_MAX);
        }
    })
}

/// A task handle that aborts the task when dropped (when the supervisor itself is aborted
/// after the shutdown grace period, its task goes too).
struct AbortOnDrop(JoinHandle<()>);

impl AbortOnDrop {
    async fn join(mut self) -> Result<(), tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
