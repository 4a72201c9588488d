//! Publish: one post to one account through the attempt state machine
//! `pending -> preparing -> prepared -> committing -> committed` (DESIGN.md, "Publishing at
//! most once"). `committing` is committed to the database before the platform call; an
//! attempt found in `committing` — after a crash, a lost lease or an unknown outcome — is
//! reconciled, never committed again unless the platform confirms the post is absent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pressroom_connector::{
    AccountRef, Connector, ConnectorError, Credentials, MediaRef, PostDraft, Prepared, PublishCtx,
    Published, Reconciled,
};
use pressroom_core::{AttemptState, PostState};
use pressroom_store::ClaimedJob;
use pressroom_store::entity::{account, attempt, post};
use pressroom_store::repo::posts::AttemptChanges;
use pressroom_store::repo::{accounts, assets, posts};
use serde::Deserialize;
use tracing::{debug, info, warn};

use super::{JobError, Pipeline, complete, events};
use crate::metrics;
use credentials::{credentials, on_credentials_error};

pub(super) mod credentials;

/// One refresh at a time per account, within this process (the database re-read after the
/// lock makes a second waiter use the first one's fresh token).
pub(super) type RefreshLocks = Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

#[derive(Deserialize)]
struct Payload {
    post_id: String,
}

/// A transient failure of a step that is safe to repeat (prepare's uploads and reads, and
/// reconcile's listing; never the publishing call) is tried again at once, within the same
/// claim, this many times before the job goes back to the queue: a trip through the queue
/// costs a retry delay and, under load, a wait for a free slot.
const QUICK_RETRIES: u32 = 2;
/// The pause before the first quick retry (doubled before the second).
const QUICK_RETRY_PAUSE: Duration = Duration::from_millis(250);

pub(super) async fn handle(p: &Pipeline, job: &ClaimedJob) -> Result<(), JobError> {
    let Payload { post_id } = job.payload()?;
    let ws = job.workspace_id.clone();
    let post = posts::get(p.store.conn(), &ws, &post_id).await?;
    if is_settled(&post) {
        return complete(p, job).await;
    }
    let account = accounts::get(p.store.conn(), &ws, &post.account_id).await?;
    if account.state == accounts::state::DISCONNECTED {
        return settle(
            p,
            job,
            &post,
            None,
            PostState::NeedsReconnect,
            "account is disconnected; reconnect it",
        )
        .await;
    }
    let Some(connector) = p.connectors.get(&account.platform) else {
        return settle(
            p,
            job,
            &post,
            None,
            PostState::Failed,
            &format!("no {} connector in this build", account.platform),
        )
        .await;
    };
    let rendition = assets::get_rendition(p.store.conn(), &ws, &post.rendition_id).await?;
    let draft = PostDraft {
        caption: post.caption.clone(),
        media: vec![MediaRef {
            path: p.data_dir.join(&rendition.path),
            mime: rendition.mime.clone(),
            width: rendition.width as u32,
            height: rendition.height as u32,
            bytes: rendition.bytes as u64,
            sha256: rendition.sha256.clone(),
            public_url: p.public_media.as_ref().map(|m| m.url_for(&rendition.id)),
        }],
    };

    let latest = posts::latest_attempt(p.store.conn(), &job.workspace_id, &post_id).await?;
    // A failed attempt on a post put back to pending is a retry someone asked for: it gets a
    // fresh attempt (a failed attempt never committed, so this cannot post twice).
    let retrying = latest.as_ref().is_some_and(|a| {
        AttemptState::parse(&a.state) == Some(AttemptState::Failed)
            && PostState::parse(&post.state) == Some(PostState::Pending)
    });
    let mut attempt = match latest {
        Some(a) if !retrying => a,
        _ => {
            // The pre-publish checks, caption rules included (pressroom-media's table, which
            // every connector's `validate` applies to the run's real caption): a violation
            // fails the post for good, before any platform call.
            if let Err(issues) = connector.validate(&draft) {
                let reasons: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
                return settle(p, job, &post, None, PostState::Failed, &reasons.join("; ")).await;
            }
            let now = p.store.now_ms().await?;
            // Compare-and-set: a post cancelled since we read it stays cancelled.
            let started = posts::transition_post(
                &p.store,
                p.store.conn(),
                now,
                &ws,
                &post_id,
                &[PostState::Pending, PostState::Publishing],
                PostState::Publishing,
                None,
            )
            .await?;
            if !started {
                info!(post = %post_id, "publish: the post changed before it started (cancelled?); nothing to do");
                return complete(p, job).await;
            }
            posts::create_attempt(&p.store, p.store.conn(), now, &ws, &post_id).await?
        }
    };

    let mut creds = match credentials(p, connector.as_ref(), &account, false).await {
        Ok(c) => c,
        Err(e) => return on_credentials_error(p, job, &post, &attempt, e).await,
    };
    let mut refreshed = false;
    let mut quick_retries = 0;
    loop {
        let state = AttemptState::parse(&attempt.state).ok_or_else(|| {
            JobError::Permanent(format!(
                "attempt {} has unknown state {}",
                attempt.id, attempt.state
            ))
        })?;
        let ctx = context(&account, &creds, &attempt, &post, &rendition.sha256);
        let step = match state {
            AttemptState::Committed => {
                let published = Published {
                    remote_id: attempt.remote_id.clone().unwrap_or_default(),
                    url: attempt.url.clone(),
                };
                return finish_published(p, job, &post, &attempt, &published, false).await;
            }
            AttemptState::Failed => {
                let reason = attempt.error.clone().unwrap_or_else(|| "failed".into());
                return settle(p, job, &post, None, PostState::Failed, &reason).await;
            }
            AttemptState::Unknown => {
                return settle(
                    p,
                    job,
                    &post,
                    None,
                    PostState::Unknown,
                    "outcome unknown; needs a person",
                )
                .await;
            }
            AttemptState::Pending | AttemptState::Preparing => {
                prepare(p, job, connector.as_ref(), &ctx, &draft, &attempt, state).await
            }
            AttemptState::Prepared => {
                commit(p, job, connector.as_ref(), &ctx, &post, &attempt).await
            }
            AttemptState::Committing => {
                reconcile(p, job, connector.as_ref(), &ctx, &post, &attempt).await
            }
        };
        match step {
            Ok(Step::Again) => {}
            Ok(Step::Done) => return Ok(()),
            Err(
                StepError::Connector(ConnectorError::AuthExpired)
                | StepError::Reconcile(ConnectorError::AuthExpired),
            ) => {
                if refreshed {
                    let dead = credentials::dead_credentials(&account.platform);
                    return on_connector_error(p, job, &post, &attempt, dead).await;
                }
                refreshed = true;
                creds = match credentials(p, connector.as_ref(), &account, true).await {
                    Ok(c) => c,
                    Err(e) => return on_credentials_error(p, job, &post, &attempt, e).await,
                };
            }
            Err(
                StepError::Connector(ConnectorError::Transient(why))
                | StepError::Reconcile(ConnectorError::Transient(why)),
            ) if quick_retries < QUICK_RETRIES
                && matches!(
                    state,
                    AttemptState::Pending | AttemptState::Preparing | AttemptState::Committing
                ) =>
            {
                let pause = QUICK_RETRY_PAUSE * 2u32.pow(quick_retries);
                quick_retries += 1;
                debug!(%why, pause_ms = pause.as_millis() as u64, "publish: a step that is safe to repeat failed; trying it again at once");
                tokio::time::sleep(pause).await;
            }
            Err(StepError::Connector(e)) => {
                return on_connector_error(p, job, &post, &attempt, e).await;
            }
            Err(StepError::Reconcile(e)) => {
                return on_reconcile_error(p, job, &post, &attempt, e).await;
            }
            Err(StepError::Job(e)) => return Err(e),
        }
        attempt = posts::latest_attempt(p.store.conn(), &job.workspace_id, &post_id)
            .await?
            .ok_or_else(|| JobError::retry("attempt vanished"))?;
    }
}

enum Step {
    /// The attempt moved; look at it again.
    Again,
    /// The job is finished (completed in the database).
    Done,
}

enum StepError {
    /// From prepare or commit: the platform's answer to what we asked it to do.
    Connector(ConnectorError),
    /// From reconcile: we could not learn whether the post landed (never a reason to fail it).
    Reconcile(ConnectorError),
    Job(JobError),
}

impl From<pressroom_store::StoreError> for StepError {
    fn from(e: pressroom_store::StoreError) -> Self {
        StepError::Job(e.into())
    }
}

async fn prepare(
    p: &Pipeline,
    job: &ClaimedJob,
    connector: &dyn Connector,
    ctx: &PublishCtx,
    draft: &PostDraft,
    attempt: &attempt::Model,
    state: AttemptState,
) -> Result<Step, StepError> {
    let now = p.store.now_ms().await?;
    posts::transition(
        &p.store,
        p.store.conn(),
        now,
        &attempt.id,
        state,
        AttemptState::Preparing,
        job,
        AttemptChanges::default(),
    )
    .await?;
    let started = std::time::Instant::now();
    // Lets a multi-call prepare keep the steps done so far (Snapchat's uploaded media), so the
    // next try goes on from the step that failed.
    let ctx = &super::checkpoints::attach(&p.store, job, attempt, AttemptState::Preparing, ctx);
    let prepared = connector.prepare(ctx, draft).await;
    metrics::publish_step(
        connector.kind(),
        "prepare",
        metrics::outcome(&prepared),
        started.elapsed(),
    );
    let prepared = prepared.map_err(StepError::Connector)?;
    let now = p.store.now_ms().await?;
    let changes = AttemptChanges {
        checkpoint: Some(&prepared.checkpoint),
        ..Default::default()
    };
    posts::transition(
        &p.store,
        p.store.conn(),
        now,
        &attempt.id,
        AttemptState::Preparing,
        AttemptState::Prepared,
        job,
        changes,
    )
    .await?;
    Ok(Step::Again)
}

async fn commit(
    p: &Pipeline,
    job: &ClaimedJob,
    connector: &dyn Connector,
    ctx: &PublishCtx,
    post: &post::Model,
    attempt: &attempt::Model,
) -> Result<Step, StepError> {
    let prepared = checkpoint(attempt).unwrap_or(Prepared {
        checkpoint: serde_json::Value::Null,
    });
    // The lease is renewed first, so the call starts with a whole lease ahead of it; a job
    // another worker has taken over stops here (and the heartbeat cancels us if it is lost
    // during the call).
    p.queue.heartbeat(job, p.lease).await?;
    // Written and committed before the platform call: if we die during it, the next worker
    // sees `committing` and reconciles instead of posting again.
    let now = p.store.now_ms().await?;
    let changes = AttemptChanges {
        commit_started_at: Some(now),
        ..Default::default()
    };
    posts::transition(
        &p.store,
        p.store.conn(),
        now,
        &attempt.id,
        AttemptState::Prepared,
        AttemptState::Committing,
        job,
        changes,
    )
    .await?;
    let started = std::time::Instant::now();
    // Lets the connector store what the platform answers mid-commit (TikTok's publish_id).
    let ctx = &super::checkpoints::attach(&p.store, job, attempt, AttemptState::Committing, ctx);
    let committed = connector.commit(ctx, &prepared).await;
    metrics::publish_step(
        connector.kind(),
        "commit",
        metrics::outcome(&committed),
        started.elapsed(),
    );
    match committed {
        Ok(published) => {
            finish_published(p, job, post, attempt, &published, true)
                .await
                .map_err(StepError::Job)?;
            Ok(Step::Done)
        }
        // The platform cannot have accepted the post: safe to go back to `prepared`.
        Err(
            e @ (ConnectorError::Transient(_)
            | ConnectorError::RateLimited { .. }
            | ConnectorError::AuthExpired
            | ConnectorError::Disconnected(_)),
        ) => {
            let now = p.store.now_ms().await?;
            let changes = AttemptChanges {
                error_code: Some(e.code()),
                error: Some(&e.to_string()),
                ..Default::default()
            };
            posts::transition(
                &p.store,
                p.store.conn(),
                now,
                &attempt.id,
                AttemptState::Committing,
                AttemptState::Prepared,
                job,
                changes,
            )
            .await?;
            Err(StepError::Connector(e))
        }
        // Rejected and OutcomeUnknown are decided by on_connector_error with the attempt
        // still in `committing`.
        Err(e) => Err(StepError::Connector(e)),
    }
}

async fn reconcile(
    p: &Pipeline,
    job: &ClaimedJob,
    connector: &dyn Connector,
    ctx: &PublishCtx,
    post: &post::Model,
    attempt: &attempt::Model,
) -> Result<Step, StepError> {
    let prepared = checkpoint(attempt);
    let started = std::time::Instant::now();
    let reconciled = connector.reconcile(ctx, prepared.as_ref()).await;
    metrics::publish_step(
        connector.kind(),
        "reconcile",
        metrics::outcome(&reconciled),
        started.elapsed(),
    );
    match reconciled.map_err(StepError::Reconcile)? {
        Reconciled::Landed(published) => {
            info!(post = %post.id, attempt = %attempt.id, "publish: reconcile found the post; not committing again");
            finish_published(p, job, post, attempt, &published, true)
                .await
                .map_err(StepError::Job)?;
            Ok(Step::Done)
        }
        Reconciled::Absent => {
            let now = p.store.now_ms().await?;
            // Not listed yet is not absent: the commit may still be in flight, and the
            // platform may list a new post only after a while. Ask again later, for free.
            if let Some(wait) = absent_not_final_for(connector, attempt, now) {
                info!(post = %post.id, attempt = %attempt.id, wait_ms = wait.as_millis() as u64, "publish: the platform does not list the post yet; asking again before anything is sent");
                return Err(StepError::Job(JobError::Defer {
                    reason: "outcome not known yet: the platform does not list the post yet".into(),
                    delay: wait.clamp(Duration::from_millis(500), Duration::from_secs(30)),
                }));
            }
            info!(post = %post.id, attempt = %attempt.id, "publish: reconcile confirmed the post is absent; committing again");
            posts::transition(
                &p.store,
                p.store.conn(),
                now,
                &attempt.id,
                AttemptState::Committing,
                AttemptState::Prepared,
                job,
                AttemptChanges::default(),
            )
            .await?;
            Ok(Step::Again)
        }
        Reconciled::Unknown(reason) => {
            Err(StepError::Connector(ConnectorError::OutcomeUnknown(reason)))
        }
    }
}

/// How much longer a listing without the post does not yet prove it absent (`None`: it does):
/// [`Connector::absent_final_after`] from the start of the commit.
fn absent_not_final_for(
    connector: &dyn Connector,
    attempt: &attempt::Model,
    now_ms: i64,
) -> Option<Duration> {
    let started = attempt.commit_started_at?;
    let final_at = started.saturating_add(connector.absent_final_after().as_millis() as i64);
    (now_ms < final_at).then(|| Duration::from_millis((final_at - now_ms) as u64))
}

/// A reconcile that failed leaves the attempt in `committing`: we still do not know whether
/// the post landed, so nothing may be sent again and nothing may call it failed (a failed post
/// can be retried, which would post twice). Throttles wait; other errors ask again while
/// attempts remain; the platform refusing to tell (a permission error on the listing, a
/// disconnected account) and the last attempt end in `unknown`, which a person resolves.
async fn on_reconcile_error(
    p: &Pipeline,
    job: &ClaimedJob,
    post: &post::Model,
    attempt: &attempt::Model,
    error: ConnectorError,
) -> Result<(), JobError> {
    let last_try = job.attempt >= job.max_attempts;
    let message = format!("could not check whether the post landed: {error}");
    match error {
        // A deferral spends no attempt.
        ConnectorError::RateLimited { retry_after } => {
            let delay = retry_after.unwrap_or_else(|| p.retry.delay(job.attempt as u32, None));
            metrics::rate_limited(&post.platform, delay);
            Err(JobError::Defer {
                reason: message,
                delay,
            })
        }
        ConnectorError::Transient(_)
        | ConnectorError::OutcomeUnknown(_)
        | ConnectorError::AuthExpired
            if !last_try =>
        {
            Err(JobError::Retry {
                error: message,
                retry_after: Some(Duration::from_secs(2)),
            })
        }
        _ => {
            settle(
                p,
                job,
                post,
                Some((
                    attempt,
                    AttemptState::Committing,
                    AttemptState::Unknown,
                    "outcome_unknown",
                )),
                PostState::Unknown,
                &format!("{message}; it may have been published, so a person must check"),
            )
            .await
        }
    }
}

/// Decides what a connector error means for the attempt, the post and the job.
async fn on_connector_error(
    p: &Pipeline,
    job: &ClaimedJob,
    post: &post::Model,
    attempt: &attempt::Model,
    error: ConnectorError,
) -> Result<(), JobError> {
    let attempt = posts::latest_attempt(p.store.conn(), &post.workspace_id, &post.id)
        .await?
        .unwrap_or_else(|| attempt.clone());
    let state = AttemptState::parse(&attempt.state).unwrap_or(AttemptState::Pending);
    let last_try = job.attempt >= job.max_attempts;
    let message = error.to_string();
    match error {
        ConnectorError::Rejected(reason) => {
            settle(
                p,
                job,
                post,
                Some((&attempt, state, AttemptState::Failed, "rejected")),
                PostState::Failed,
                &reason,
            )
            .await
        }
        ConnectorError::Disconnected(reason) => {
            let now = p.store.now_ms().await?;
            accounts::set_state(
                &p.store,
                p.store.conn(),
                now,
                &post.workspace_id,
                &post.account_id,
                accounts::state::DISCONNECTED,
                Some(&reason),
            )
            .await?;
            warn!(account = %post.account_id, %reason, "publish: account disconnected; its posts wait for a reconnect");
            settle(p, job, post, None, PostState::NeedsReconnect, &reason).await
        }
        ConnectorError::OutcomeUnknown(reason) if last_try && state == AttemptState::Committing => {
            settle(
                p,
                job,
                post,
                Some((&attempt, state, AttemptState::Unknown, "outcome_unknown")),
                PostState::Unknown,
                &reason,
            )
            .await
        }
        ConnectorError::RateLimited { retry_after } => {
            let delay = retry_after.unwrap_or_else(|| p.retry.delay(job.attempt as u32, None));
            metrics::rate_limited(&post.platform, delay);
            show_parking(p, post, &message, delay).await?;
            Err(JobError::Defer {
                reason: message,
                delay,
            })
        }
        _ if last_try && !state.may_have_landed() => {
            let target = (state != AttemptState::Pending).then_some((
                &attempt,
                state,
                AttemptState::Failed,
                "retries_exhausted",
            ));
            settle(
                p,
                job,
                post,
                target,
                PostState::Failed,
                &format!("gave up after {} attempts: {message}", job.attempt),
            )
            .await
        }
        ConnectorError::OutcomeUnknown(_) => {
            // Reconcile soon, but give the platform a moment to make the post visible.
            Err(JobError::Retry {
                error: message,
                retry_after: Some(Duration::from_secs(2)),
            })
        }
        _ => Err(JobError::Retry {
            error: message,
            retry_after: None,
        }),
    }
}

/// Writes why a publishing post waits and until when on the post itself (its `error`, while
/// it stays `publishing`), so a person sees "parked until 00:00 UTC: daily limit" rather
/// than a post that seems stuck. The next state change clears it.
async fn show_parking(
    p: &Pipeline,
    post: &post::Model,
    reason: &str,
    delay: Duration,
) -> Result<(), JobError> {
    let now = p.store.now_ms().await?;
    let until =
        chrono::DateTime::from_timestamp_millis(now.saturating_add(delay.as_millis() as i64))
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "later".into());
    let note = format!("waiting until {until}: {reason}");
    posts::transition_post(
        &p.store,
        p.store.conn(),
        now,
        &post.workspace_id,
        &post.id,
        &[PostState::Publishing],
        PostState::Publishing,
        Some(&note),
    )
    .await?;
    Ok(())
}

/// Commits the published outcome, the post's state and the job's completion together.
async fn finish_published(
    p: &Pipeline,
    job: &ClaimedJob,
    post: &post::Model,
    attempt: &attempt::Model,
    published: &Published,
    transition: bool,
) -> Result<(), JobError> {
    let now = p.store.now_ms().await?;
    let tx = p.store.begin().await?;
    if transition {
        let changes = AttemptChanges {
            remote_id: Some(&published.remote_id),
            url: published.url.as_deref(),
            ..Default::default()
        };
        posts::transition(
            &p.store,
            &tx,
            now,
            &attempt.id,
            AttemptState::Committing,
            AttemptState::Committed,
            job,
            changes,
        )
        .await?;
    }
    posts::set_state(
        &p.store,
        &tx,
        now,
        &post.id,
        PostState::Published,
        Some(&published.remote_id),
        published.url.as_deref(),
        None,
    )
    .await?;
    let outcome = events::Outcome {
        remote_id: Some(&published.remote_id),
        url: published.url.as_deref(),
        reason: None,
    };
    events::announce(p, &tx, job, post, PostState::Published, now, outcome).await?;
    p.queue.complete(&tx, job).await?;
    tx.commit().await?;
    info!(post = %post.id, platform = %post.platform, remote_id = %published.remote_id, "publish: published");
    Ok(())
}

/// Ends the post in a terminal state (optionally moving the attempt too) and completes the job.
async fn settle(
    p: &Pipeline,
    job: &ClaimedJob,
    post: &post::Model,
    attempt_move: Option<(&attempt::Model, AttemptState, AttemptState, &str)>,
    state: PostState,
    reason: &str,
) -> Result<(), JobError> {
    let now = p.store.now_ms().await?;
    let tx = p.store.begin().await?;
    if let Some((attempt, from, to, code)) = attempt_move {
        let changes = AttemptChanges {
            error_code: Some(code),
            error: Some(reason),
            ..Default::default()
        };
        posts::transition(&p.store, &tx, now, &attempt.id, from, to, job, changes).await?;
    }
    posts::set_state(
        &p.store,
        &tx,
        now,
        &post.id,
        state,
        None,
        None,
        Some(reason),
    )
    .await?;
    let outcome = events::Outcome {
        reason: Some(reason),
        ..Default::default()
    };
    events::announce(p, &tx, job, post, state, now, outcome).await?;
    p.queue.complete(&tx, job).await?;
    tx.commit().await?;
    warn!(post = %post.id, platform = %post.platform, state = state.as_str(), %reason, "publish: settled without publishing");
    Ok(())
}

fn is_settled(post: &post::Model) -> bool {
    matches!(
        PostState::parse(&post.state),
        Some(
            PostState::Published
                | PostState::Failed
                | PostState::Cancelled
                | PostState::Unknown
                | PostState::NeedsReconnect
        )
    )
}

fn checkpoint(attempt: &attempt::Model) -> Option<Prepared> {
    let raw = attempt.checkpoint.as_deref()?;
    serde_json::from_str(raw)
        .ok()
        .map(|checkpoint| Prepared { checkpoint })
}

fn context(
    account: &account::Model,
    creds: &Credentials,
    attempt: &attempt::Model,
    post: &post::Model,
    media_sha: &str,
) -> PublishCtx {
    PublishCtx {
        account: AccountRef {
            id: account.id.clone(),
            workspace_id: account.workspace_id.clone(),
            external_id: account.external_id.clone(),
        },
        credentials: creds.clone(),
        attempt_id: attempt.id.clone(),
        checkpoint: attempt
            .checkpoint
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok()),
        committing_since: attempt
            .commit_started_at
            .and_then(chrono::DateTime::from_timestamp_millis),
        caption: post.caption.clone(),
        media_sha256: vec![media_sha.to_string()],
        checkpointer: None,
    }
}
