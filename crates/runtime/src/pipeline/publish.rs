//! Publish: one post to one account through the attempt state machine
//! `pending -> preparing -> prepared -> committing -> committed` (DESIGN.md, "Publishing at
//! most once"). `committing` is committed to the database before the platform call; an
//! attempt found in `committing` — after a crash, a lost lease or an unknown outcome — is
//! reconciled, never committed again unless the platform confirms the post is absent.
//!
//! This module drives an attempt through its states; [`steps`] holds the three platform steps
//! (prepare, commit, reconcile), [`outcome`] what each answer does to the post, and
//! [`credentials`] the tokens a step runs with (refreshed once when they expire).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pressroom_connector::{
    AccountRef, ConnectorError, Credentials, MediaRef, PostDraft, Prepared, PublishCtx, Published,
};
use pressroom_core::{AccountId, AttemptState, PostId, PostState};
use pressroom_store::ClaimedJob;
use pressroom_store::entity::{account, attempt, post};
use pressroom_store::repo::{accounts, assets, posts};
use serde::Deserialize;
use tracing::{debug, info};

use super::{JobError, Pipeline, complete};
use credentials::{credentials, on_credentials_error};
use outcome::{Found, finish_published, on_connector_error, on_reconcile_error, settle};
use steps::{commit, prepare, reconcile};

pub(super) mod credentials;
mod outcome;
mod steps;

/// One refresh at a time per account, within this process (the database re-read after the
/// lock makes a second waiter use the first one's fresh token).
pub(super) type RefreshLocks = Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<()>>>>;

#[derive(Deserialize)]
struct Payload {
    post_id: PostId,
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
    if account.state == pressroom_core::AccountState::Disconnected {
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
    let Some(connector) = p.connectors.get(account.platform.as_str()) else {
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
    // Every image the post carries, in order (a carousel's all, else its one), each with
    // its alt text.
    let alt_texts = post.alt_texts();
    let mut media = Vec::new();
    for (index, rendition_id) in post.rendition_ids().iter().enumerate() {
        let rendition = assets::get_rendition(p.store.conn(), &ws, rendition_id).await?;
        let file = p
            .blobs
            .local_file(&rendition.path)
            .await
            .map_err(|e| JobError::retry(format!("the rendition's file: {e}")))?;
        media.push(MediaRef {
            alt_text: alt_texts.get(index).cloned(),
            path: file,
            mime: rendition.mime.clone(),
            width: rendition.width as u32,
            height: rendition.height as u32,
            bytes: rendition.bytes as u64,
            sha256: rendition.sha256.clone(),
            public_url: p.public_media.as_ref().map(|m| m.url_for(&rendition.id)),
        });
    }
    let first_sha = media.first().map(|m| m.sha256.clone()).unwrap_or_default();
    let draft = PostDraft {
        cover: post
            .cover_index
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or(0),
        format: post.format,
        caption: post.caption.clone(),
        media,
    };

    let latest = posts::latest_attempt(p.store.conn(), &job.workspace_id, &post_id).await?;
    // A failed attempt on a post put back to pending is a retry someone asked for: it gets a
    // fresh attempt (a failed attempt never committed, so this cannot post twice).
    let retrying = latest
        .as_ref()
        .is_some_and(|a| a.state == AttemptState::Failed && post.state == PostState::Pending);
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
        let state = attempt.state;
        let ctx = context(&account, &creds, &attempt, &post, &first_sha);
        let step = match state {
            AttemptState::Committed => {
                let published = Published {
                    remote_id: attempt.remote_id.clone().unwrap_or_default(),
                    url: attempt.url.clone(),
                };
                return finish_published(p, job, &post, &attempt, &published, Found::Recorded)
                    .await;
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
                    let dead = credentials::dead_credentials(account.platform.as_str());
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

fn is_settled(post: &post::Model) -> bool {
    matches!(
        post.state,
        PostState::Published
            | PostState::Failed
            | PostState::Cancelled
            | PostState::Unknown
            | PostState::NeedsReconnect
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
            id: account.id.to_string(),
            workspace_id: account.workspace_id.to_string(),
            external_id: account.external_id.clone(),
        },
        credentials: creds.clone(),
        attempt_id: attempt.id.to_string(),
        checkpoint: attempt
            .checkpoint
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok()),
        committing_since: attempt
            .commit_started_at
            .and_then(chrono::DateTime::from_timestamp_millis),
        caption: post.caption.clone(),
        media_sha256: vec![media_sha.to_string()],
        taken_remote_ids: Vec::new(),
        checkpointer: None,
    }
}
