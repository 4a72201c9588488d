use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;

use super::Account;
use crate::{
    CheckpointStore, Checkpointer, Connector, ConnectorError, PostDraft, Prepared, PublishCtx,
    Published, Reconciled,
};

/// The attempt's checkpoint column, in memory: what `commit` saved through
/// [`PublishCtx::save_checkpoint`] and how often. The runner reads it back after each commit,
/// as the runtime re-reads the attempt row.
#[derive(Debug, Default)]
pub struct MemoryCheckpoints {
    saved: Mutex<Option<serde_json::Value>>,
    saves: AtomicU64,
}

impl MemoryCheckpoints {
    /// The last saved checkpoint, if any was saved since the last `take`.
    pub fn take(&self) -> Option<serde_json::Value> {
        self.saved.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// The last saved checkpoint, left in place.
    pub fn last(&self) -> Option<serde_json::Value> {
        self.saved.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many saves happened.
    pub fn saves(&self) -> u64 {
        self.saves.load(Ordering::Relaxed)
    }

    /// A checkpointer writing here, for a `PublishCtx`.
    pub fn checkpointer(self: &Arc<Self>) -> Checkpointer {
        Checkpointer::new(self.clone())
    }
}

#[async_trait::async_trait]
impl CheckpointStore for MemoryCheckpoints {
    async fn save(&self, checkpoint: &serde_json::Value) -> Result<(), ConnectorError> {
        *self.saved.lock().unwrap_or_else(|p| p.into_inner()) = Some(checkpoint.clone());
        self.saves.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// How a run of an attempt ended, as the runtime would record it.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The post exists; `via_reconcile` when reconcile (not the commit answer) proved it.
    Committed {
        published: Published,
        via_reconcile: bool,
    },
    /// Permanent failure with the platform's reason.
    Failed(String),
    /// The account needs a person (reconnect); its jobs are parked.
    Parked(String),
    /// The platform asked us to come back later; the attempt is deferred this long.
    Deferred(Option<Duration>),
    /// Nobody can tell whether the post landed: dead letter for a person.
    Unknown(String),
    /// Transient failures exhausted the retry budget.
    GaveUp(String),
}

/// What the runner did, so scenarios can assert how often each phase ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunLog {
    pub prepares: u32,
    pub commits: u32,
    pub reconciles: u32,
    pub refreshes: u32,
    pub transient_retries: u32,
    /// Reconciles that answered `Absent` before [`Connector::absent_final_after`] had passed
    /// (asked again, not taken as final).
    pub early_absents: u32,
    /// `ConnectorError::code()` of every error seen, in order.
    pub errors: Vec<&'static str>,
}

/// One publish attempt as the store would persist it between runs: context (credentials,
/// checkpoint), the prepared output, and whether a commit was started.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub ctx: PublishCtx,
    pub prepared: Option<Prepared>,
    /// True between writing `committing` and learning the outcome.
    pub committing: bool,
    pub log: RunLog,
    /// What `commit` saved as the checkpoint (read back into `ctx` and `prepared`).
    pub checkpoints: Arc<MemoryCheckpoints>,
}

impl Attempt {
    /// Applies a checkpoint `commit` saved, as the runtime's re-read of the attempt row would.
    fn reload_checkpoint(&mut self) {
        if let Some(saved) = self.checkpoints.take() {
            self.ctx.checkpoint = Some(saved.clone());
            if let Some(p) = self.prepared.as_mut() {
                p.checkpoint = saved;
            }
        }
    }
}

/// A small copy of the runtime's attempt state machine (DESIGN.md "Publishing at most once")
/// with test-sized backoff.
pub struct Runner {
    connector: Arc<dyn Connector>,
    /// Transient retries allowed per run.
    pub max_transient: u32,
    /// First backoff; doubles on each retry.
    pub backoff: Duration,
}

static NEXT_ATTEMPT: AtomicU64 = AtomicU64::new(1);

impl Runner {
    pub fn new(connector: Arc<dyn Connector>) -> Self {
        Self {
            connector,
            max_transient: 5,
            backoff: Duration::from_millis(20),
        }
    }

    /// Exponential backoff, capped at 32 × the first step (test-sized; the runtime adds jitter).
    fn backoff_for(&self, n: u32) -> Duration {
        self.backoff * 2u32.pow(n.saturating_sub(1).min(5))
    }

    /// A new attempt for `draft` on `account`.
    pub fn attempt(&self, account: &Account, draft: &PostDraft) -> Attempt {
        let n = NEXT_ATTEMPT.fetch_add(1, Ordering::Relaxed);
        let checkpoints = Arc::new(MemoryCheckpoints::default());
        Attempt {
            ctx: PublishCtx {
                account: account.account.clone(),
                credentials: account.credentials.clone(),
                attempt_id: format!("attempt-{n}"),
                checkpoint: None,
                committing_since: None,
                caption: draft.caption.clone(),
                media_sha256: draft.media.iter().map(|m| m.sha256.clone()).collect(),
                taken_remote_ids: Vec::new(),
                checkpointer: Some(checkpoints.checkpointer()),
            },
            prepared: None,
            committing: false,
            log: RunLog::default(),
            checkpoints,
        }
    }

    /// Runs the attempt until it is committed, fails, is parked, deferred or unknown.
    pub async fn run(&self, attempt: &mut Attempt, draft: &PostDraft) -> Outcome {
        let mut refreshed = false;
        let mut transient = 0u32;
        for _ in 0..100 {
            if attempt.committing {
                attempt.log.reconciles += 1;
                let prepared = attempt.prepared.clone();
                match self
                    .connector
                    .reconcile(&attempt.ctx, prepared.as_ref())
                    .await
                {
                    Ok(Reconciled::Landed(published)) => {
                        attempt.committing = false;
                        return Outcome::Committed {
                            published,
                            via_reconcile: true,
                        };
                    }
                    Ok(Reconciled::Absent) => {
                        // Absent is final only once the commit cannot still be in flight and
                        // the platform's listing has caught up; until then, ask again.
                        let since = attempt.ctx.committing_since.unwrap_or_else(Utc::now);
                        let final_at = since
                            + chrono::Duration::from_std(self.connector.absent_final_after())
                                .unwrap_or(chrono::Duration::MAX);
                        let wait = (final_at - Utc::now()).to_std().unwrap_or_default();
                        if wait.is_zero() {
                            attempt.committing = false;
                        } else {
                            attempt.log.early_absents += 1;
                            tokio::time::sleep(wait.min(Duration::from_millis(250))).await;
                            continue;
                        }
                    }
                    Ok(Reconciled::Unknown(why)) => return Outcome::Unknown(why),
                    Err(e) => match self
                        .on_error(attempt, e, &mut refreshed, &mut transient)
                        .await
                    {
                        Some(end) => return end,
                        None => continue,
                    },
                }
            }
            let Some(prepared) = attempt.prepared.clone() else {
                attempt.log.prepares += 1;
                match self.connector.prepare(&attempt.ctx, draft).await {
                    Ok(p) => {
                        // The prepared checkpoint replaces what prepare saved on the way, as
                        // the runtime's `prepared` write does.
                        let _ = attempt.checkpoints.take();
                        attempt.ctx.checkpoint = Some(p.checkpoint.clone());
                        attempt.prepared = Some(p);
                    }
                    Err(e) => {
                        // As the runtime re-reads the attempt: the next prepare sees the steps
                        // this one saved.
                        attempt.reload_checkpoint();
                        if let Some(end) = self
                            .on_error(attempt, e, &mut refreshed, &mut transient)
                            .await
                        {
                            return end;
                        }
                    }
                }
                continue;
            };
            attempt.committing = true;
            attempt.ctx.committing_since = Some(Utc::now());
            attempt.log.commits += 1;
            let committed = self.connector.commit(&attempt.ctx, &prepared).await;
            attempt.reload_checkpoint();
            match committed {
                Ok(published) => {
                    attempt.committing = false;
                    return Outcome::Committed {
                        published,
                        via_reconcile: false,
                    };
                }
                Err(ConnectorError::OutcomeUnknown(why)) => {
                    attempt.log.errors.push("outcome_unknown");
                    tracing::debug!(%why, "commit outcome unknown; reconciling");
                }
                Err(e) => {
                    // Every other class means the platform answered "not done".
                    attempt.committing = false;
                    if let Some(end) = self
                        .on_error(attempt, e, &mut refreshed, &mut transient)
                        .await
                    {
                        return end;
                    }
                }
            }
        }
        Outcome::GaveUp("step budget exhausted".into())
    }

    /// Applies the runtime's reaction to one error; `None` means "go on".
    async fn on_error(
        &self,
        attempt: &mut Attempt,
        err: ConnectorError,
        refreshed: &mut bool,
        transient: &mut u32,
    ) -> Option<Outcome> {
        attempt.log.errors.push(err.code());
        match err {
            ConnectorError::Transient(e) => {
                *transient += 1;
                attempt.log.transient_retries += 1;
                if *transient > self.max_transient {
                    return Some(Outcome::GaveUp(e.to_string()));
                }
                tokio::time::sleep(self.backoff_for(*transient)).await;
                None
            }
            ConnectorError::RateLimited { retry_after } => Some(Outcome::Deferred(retry_after)),
            ConnectorError::AuthExpired if !*refreshed => {
                *refreshed = true;
                attempt.log.refreshes += 1;
                match self.connector.refresh(&attempt.ctx.credentials).await {
                    Ok(fresh) => {
                        attempt.ctx.credentials = attempt.ctx.credentials.merge_refreshed(fresh);
                        None
                    }
                    // The refresh itself did not happen: back off and try it again.
                    Err(ConnectorError::Transient(e)) => {
                        *refreshed = false;
                        *transient += 1;
                        attempt.log.transient_retries += 1;
                        if *transient > self.max_transient {
                            return Some(Outcome::GaveUp(e.to_string()));
                        }
                        tokio::time::sleep(self.backoff_for(*transient)).await;
                        None
                    }
                    Err(ConnectorError::RateLimited { retry_after }) => {
                        *refreshed = false;
                        Some(Outcome::Deferred(retry_after))
                    }
                    Err(e) => Some(Outcome::Parked(e.to_string())),
                }
            }
            ConnectorError::AuthExpired => {
                Some(Outcome::Parked("still expired after a refresh".into()))
            }
            ConnectorError::Disconnected(why) => Some(Outcome::Parked(why)),
            ConnectorError::Rejected(why) => Some(Outcome::Failed(why)),
            ConnectorError::OutcomeUnknown(why) => Some(Outcome::Unknown(why)),
        }
    }
}
