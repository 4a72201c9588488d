//! Comment: a published post's first comment, at most once (PLATFORMS.md §8; DESIGN.md,
//! "Publishing at most once"). No platform makes a comment idempotent, so the step mirrors
//! a publish attempt: `pending -> committing` is committed to the database before the
//! platform call and `committing -> done` after it. A comment found in `committing` (a crash,
//! a lost lease, an answer that never came) is looked for on the platform first; it is
//! posted again only once the platform's listing has had time to show it and does not.

use pressroom_connector::{AccountRef, Connector, ConnectorError, PublishCtx};
use pressroom_core::{AccountState, CommentState, PostId};
use pressroom_store::ClaimedJob;
use pressroom_store::entity::{account, post};
use pressroom_store::repo::{accounts, posts};
use serde::Deserialize;
use tracing::{info, warn};

use super::publish::credentials::credentials;
use super::{JobError, Pipeline, complete};

#[derive(Deserialize)]
struct Payload {
    post_id: PostId,
}

/// What one look at the comment decided.
enum Next {
    /// The state moved; look again.
    Again,
    /// The job is finished (completed in the database).
    Done,
}

pub(super) async fn handle(p: &Pipeline, job: &ClaimedJob) -> Result<(), JobError> {
    let Payload { post_id } = job.payload()?;
    let ws = &job.workspace_id;
    let post = posts::get(p.store.conn(), ws, &post_id).await?;
    let (Some(text), Some(remote_id)) = (post.first_comment.clone(), post.remote_id.clone()) else {
        return complete(p, job).await;
    };
    let account = accounts::get(p.store.conn(), ws, &post.account_id).await?;
    let Some(connector) = p.connectors.get(account.platform.as_str()) else {
        let reason = format!("no {} connector in this build", account.platform);
        return finish(p, job, &post, CommentState::Failed, None, Some(&reason)).await;
    };
    if account.state == AccountState::Disconnected {
        let reason = "the account is disconnected; reconnect it and retry the comment";
        let state = post.comment_state.unwrap_or(CommentState::Pending);
        if state == CommentState::Pending {
            return finish(p, job, &post, CommentState::Failed, None, Some(reason)).await;
        }
        return Err(JobError::retry(reason));
    }
    let mut creds = credentials(p, connector.as_ref(), &account, false)
        .await
        .map_err(|e| JobError::retry(format!("the account's credentials: {e}")))?;
    let mut refreshed = false;
    loop {
        let post = posts::get(p.store.conn(), ws, &post_id).await?;
        let ctx = context(&account, creds.clone(), &post);
        let step = match post.comment_state {
            None | Some(CommentState::Done | CommentState::Failed) => {
                return complete(p, job).await;
            }
            Some(CommentState::Pending) => {
                send(p, job, connector.as_ref(), &ctx, &post, &remote_id, &text).await
            }
            Some(CommentState::Committing) => {
                look(p, job, connector.as_ref(), &ctx, &post, &remote_id, &text).await
            }
        };
        match step {
            Ok(Next::Again) => {}
            Ok(Next::Done) => return Ok(()),
            Err(ConnectorError::AuthExpired) if !refreshed => {
                refreshed = true;
                creds = credentials(p, connector.as_ref(), &account, true)
                    .await
                    .map_err(|e| JobError::retry(format!("the account's credentials: {e}")))?;
            }
            Err(ConnectorError::RateLimited { retry_after }) => {
                let delay = retry_after.unwrap_or_else(|| p.retry.delay(job.attempt as u32, None));
                return Err(JobError::Defer {
                    reason: "the platform is rate limiting comments".into(),
                    delay,
                });
            }
            Err(e) if job.attempt >= job.max_attempts => {
                let post = posts::get(p.store.conn(), ws, &post_id).await?;
                let reason = match post.comment_state {
                    Some(CommentState::Committing) => format!(
                        "the first comment may have been posted ({e}); check the post on the platform"
                    ),
                    _ => format!("the first comment could not be posted: {e}"),
                };
                return finish(p, job, &post, CommentState::Failed, None, Some(&reason)).await;
            }
            Err(e) => return Err(JobError::retry(format!("first comment: {e}"))),
        }
    }
}

/// Marks the comment as being sent, then sends it.
async fn send(
    p: &Pipeline,
    job: &ClaimedJob,
    connector: &dyn Connector,
    ctx: &PublishCtx,
    post: &post::Model,
    remote_id: &str,
    text: &str,
) -> Result<Next, ConnectorError> {
    let moved = move_to(
        p,
        post,
        CommentState::Pending,
        CommentState::Committing,
        None,
        None,
    )
    .await
    .map_err(store_trouble)?;
    if !moved {
        return Ok(Next::Again);
    }
    match connector.comment(ctx, remote_id, text).await {
        Ok(comment_id) => {
            info!(post = %post.id, platform = %post.platform, comment = %comment_id, "comment: first comment posted");
            finish(p, job, post, CommentState::Done, Some(&comment_id), None)
                .await
                .map_err(job_trouble)?;
            Ok(Next::Done)
        }
        // Answers that prove nothing was posted: the comment may be sent again.
        Err(
            e @ (ConnectorError::AuthExpired
            | ConnectorError::RateLimited { .. }
            | ConnectorError::Transient(_)),
        ) => {
            move_to(
                p,
                post,
                CommentState::Committing,
                CommentState::Pending,
                None,
                None,
            )
            .await
            .map_err(store_trouble)?;
            Err(e)
        }
        Err(ConnectorError::Rejected(reason) | ConnectorError::Disconnected(reason)) => {
            warn!(post = %post.id, platform = %post.platform, %reason, "comment: the platform refused the first comment");
            finish(p, job, post, CommentState::Failed, None, Some(&reason))
                .await
                .map_err(job_trouble)?;
            Ok(Next::Done)
        }
        // It may have landed (an unknown outcome, or an error this step does not know):
        // stays `committing`, and the next run looks for it.
        Err(e) => Err(e),
    }
}

/// A comment left in `committing`: found on the platform, it is done; absent long enough
/// for the listing to have shown it, it goes back to `pending` and is sent again.
async fn look(
    p: &Pipeline,
    job: &ClaimedJob,
    connector: &dyn Connector,
    ctx: &PublishCtx,
    post: &post::Model,
    remote_id: &str,
    text: &str,
) -> Result<Next, ConnectorError> {
    match connector.find_comment(ctx, remote_id, text).await {
        Ok(Some(comment_id)) => {
            info!(post = %post.id, comment = %comment_id, "comment: found the first comment an earlier try posted");
            finish(p, job, post, CommentState::Done, Some(&comment_id), None)
                .await
                .map_err(job_trouble)?;
            Ok(Next::Done)
        }
        Ok(None) => {
            let now = p.store.now_ms().await.map_err(store_trouble)?;
            let final_after = connector.absent_final_after().as_millis() as i64;
            let since = post.comment_started_at.unwrap_or(now);
            if now.saturating_sub(since) < final_after {
                return Err(ConnectorError::transient(format!(
                    "the first comment is not listed yet; asking again (absent is final {} s after the call)",
                    final_after / 1000
                )));
            }
            info!(post = %post.id, "comment: the platform has no such comment; sending it");
            move_to(
                p,
                post,
                CommentState::Committing,
                CommentState::Pending,
                None,
                None,
            )
            .await
            .map_err(store_trouble)?;
            Ok(Next::Again)
        }
        Err(e) if job.attempt >= job.max_attempts && !matches!(e, ConnectorError::AuthExpired) => {
            let reason = format!(
                "could not tell whether the first comment was posted ({e}); check the post on the platform"
            );
            finish(p, job, post, CommentState::Failed, None, Some(&reason))
                .await
                .map_err(job_trouble)?;
            Ok(Next::Done)
        }
        Err(e) => Err(e),
    }
}

async fn move_to(
    p: &Pipeline,
    post: &post::Model,
    from: CommentState,
    to: CommentState,
    comment_id: Option<&str>,
    error: Option<&str>,
) -> Result<bool, pressroom_store::StoreError> {
    let now = p.store.now_ms().await?;
    posts::transition_comment(
        &p.store,
        p.store.conn(),
        now,
        &post.workspace_id,
        &post.id,
        from,
        to,
        comment_id,
        error,
    )
    .await
}

/// Ends the comment (`done` or `failed`) and completes the job in one transaction.
async fn finish(
    p: &Pipeline,
    job: &ClaimedJob,
    post: &post::Model,
    to: CommentState,
    comment_id: Option<&str>,
    error: Option<&str>,
) -> Result<(), JobError> {
    let now = p.store.now_ms().await?;
    let tx = p.store.begin().await?;
    let from = post.comment_state.unwrap_or(CommentState::Pending);
    for state in [from, CommentState::Committing] {
        if posts::transition_comment(
            &p.store,
            &tx,
            now,
            &post.workspace_id,
            &post.id,
            state,
            to,
            comment_id,
            error,
        )
        .await?
        {
            break;
        }
    }
    p.queue.complete(&tx, job).await?;
    tx.commit().await?;
    Ok(())
}

/// A database failure inside a step, carried out as a transient error (the job retries;
/// the comment's state in the database says what happened so far).
fn store_trouble(e: pressroom_store::StoreError) -> ConnectorError {
    ConnectorError::transient(format!("database: {e}"))
}

fn job_trouble(e: JobError) -> ConnectorError {
    ConnectorError::transient(format!("database: {e}"))
}

fn context(
    account: &account::Model,
    credentials: pressroom_connector::Credentials,
    post: &post::Model,
) -> PublishCtx {
    PublishCtx {
        account: AccountRef {
            id: account.id.to_string(),
            workspace_id: account.workspace_id.to_string(),
            external_id: account.external_id.clone(),
        },
        credentials,
        attempt_id: post.id.to_string(),
        checkpoint: None,
        committing_since: post
            .comment_started_at
            .and_then(chrono::DateTime::from_timestamp_millis),
        caption: post.caption.clone(),
        media_sha256: Vec::new(),
        taken_remote_ids: Vec::new(),
        checkpointer: None,
    }
}
