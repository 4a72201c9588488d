//! The scheduler's metronome: tokio-cron-scheduler calls [`fire_due`] on a fixed cron
//! (every 10 seconds by default). Correctness never depends on the ticker — a missed or
//! doubled tick, or ten instances ticking at once, still give one fire per occurrence.

use std::sync::Arc;
use std::time::Duration;

use pressroom_store::{Queue, Store};
use tokio_cron_scheduler::{Job, JobScheduler};
use tracing::{debug, warn};

use crate::{Clock, fire_due};

/// A running ticker; dropping or `shutdown` stops it.
pub struct Ticker {
    scheduler: JobScheduler,
}

impl Ticker {
    /// Starts ticking on `cron` (6 fields, seconds first; e.g. `*/10 * * * * *`).
    pub async fn start(
        store: Store,
        queue: Queue,
        clock: Arc<dyn Clock>,
        cron: &str,
        grace: Duration,
    ) -> anyhow::Result<Self> {
        let scheduler = JobScheduler::new().await?;
        let job = Job::new_async(cron, move |_id, _lock| {
            let (store, queue, clock) = (store.clone(), queue.clone(), clock.clone());
            Box::pin(async move {
                match fire_due(&store, &queue, clock.as_ref(), grace).await {
                    Ok(report) => debug!(
                        fired = report.fired.len(),
                        missed = report.missed,
                        "scheduler tick"
                    ),
                    Err(e) => warn!(error = %e, "scheduler tick failed; the next tick retries"),
                }
            })
        })?;
        scheduler.add(job).await?;
        scheduler.start().await?;
        Ok(Self { scheduler })
    }

    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.scheduler.shutdown().await?;
        Ok(())
    }
}
