//! The worker loop: claim a job of this instance's kinds, keep its lease alive with
//! heartbeats while the handler runs, and turn the handler's outcome into a queue call.
//! A maintenance task returns expired leases (dead workers) to the queue.

use std::sync::Arc;
use std::time::Duration;

use pressroom_core::JobKind;
use pressroom_store::{ClaimedJob, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info_span, warn};

use crate::pipeline::{JobError, Pipeline};

/// How workers behave.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Job kinds this instance runs (its roles).
    pub kinds: Vec<JobKind>,
    /// Concurrent jobs per kind group.
    pub concurrency: usize,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// How often a running job renews its lease.
    pub heartbeat: Duration,
    /// Idle wait between empty claims.
    pub poll: Duration,
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
    // Generation is heavy and owns the engine: one at a time; other kinds run concurrently.
    // Webhook deliveries get their own workers, so slow receivers cannot hold up publishing.
    let groups: Vec<(Vec<JobKind>, usize)> = {
        let of = |keep: &dyn Fn(JobKind) -> bool| -> Vec<JobKind> {
            config.kinds.iter().copied().filter(|k| keep(*k)).collect()
        };
        let heavy = of(&|k| k == JobKind::Generate);
        let light = of(&|k| !matches!(k, JobKind::Generate | JobKind::Notify));
        let notify = of(&|k| k == JobKind::Notify);
        let n = config.concurrency.max(1);
        [(heavy, 1), (light, n), (notify, n)]
            .into_iter()
            .filter(|(k, _)| !k.is_empty())
            .collect()
    };
    for (kinds, n) in groups {
        for i in 0..n {
            let (p, c, s, kinds) = (
                pipeline.clone(),
                config.clone(),
                shutdown.clone(),
                kinds.clone(),
            );
            let owner = format!(
                "{}/{}-{i}",
                c.owner,
                kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join("+")
            );
            tasks.spawn(async move { worker_loop(p, c, kinds, owner, s).await });
        }
    }
    let (p, c, s) = (pipeline.clone(), config.clone(), shutdown.clone());
    tasks.spawn(async move { rescue_loop(p, c, s).await });
    while tasks.join_next().await.is_some() {}
}

async fn worker_loop(
    p: Arc<Pipeline>,
    c: WorkerConfig,
    kinds: Vec<JobKind>,
    owner: String,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        let claimed = match p.queue.claim(&kinds, &owner, c.lease, 1).await {
            Ok(jobs) => jobs,
            Err(e) => {
                warn!(error = %e, "worker: claim failed");
                Vec::new()
            }
        };
        if claimed.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(c.poll) => continue,
            }
        }
        for job in claimed {
            let span = info_span!("job", id = %job.id, kind = %job.kind, workspace = %job.workspace_id, attempt = job.attempt);
            run_one(&p, &c, job).instrument(span).await;
        }
    }
}

/// Runs one job with a heartbeat beside it, then records the outcome.
async fn run_one(p: &Pipeline, c: &WorkerConfig, job: ClaimedJob) {
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
    let recorded = match outcome {
        Ok(()) => Ok(()),
        Err(JobError::LeaseLost) => {
            warn!("worker: lease lost; another worker owns this job now");
            Ok(())
        }
        Err(JobError::Retry { error, retry_after }) => {
            let delay = p.retry.delay(job.attempt.max(1) as u32, retry_after);
            debug!(%error, delay_ms = delay.as_millis() as u64, "worker: will retry");
            p.queue
                .retry(p.store.conn(), &job, delay, &error)
                .await
                .map(|state| {
                    if state == pressroom_core::JobState::Dead {
                        error!(%error, "worker: job is dead after its last attempt");
                    }
                })
        }
        Err(JobError::Defer { reason, delay }) => {
            debug!(%reason, delay_ms = delay.as_millis() as u64, "worker: deferred");
            p.queue.defer(p.store.conn(), &job, delay, &reason).await
        }
        Err(JobError::Permanent(reason)) => {
            error!(%reason, "worker: job failed permanently");
            p.queue.kill(p.store.conn(), &job, &reason).await
        }
    };
    if let Err(e) = recorded {
        warn!(error = %e, "worker: could not record the job's outcome; its lease will expire and it will be rescued");
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
