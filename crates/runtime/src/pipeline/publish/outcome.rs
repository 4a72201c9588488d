//! What a step's answer does to the post: published, settled (failed, unknown, needs
//! reconnect), parked for a rate limit, or retried; each with its events and the job's
//! completion in one transaction.

use std::time::Duration;

use pressroom_connector::{ConnectorError, Published};
use pressroom_core::{AttemptState, CommentState, JobKind, PostState};
use pressroom_store::entity::{attempt, post};
use pressroom_store::repo::posts::AttemptChanges;
use pressroom_store::repo::{accounts, posts};
use pressroom_store::{ClaimedJob, NewJob};
use tracing::{info, warn};

use crate::metrics;
use crate::pipeline::{JobError, Pipeline, events};

/// A reconcile that failed leaves the attempt in `committing`: we still do not know whether
/// the post landed, so nothing may be sent again and nothing may call it failed (a failed post
/// can be retried, which would post twice). Throttles wait; other errors ask again while
/// attempts remain; the platform refusing to tell (a permission error on the listing, a
/// disconnected account) and the last attempt end in `unknown`, which a person resolves.
pub(super) async fn on_reconcile_error(
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
            metrics::rate_limited(post.platform.as_str(), delay);
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
pub(super) async fn on_connector_error(
    p: &Pipeline,
    job: &ClaimedJob,
    post: &post::Model,
    attempt: &attempt::Model,
    error: ConnectorError,
) -> Result<(), JobError> {
    let attempt = posts::latest_attempt(p.store.conn(), &post.workspace_id, &post.id)
        .await?
        .unwrap_or_else(|| attempt.clone());
    let state = attempt.state;
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
                pressroom_core::AccountState::Disconnected,
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
            metrics::rate_limited(post.platform.as_str(), delay);
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
pub(super) async fn show_parking(
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
pub(super) async fn finish_published(
    p: &Pipeline,
    job: &ClaimedJob,
    post: &post::Model,
    attempt: &attempt::Model,
    published: &Published,
    found: Found,
) -> Result<(), JobError> {
    let now = p.store.now_ms().await?;
    let tx = p.store.begin().await?;
    // An id the platform gave back for a post found again (by reconcile, or by a commit
    // that met its own earlier publish) may be another post's: never take it twice.
    if found != Found::Recorded
        && posts::remote_id_taken(
            &p.store,
            &tx,
            &post.account_id,
            &post.id,
            &published.remote_id,
        )
        .await?
    {
        // The connector skips ids it was told are taken; this one was taken since (another
        // instance reconciling a post with the same caption). Not this post: look again.
        tx.rollback().await?;
        let reason = format!(
            "the platform's matching post {} is already another post's",
            published.remote_id
        );
        return on_reconcile_error(
            p,
            job,
            post,
            attempt,
            ConnectorError::OutcomeUnknown(reason),
        )
        .await;
    }
    if found != Found::Recorded {
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
    if post.comment_state == Some(CommentState::Pending) {
        // In the transaction that records the post: the comment cannot be lost to a crash
        // after it, and its job has its own at-most-once steps (pipeline::comment).
        let comment = NewJob::new(
            &post.workspace_id,
            JobKind::Comment,
            serde_json::json!({ "post_id": post.id }),
        )
        .unique(format!("comment:{}", post.id))
        .max_attempts(p.retry.max_attempts);
        p.queue.enqueue(&tx, comment).await?;
    }
    // Its fetch-back schedule, in the same transaction: a published post is always measured.
    super::super::insights::schedule(p, &tx, post).await?;
    p.queue.complete(&tx, job).await?;
    tx.commit().await?;
    info!(post = %post.id, platform = %post.platform, remote_id = %published.remote_id, "publish: published");
    Ok(())
}

/// How a publish came to be known, which decides what [`finish_published`] still does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// The commit answered with the post (or met its own earlier publish): the attempt moves
    /// to `committed`, after the same check as `ByReconcile`.
    ByCommit,
    /// A reconcile matched the post on the platform: checked first against the remote ids
    /// the account's other posts hold, then as `ByCommit`.
    ByReconcile,
    /// The attempt is already `committed` (a crash after recording it): only the post and
    /// the job are left to finish.
    Recorded,
}

/// Ends the post in a terminal state (optionally moving the attempt too) and completes the job.
pub(super) async fn settle(
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
