//! The worker loop: claim a job of this instance's kinds, keep its lease alive with
//! heartbeats while the handler runs, and turn the handler's outcome into a queue call.
//! A maintenance task returns expired leases (dead workers) to the queue.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pressroom_core::JobKind;
use pressroom_store::{ClaimedJob, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::pipeline::{JobError, Pipeline};

/// How workers behave.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Job kinds this instance runs (its roles).
    pub kinds: Vec<JobKind>,
    /// Concurrent jobs of each kind (generation runs one at a time).
    pub concurrency: usize,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// How often a running job renews its lease.
    pub heartbeat: Duration,
    /// Idle wait between empty claims, and the first wait after a failed claim.
    pub poll: Duration,
    /// The longest wait between claims while the database keeps failing (the wait doubles
    /// from `poll` up to this).
    pub max_backoff: Duration,
    /// How often expired leases are rescued.
    pub rescue_every: Duration,
    /// Name of this instance in `lease_owner`.
    pub owner: String,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            kinds: JobKind::ALL.to_vec(),
            concurrency: 4,
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(15),
            poll: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            rescue_every: Duration::from_secs(10),
            owner: format!("pressroom-{}", std::process::id()),
        }
    }
}

/// Runs workers until `shutdown` fires; jobs in progress finish first (their leases would
/// otherwise have to expire before another instance could take them).
pub async fn run_workers(
    pipeline: Arc<Pipeline>,
    config: WorkerConfig,
    shutdown: CancellationToken,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for kind in JobKind::ALL.into_iter().filter(|k| k.run_by(&config.kinds)) {
        let group = Group {
            kind,
            // Generation is heavy and owns the engine: one at a time.
            slots: if kind == JobKind::Generate {
                1
            } else {
                config.concurrency.max(1)
            },
            owner: format!("{}/{}", config.owner, kind.as_str()),
        };
        let (p, c, s) = (pipeline.clone(), config.clone(), shutdown.clone());
        tasks.spawn(async move { group_loop(p, c, group, s).await });
    }
    let (p, c, s) = (pipeline.clone(), config.clone(), shutdown.clone());
    tasks.spawn(async move { rescue_loop(p, c, s).await });
    while tasks.join_next().await.is_some() {}
}

/// One job kind of this instance and how many of its jobs run at once. Render, publish and
/// webhook deliveries each get `concurrency` slots, so cutting renditions cannot hold up
/// publishing and slow webhook receivers cannot hold up either.
struct Group {
    kind: JobKind,
    slots: usize,
    /// `lease_owner` of the jobs this group claims.
    owner: String,
}

/// One claimer per group: it claims as many due jobs as the group has free slots, in one
/// query, and runs each beside the others. Every job keeps its own lease and fencing token,
/// so at most once is the same as with a claimer per slot; what changes is the number of
/// claim queries (one per batch, and one per `poll` when idle, instead of one per slot).
async fn group_loop(p: Arc<Pipeline>, c: WorkerConfig, group: Group, shutdown: CancellationToken) {
    let backoff = Arc::new(Mutex::new(Backoff::new(c.poll, c.max_backoff)));
    let mut running = tokio::task::JoinSet::new();
    while !shutdown.is_cancelled() {
        while running.try_join_next().is_some() {}
        let free = group.slots.saturating_sub(running.len());
        if free == 0 {
            // Every slot is busy: claim again when one frees up.
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = running.join_next() => continue,
            }
        }
        let claimed = match p
            .queue
            .claim(&[group.kind], &group.owner, c.lease, free as u32)
            .await
        {
            Ok(jobs) => {
                lock(&backoff).succeeded();
                jobs
            }
            Err(e) => {
                let wait = lock(&backoff).failed(&e.to_string());
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(wait) => continue,
                }
            }
        };
        let drained = claimed.len() < free;
        for job in claimed {
            let span = info_span!("job", id = %job.id, kind = %job.kind, workspace = %job.workspace_id, attempt = job.attempt);
            let (p, c, backoff) = (p.clone(), c.clone(), backoff.clone());
            running.spawn(async move { run_one(&p, &c, job, &backoff).await }.instrument(span));
        }
        if drained {
            // Nothing more is due now: look again after `poll`.
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(c.poll) => {}
            }
        }
    }
    // Jobs in progress finish (and record their outcome) before the instance stops.
    while running.join_next().await.is_some() {}
}

/// The group's backoff, shared by its claimer and its running jobs (a job that met an outage
/// makes the claimer wait too).
pub(crate) type SharedBackoff = Mutex<Backoff>;

fn lock(backoff: &SharedBackoff) -> std::sync::MutexGuard<'_, Backoff> {
    backoff.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits between tries while the database fails: doubling from `base` to `cap`, logged once
/// per streak of failures (a warning when it starts, a note when it ends) rather than once
/// per try.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base: base.max(Duration::from_millis(1)),
            cap: cap.max(base),
            failures: 0,
        }
    }

    /// Counts a failure and returns how long to wait before the next try.
    pub fn failed(&mut self, error: &str) -> Duration {
        self.failures = self.failures.saturating_add(1);
        if self.failures == 1 {
            warn!(%error, "worker: database failing; backing off until it answers");
        } else {
            debug!(%error, failures = self.failures, "worker: database still failing");
        }
        self.current()
    }

    /// Ends a streak of failures, if one was running.
    pub fn succeeded(&mut self) {
        if self.failures > 0 {
            info!(
                failures = self.failures,
                "worker: database answers again; claiming"
            );
            self.failures = 0;
        }
    }

    /// The wait after the failures counted so far (zero when there were none).
    pub fn current(&self) -> Duration {
        if self.failures == 0 {
            return Duration::ZERO;
        }
        let doublings = (self.failures - 1).min(31);
        self.base
            .checked_mul(1u32 << doublings)
            .map_or(self.cap, |d| d.min(self.cap))
    }
}

/// Runs one job with a heartbeat beside it, then records the outcome.
async fn run_one(p: &Pipeline, c: &WorkerConfig, job: ClaimedJob, backoff: &SharedBackoff) {
    let beat = CancellationToken::new();
    // Cancelled by the heartbeat when another worker took the job over: the handler is then
    // dropped at its next await, so it cannot go on to a platform call it no longer owns
    // (what it already wrote is fenced; what it would write next is someone else's).
    let lost = CancellationToken::new();
    let heartbeat = {
        let (queue, job, beat, lost, every, lease) = (
            p.queue.clone(),
            job.clone(),
            beat.clone(),
            lost.clone(),
            c.heartbeat,
            c.lease,
        );
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = beat.cancelled() => break,
                    _ = tokio::time::sleep(every) => {
                        if let Err(e) = queue.heartbeat(&job, lease).await {
                            warn!(error = %e, "worker: heartbeat failed");
                            if matches!(e, StoreError::LeaseLost { .. }) {
                                lost.cancel();
                                break;
                            }
                        }
                    }
                }
            }
        })
    };
    let outcome = tokio::select! {
        outcome = p.handle(&job) => outcome,
        _ = lost.cancelled() => Err(JobError::LeaseLost),
    };
    beat.cancel();
    let _ = heartbeat.await;
    record(p, c, &job, outcome, backoff).await;
}

/// Turns a handler's outcome into a queue call. A database outage is not the job's fault: the
/// job goes back without spending an attempt (its post stays where it was, e.g. `publishing`,
/// and the handler picks it up from there), and recording that is itself retried with the
/// backoff while the lease lasts, since the same outage may refuse the first try.
pub(crate) async fn record(
    p: &Pipeline,
    c: &WorkerConfig,
    job: &ClaimedJob,
    outcome: Result<(), JobError>,
    backoff: &SharedBackoff,
) {
    let recorded = match outcome {
        Ok(()) => Ok(()),
        Err(JobError::LeaseLost) => {
            warn!("worker: lease lost; another worker owns this job now");
            Ok(())
        }
        Err(JobError::Unavailable(error)) => {
            let delay = lock(backoff).failed(&error).max(c.poll);
            defer_through_outage(p, c, job, delay, &error, backoff).await
        }
        Err(JobError::Retry { error, retry_after }) => {
            let delay = p.retry.delay(job.attempt.max(1) as u32, retry_after);
            debug!(%error, delay_ms = delay.as_millis() as u64, "worker: will retry");
            p.queue
                .retry(p.store.conn(), job, delay, &error)
                .await
                .map(|state| {
                    if state == pressroom_core::JobState::Dead {
                        error!(%error, "worker: job is dead after its last attempt");
                    }
                })
        }
        Err(JobError::Defer { reason, delay }) => {
            debug!(%reason, delay_ms = delay.as_millis() as u64, "worker: deferred");
            p.queue.defer(p.store.conn(), job, delay, &reason).await
        }
        Err(JobError::Permanent(reason)) => {
            error!(%reason, "worker: job failed permanently");
            p.queue.kill(p.store.conn(), job, &reason).await
        }
    };
    if let Err(e) = recorded {
        if e.is_unavailable() {
            lock(backoff).failed(&e.to_string());
        }
        warn!(error = %e, "worker: could not record the job's outcome; its lease will expire and it will be rescued");
    }
}

/// Defers a job hit by a database outage, trying again with the backoff until the deferral
/// is recorded or half the lease is gone (after that, the rescuer takes the job back).
async fn defer_through_outage(
    p: &Pipeline,
    c: &WorkerConfig,
    job: &ClaimedJob,
    delay: Duration,
    error: &str,
    backoff: &SharedBackoff,
) -> Result<(), StoreError> {
    let give_up = tokio::time::Instant::now() + c.lease / 2;
    let reason = format!("database unavailable: {error}");
    loop {
        match p.queue.defer(p.store.conn(), job, delay, &reason).await {
            Ok(()) => {
                debug!(
                    delay_ms = delay.as_millis() as u64,
                    "worker: database unavailable; job put back without spending an attempt"
                );
                return Ok(());
            }
            Err(e) if e.is_unavailable() => {
                let wait = lock(backoff).failed(&e.to_string());
                if tokio::time::Instant::now() + wait >= give_up {
                    return Err(e);
                }
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn rescue_loop(p: Arc<Pipeline>, c: WorkerConfig, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        match p.queue.rescue_expired().await {
            Ok(0) => {}
            Ok(n) => warn!(jobs = n, "rescued jobs whose lease expired"),
            Err(e) => warn!(error = %e, "rescue failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(c.rescue_every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use pressroom_connector::Registry;
    use pressroom_core::RetryPolicy;
    use pressroom_store::{NewJob, Store};

    use super::*;
    use crate::PlaintextForbidden;

    #[test]
    fn backoff_doubles_to_its_cap_and_starts_over_after_a_success() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
        let waits: Vec<u64> = (0..9)
            .map(|_| b.failed("down").as_millis() as u64)
            .collect();
        assert_eq!(
            waits,
            [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]
        );
        b.succeeded();
        assert_eq!(b.current(), Duration::ZERO);
        assert_eq!(b.failed("down again"), Duration::from_millis(250));
        // Thousands of failures in a row neither overflow nor pass the cap.
        for _ in 0..5000 {
            b.failed("down");
        }
        assert_eq!(b.current(), Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_database_outage_puts_the_job_back_without_spending_an_attempt() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
        let store = Store::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let p = Pipeline::new(
            store.clone(),
            BTreeMap::new(),
            Registry::new(),
            Arc::new(pressroom_media::Presets::builtin().clone()),
            Arc::new(pressroom_store::LocalBlobs::new(dir.path().to_path_buf())),
            RetryPolicy::default(),
            Arc::new(PlaintextForbidden),
        );
        let tx = store.begin().await.expect("tx");
        p.queue
            .enqueue(
                &tx,
                NewJob::new(&"ws".into(), JobKind::Publish, serde_json::json!({})).max_attempts(1),
            )
            .await
            .expect("enqueue");
        tx.commit().await.expect("commit");
        let c = WorkerConfig {
            poll: Duration::from_millis(1),
            ..WorkerConfig::default()
        };
        let backoff = Mutex::new(Backoff::new(c.poll, c.max_backoff));
        // Three outages in a row on a job with a single attempt: it is never used up.
        for _ in 0..3 {
            let mut claimed = p
                .queue
                .claim(&[JobKind::Publish], "w", c.lease, 1)
                .await
                .expect("claim");
            let job = claimed.pop().expect("the job is claimable again");
            assert_eq!(job.attempt, 1);
            // What a handler's `?` makes of a pool that timed out.
            let outage = JobError::from(pressroom_store::testing::pool_timed_out());
            assert!(matches!(outage, JobError::Unavailable(_)), "{outage:?}");
            record(&p, &c, &job, Err(outage), &backoff).await;
            let listed = p
                .queue
                .list(pressroom_core::JobState::Available, None, 10)
                .await
                .expect("list");
            assert_eq!(listed.len(), 1, "the job is available, not dead");
            assert_eq!(listed[0].attempt, 0, "no attempt spent");
            // Its delay (the backoff, at least 1 ms) passes before it is claimed again.
            let wait = lock(&backoff).current();
            tokio::time::sleep(wait + Duration::from_millis(20)).await;
        }
    }
}
