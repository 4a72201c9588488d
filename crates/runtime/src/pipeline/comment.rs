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

/// Why a step stopped short.
enum Halt {
    /// The platform's answer.
    Platform(ConnectorError),
    /// Not listed, but too early to call it absent: come back after this, spending no try.
    Wait(std::time::Duration),
    /// The database, or a lost lease: the job's own error.
    Job(JobError),
}

impl From<JobError> for Halt {
    fn from(e: JobError) -> Self {
        Halt::Job(e)
    }
}

impl From<pressroom_store::StoreError> for Halt {
    fn from(e: pressroom_store::StoreError) -> Self {
        Halt::Job(e.into())
    }
}

pub(super) async fn handle(p: &Pipeline, job: &ClaimedJob) -> Result<(), JobError> {
    let Payload { post_id } = job.payload()?;
    let ws = &job.workspace_id;
    let post = posts::get(p.store.conn(), ws, &post_id).await?;
    let (Some(text), Some(remote_id)) = (post.first_comment.clone(), post.remote_id.clone()) else {
        return complete(p, job).await;
    };
    let last_try = job.attempt >= job.max_attempts;
    let account = accounts::get(p.store.conn(), ws, &post.account_id).await?;
    let Some(connector) = p.connectors.get(account.platform.as_str()) else {
        let reason = format!("no {} connector in this build", account.platform);
        return finish(p, job, CommentState::Failed, None, Some(&reason)).await;
    };
    if account.state == AccountState::Disconnected {
        // Not sent yet: it fails now. Maybe sent: it is looked for while tries remain.
        let reason = "the account is disconnected; reconnect it and retry the comment";
        if post.comment_state != Some(CommentState::Committing) || last_try {
            let reason = unsure(&post, reason);
            return finish(p, job, CommentState::Failed, None, Some(&reason)).await;
        }
        return Err(JobError::retry(reason));
    }
    let mut creds = match credentials(p, connector.as_ref(), &account, false).await {
        Ok(c) => c,
        Err(e) if last_try => {
            let reason = unsure(&post, &format!("the account's credentials: {e}"));
            return finish(p, job, CommentState::Failed, None, Some(&reason)).await;
        }
        Err(e) => return Err(JobError::retry(format!("the account's credentials: {e}"))),
    };
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
            Err(Halt::Job(e)) => return Err(e),
            Err(Halt::Wait(delay)) => {
                return Err(JobError::Defer {
                    reason: "the first comment is not listed yet; asking again once a call in flight would show".into(),
                    delay,
                });
            }
            Err(Halt::Platform(ConnectorError::AuthExpired)) if !refreshed => {
                refreshed = true;
                creds = credentials(p, connector.as_ref(), &account, true)
                    .await
                    .map_err(|e| JobError::retry(format!("the account's credentials: {e}")))?;
            }
            Err(Halt::Platform(ConnectorError::RateLimited { retry_after })) => {
                let delay = retry_after.unwrap_or_else(|| p.retry.delay(job.attempt as u32, None));
                return Err(JobError::Defer {
                    reason: "the platform is rate limiting comments".into(),
                    delay,
                });
            }
            Err(Halt::Platform(e)) if last_try => {
                let post = posts::get(p.store.conn(), ws, &post_id).await?;
                let reason = unsure(&post, &e.to_string());
                return finish(p, job, CommentState::Failed, None, Some(&reason)).await;
            }
            Err(Halt::Platform(e)) => return Err(JobError::retry(format!("first comment: {e}"))),
        }
    }
}

/// A failure reason; for a comment that may have been sent, it says to check the post.
fn unsure(post: &post::Model, why: &str) -> String {
    match post.comment_state {
        Some(CommentState::Committing) => format!(
            "the first comment may have been posted ({why}); check the post on the platform"
        ),
        _ => format!("the first comment could not be posted: {why}"),
    }
}

/// Marks the comment as being sent (fenced by the job's lease), then sends it.
async fn send(
    p: &Pipeline,
    job: &ClaimedJob,
    connector: &dyn Connector,
    ctx: &PublishCtx,
    post: &post::Model,
    remote_id: &str,
    text: &str,
) -> Result<Next, Halt> {
    if !move_to(
        p,
        job,
        post,
        CommentState::Pending,
        CommentState::Committing,
    )
    .await?
    {
        return Ok(Next::Again);
    }
    match connector.comment(ctx, remote_id, text).await {
        Ok(comment_id) => {
            info!(post = %post.id, platform = %post.platform, comment = %comment_id, "comment: first comment posted");
            finish(p, job, CommentState::Done, Some(&comment_id), None).await?;
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
                job,
                post,
                CommentState::Committing,
                CommentState::Pending,
            )
            .await?;
            Err(Halt::Platform(e))
        }
        Err(ConnectorError::Rejected(reason) | ConnectorError::Disconnected(reason)) => {
            warn!(post = %post.id, platform = %post.platform, %reason, "comment: the platform refused the first comment");
            finish(p, job, CommentState::Failed, None, Some(&reason)).await?;
            Ok(Next::Done)
        }
        // It may have landed (an unknown outcome, or an error this step does not know):
        // stays `committing`, and the next run looks for it.
        Err(e) => Err(Halt::Platform(e)),
    }
}

/// A comment left in `committing`: found on the platform, it is done; absent once a call
/// still in flight would have landed and the listing would show it, it goes back to
/// `pending` and is sent again; before that, the job waits without spending a try.
async fn look(
    p: &Pipeline,
    job: &ClaimedJob,
    connector: &dyn Connector,
    ctx: &PublishCtx,
    post: &post::Model,
    remote_id: &str,
    text: &str,
) -> Result<Next, Halt> {
    match connector.find_comment(ctx, remote_id, text).await {
        Ok(Some(comment_id)) => {
            info!(post = %post.id, comment = %comment_id, "comment: found the first comment an earlier try posted");
            finish(p, job, CommentState::Done, Some(&comment_id), None).await?;
            Ok(Next::Done)
        }
        Ok(None) => {
            let now = p.store.now_ms().await?;
            let final_after = connector.absent_final_after().as_millis() as i64;
            let since = post.comment_started_at.unwrap_or(now);
            let wait = since.saturating_add(final_after).saturating_sub(now);
            if wait > 0 {
                return Err(Halt::Wait(std::time::Duration::from_millis(wait as u64)));
            }
            info!(post = %post.id, "comment: the platform has no such comment; sending it");
            move_to(
                p,
                job,
                post,
                CommentState::Committing,
                CommentState::Pending,
            )
            .await?;
            Ok(Next::Again)
        }
        Err(e) => Err(Halt::Platform(e)),
    }
}

/// One fenced move of the comment's state (see `posts::transition_comment`).
async fn move_to(
    p: &Pipeline,
    job: &ClaimedJob,
    post: &post::Model,
    from: CommentState,
    to: CommentState,
) -> Result<bool, pressroom_store::StoreError> {
    let now = p.store.now_ms().await?;
    posts::transition_comment(
        &p.store,
        p.store.conn(),
        now,
        job,
        &post.id,
        from,
        to,
        None,
        None,
    )
    .await
}

/// Ends the comment (`done` or `failed`) from whichever live state it is in and completes the
/// job, in one transaction; a comment already ended stays as it is.
async fn finish(
    p: &Pipeline,
    job: &ClaimedJob,
    to: CommentState,
    comment_id: Option<&str>,
    error: Option<&str>,
) -> Result<(), JobError> {
    let Payload { post_id } = job.payload()?;
    let now = p.store.now_ms().await?;
    let tx = p.store.begin().await?;
    for from in [CommentState::Committing, CommentState::Pending] {
        if posts::transition_comment(
            &p.store, &tx, now, job, &post_id, from, to, comment_id, error,
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
