//! The three steps of an attempt: prepare (uploads, safe to repeat), commit (the one call that
//! publishes, after `committing` is durable) and reconcile (asking the platform whether a
//! commit whose outcome is unknown landed).

use std::time::Duration;

use pressroom_connector::{Connector, ConnectorError, PostDraft, Prepared, PublishCtx, Reconciled};
use pressroom_core::AttemptState;
use pressroom_store::ClaimedJob;
use pressroom_store::entity::{attempt, post};
use pressroom_store::repo::posts;
use pressroom_store::repo::posts::AttemptChanges;
use tracing::info;

use super::outcome::{Found, finish_published};
use super::{Step, StepError, checkpoint};
use crate::metrics;
use crate::pipeline::{JobError, Pipeline};

pub(super) async fn prepare(
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
    let ctx =
        &crate::pipeline::checkpoints::attach(&p.store, job, attempt, AttemptState::Preparing, ctx);
    let prepared = connector.prepare(ctx, draft).await;
    metrics::publish_step(
        connector.platform().as_str(),
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

pub(super) async fn commit(
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
    let ctx = &crate::pipeline::checkpoints::attach(
        &p.store,
        job,
        attempt,
        AttemptState::Committing,
        ctx,
    );
    let committed = connector.commit(ctx, &prepared).await;
    metrics::publish_step(
        connector.platform().as_str(),
        "commit",
        metrics::outcome(&committed),
        started.elapsed(),
    );
    match committed {
        Ok(published) => {
            finish_published(p, job, post, attempt, &published, Found::ByCommit)
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

/// How far before its commit started a post another post holds may have been made.
const TAKEN_IDS_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

pub(super) async fn reconcile(
    p: &Pipeline,
    job: &ClaimedJob,
    connector: &dyn Connector,
    ctx: &PublishCtx,
    post: &post::Model,
    attempt: &attempt::Model,
) -> Result<Step, StepError> {
    let prepared = checkpoint(attempt);
    // The posts of this account that other posts already hold, so a match by caption never
    // takes one of them for this post (a day back covers every connector's search window).
    let mut ctx = ctx.clone();
    let started = match attempt.commit_started_at {
        Some(at) => at,
        None => p.store.now_ms().await?,
    };
    let since = started.saturating_sub(TAKEN_IDS_WINDOW_MS);
    ctx.taken_remote_ids = posts::taken_remote_ids(
        &p.store,
        &post.workspace_id,
        &post.account_id,
        &post.id,
        since,
    )
    .await?;
    let started = std::time::Instant::now();
    let reconciled = connector.reconcile(&ctx, prepared.as_ref()).await;
    metrics::publish_step(
        connector.platform().as_str(),
        "reconcile",
        metrics::outcome(&reconciled),
        started.elapsed(),
    );
    match reconciled.map_err(StepError::Reconcile)? {
        Reconciled::Landed(published) => {
            info!(post = %post.id, attempt = %attempt.id, "publish: reconcile found the post; not committing again");
            finish_published(p, job, post, attempt, &published, Found::ByReconcile)
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
pub(super) fn absent_not_final_for(
    connector: &dyn Connector,
    attempt: &attempt::Model,
    now_ms: i64,
) -> Option<Duration> {
    let started = attempt.commit_started_at?;
    let final_at = started.saturating_add(connector.absent_final_after().as_millis() as i64);
    (now_ms < final_at).then(|| Duration::from_millis((final_at - now_ms) as u64))
}
