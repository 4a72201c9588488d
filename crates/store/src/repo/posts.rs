//! Posts (one account + one rendition of one run) and their publish attempts. Attempt
//! transitions are fenced twice: the state machine in `pressroom-core` must allow them, and
//! the publishing job's lease token must still be current, so a worker that lost its lease
//! cannot move an attempt.

use pressroom_core::{
    AccountId, AttemptId, AttemptState, CampaignId, CommentState, Platform, PostFormat, PostId,
    PostState, RenditionId, RunId, WorkspaceId, new_id,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Value,
};

use crate::page::{Paging, newest_page};
use crate::queue::ClaimedJob;
use crate::schema::{attempt, post, run};
use crate::{Result, Store, StoreError};

/// A post to create.
#[derive(Clone, Debug)]
pub struct NewPost<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub run_id: &'a RunId,
    pub account_id: &'a AccountId,
    pub rendition_id: &'a RenditionId,
    pub platform: Platform,
    pub preset: &'a str,
    pub caption: &'a str,
    pub format: PostFormat,
    /// Alt text per image (empty: none).
    pub alt_texts: &'a [String],
    /// A carousel's renditions in order, `rendition_id` first (empty for one image).
    pub rendition_ids: &'a [RenditionId],
    pub first_comment: Option<&'a str>,
    /// A carousel's cover image (0-based), where the platform takes one.
    pub cover_index: Option<u32>,
}

/// A non-empty list as a JSON array; `None` for an empty one.
fn json_list<T: serde::Serialize>(items: &[T]) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    serde_json::to_string(items).ok()
}

/// Creates the post once per (run, account, preset), pending, and returns it.
pub async fn insert<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    new: NewPost<'_>,
) -> Result<post::Model> {
    insert_in_state(store, conn, now_ms, new, PostState::Pending).await
}

/// [`insert`] in another first state (`awaiting_review` when its run needs approval).
pub async fn insert_in_state<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    new: NewPost<'_>,
    state: PostState,
) -> Result<post::Model> {
    let values: Vec<Value> = vec![
        new_id().into(),
        new.workspace_id.into(),
        new.run_id.into(),
        new.account_id.into(),
        new.rendition_id.into(),
        new.platform.into(),
        new.preset.into(),
        new.caption.into(),
        state.as_str().into(),
        now_ms.into(),
        new.format.as_str().into(),
        json_list(new.alt_texts).into(),
        new.first_comment.into(),
        new.first_comment
            .map(|_| CommentState::Pending.as_str())
            .into(),
        (new.rendition_ids.len() > 1)
            .then(|| json_list(new.rendition_ids))
            .flatten()
            .into(),
        new.cover_index.map(|i| i as i32).into(),
    ];
    conn.execute_raw(store.stmt(
        "INSERT INTO posts (id, workspace_id, run_id, account_id, rendition_id, platform, preset, \
         caption, state, created_at, updated_at, format, alt_texts, first_comment, comment_state, \
         rendition_ids, cover_index) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (run_id, account_id, preset) DO NOTHING",
        values,
    ))
    .await?;
    post::Entity::find()
        .filter(post::Column::RunId.eq(new.run_id))
        .filter(post::Column::AccountId.eq(new.account_id))
        .filter(post::Column::Preset.eq(new.preset))
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("post", new.run_id))
}

pub async fn get<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    id: &PostId,
) -> Result<post::Model> {
    post::Entity::find_by_id(id.to_string())
        .filter(post::Column::WorkspaceId.eq(workspace_id))
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("post", id))
}

/// Newest posts of a workspace, optionally of one run.
pub async fn list(
    store: &Store,
    workspace_id: &WorkspaceId,
    run_id: Option<&RunId>,
    limit: u64,
) -> Result<Vec<post::Model>> {
    let mut q = post::Entity::find().filter(post::Column::WorkspaceId.eq(workspace_id));
    if let Some(r) = run_id {
        q = q.filter(post::Column::RunId.eq(r));
    }
    Ok(q.order_by_desc(post::Column::Id)
        .limit(limit)
        .all(store.conn())
        .await?)
}

/// Every post of a run, oldest first.
pub async fn of_run<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    run_id: &RunId,
) -> Result<Vec<post::Model>> {
    Ok(post::Entity::find()
        .filter(post::Column::WorkspaceId.eq(workspace_id))
        .filter(post::Column::RunId.eq(run_id))
        .order_by_asc(post::Column::Id)
        .all(conn)
        .await?)
}

/// The posts of several runs of a workspace (the calendar's), by run.
pub async fn of_runs<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    run_ids: &[RunId],
) -> Result<Vec<post::Model>> {
    let mut out = Vec::new();
    // Bounded IN lists: both backends cap bind parameters per statement.
    for chunk in run_ids.chunks(500) {
        out.extend(
            post::Entity::find()
                .filter(post::Column::WorkspaceId.eq(workspace_id))
                .filter(post::Column::RunId.is_in(chunk.iter().cloned()))
                .order_by_asc(post::Column::Id)
                .all(conn)
                .await?,
        );
    }
    Ok(out)
}

/// Replaces the caption of a post that has not started publishing (a reviewer's edit).
pub async fn set_caption<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    post_id: &PostId,
    caption: &str,
) -> Result<bool> {
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE posts SET caption = $1, updated_at = $2 \
             WHERE id = $3 AND workspace_id = $4 AND state = $5",
            vec![
                caption.into(),
                now_ms.into(),
                post_id.into(),
                workspace_id.into(),
                PostState::AwaitingReview.as_str().into(),
            ],
        ))
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Sets a post's user-facing state and, when published, its remote id and URL.
#[allow(clippy::too_many_arguments)]
pub async fn set_state<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    post_id: &PostId,
    new_state: PostState,
    remote_id: Option<&str>,
    url: Option<&str>,
    error: Option<&str>,
) -> Result<()> {
    let values: Vec<Value> = vec![
        new_state.as_str().into(),
        remote_id.into(),
        url.into(),
        error.into(),
        now_ms.into(),
        post_id.into(),
    ];
    conn.execute_raw(store.stmt(
        "UPDATE posts SET state = $1, remote_id = COALESCE($2, remote_id), url = COALESCE($3, url), \
         error = $4, updated_at = $5, \
         published_at = CASE WHEN $1 = 'published' THEN COALESCE(published_at, $5) ELSE published_at END \
         WHERE id = $6",
        values,
    ))
    .await?;
    Ok(())
}

/// Moves a post to `to` only if it is in one of `from` (a compare-and-set, so a user's cancel
/// and a worker's start cannot both win). Clears the stored error. Returns whether it moved.
#[allow(clippy::too_many_arguments)]
pub async fn transition_post<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    post_id: &PostId,
    from: &[PostState],
    to: PostState,
    error: Option<&str>,
) -> Result<bool> {
    let mut values: Vec<Value> = vec![
        to.as_str().into(),
        error.into(),
        now_ms.into(),
        post_id.into(),
        workspace_id.into(),
    ];
    let mut placeholders = Vec::new();
    for state in from {
        values.push(state.as_str().into());
        placeholders.push(format!("${}", values.len()));
    }
    if placeholders.is_empty() {
        return Ok(false);
    }
    let res = conn
        .execute_raw(store.stmt(
            &format!(
                "UPDATE posts SET state = $1, error = $2, updated_at = $3 \
                 WHERE id = $4 AND workspace_id = $5 AND state IN ({})",
                placeholders.join(", ")
            ),
            values,
        ))
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Whether `job` is still this worker's (running under its lease): after a fenced update
/// matched nothing, it tells a lost lease from a row that moved on.
async fn lease_is_current<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    job: &ClaimedJob,
) -> Result<bool> {
    Ok(conn
        .query_one_raw(store.stmt(
            "SELECT 1 AS ok FROM jobs WHERE id = $1 AND lease_token = $2 AND state = 'running'",
            vec![job.id.clone().into(), job.lease_token.into()],
        ))
        .await?
        .is_some())
}

/// Moves a post's first comment from `from` to `to`, fenced like an attempt's transitions:
/// the comment job's lease must still be this worker's (a worker that lost its lease touches
/// nothing, so two workers never both send), and the comment must still be in `from`. Every
/// entry into `committing` stamps the call's time (what bounds the search for it after a
/// crash); `done` records the platform's comment id, `failed` the reason. `Ok(false)`: the
/// comment moved on; `LeaseLost`: the job is another worker's now.
#[allow(clippy::too_many_arguments)]
pub async fn transition_comment<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    job: &ClaimedJob,
    post_id: &PostId,
    from: CommentState,
    to: CommentState,
    comment_id: Option<&str>,
    error: Option<&str>,
) -> Result<bool> {
    let started_at = (to == CommentState::Committing).then_some(now_ms);
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE posts SET comment_state = $1, comment_id = COALESCE($2, comment_id), \
             comment_error = $3, updated_at = $4, \
             comment_started_at = COALESCE($5, comment_started_at) \
             WHERE id = $6 AND workspace_id = $7 AND comment_state = $8 \
             AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = $9 AND jobs.lease_token = $10 \
             AND jobs.state = 'running')",
            vec![
                to.as_str().into(),
                comment_id.into(),
                error.into(),
                now_ms.into(),
                started_at.into(),
                post_id.into(),
                job.workspace_id.clone().into(),
                from.as_str().into(),
                job.id.clone().into(),
                job.lease_token.into(),
            ],
        ))
        .await?;
    if res.rows_affected() == 1 {
        return Ok(true);
    }
    let lease_current = lease_is_current(store, conn, job).await?;
    if lease_current {
        Ok(false)
    } else {
        Err(StoreError::LeaseLost {
            job_id: job.id.clone(),
        })
    }
}

/// A page of a workspace's posts, newest first, narrowed by `filter`.
pub async fn page(
    store: &Store,
    workspace_id: &WorkspaceId,
    filter: &PostFilter<'_>,
    paging: Paging<'_>,
) -> Result<Vec<post::Model>> {
    let mut q = post::Entity::find().filter(post::Column::WorkspaceId.eq(workspace_id));
    if let Some(r) = filter.run_id {
        q = q.filter(post::Column::RunId.eq(r));
    }
    if let Some(s) = filter.state {
        q = q.filter(post::Column::State.eq(s));
    }
    if let Some(p) = filter.platform {
        q = q.filter(post::Column::Platform.eq(p));
    }
    if let Some(a) = filter.account_id {
        q = q.filter(post::Column::AccountId.eq(a));
    }
    if let Some(c) = filter.campaign_id {
        let runs_of_campaign = sea_orm::sea_query::Query::select()
            .column(run::Column::Id)
            .from(run::Entity)
            .and_where(run::Column::WorkspaceId.eq(workspace_id))
            .and_where(run::Column::CampaignId.eq(c))
            .to_owned();
        q = q.filter(post::Column::RunId.in_subquery(runs_of_campaign));
    }
    if let Some(from) = filter.created_from_ms {
        q = q.filter(post::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.created_before_ms {
        q = q.filter(post::Column::CreatedAt.lt(to));
    }
    newest_page(store, q, post::Column::Id, paging).await
}

/// Which posts a listing shows; every field narrows it.
#[derive(Clone, Copy, Debug, Default)]
pub struct PostFilter<'a> {
    pub run_id: Option<&'a RunId>,
    pub state: Option<PostState>,
    pub platform: Option<Platform>,
    pub account_id: Option<&'a AccountId>,
    pub campaign_id: Option<&'a CampaignId>,
    /// Created at or after (epoch ms).
    pub created_from_ms: Option<i64>,
    /// Created before (epoch ms).
    pub created_before_ms: Option<i64>,
}

/// The `updated_at` of each of the workspace's published posts last changed since `since_ms`
/// (usage counts).
pub async fn published_since(
    store: &Store,
    workspace_id: &WorkspaceId,
    since_ms: i64,
) -> Result<Vec<i64>> {
    Ok(post::Entity::find()
        .select_only()
        .column(post::Column::UpdatedAt)
        .filter(post::Column::WorkspaceId.eq(workspace_id))
        .filter(post::Column::State.eq(PostState::Published.as_str()))
        .filter(post::Column::UpdatedAt.gte(since_ms))
        .into_tuple()
        .all(store.conn())
        .await?)
}

/// The remote ids that the account's other posts hold, of those changed since `since_ms`: a
/// reconcile that matches by caption skips them (`PublishCtx::taken_remote_ids`).
pub async fn taken_remote_ids(
    store: &Store,
    workspace_id: &WorkspaceId,
    account_id: &AccountId,
    except_post_id: &PostId,
    since_ms: i64,
) -> Result<Vec<String>> {
    Ok(post::Entity::find()
        .select_only()
        .column(post::Column::RemoteId)
        .filter(post::Column::AccountId.eq(account_id))
        .filter(post::Column::RemoteId.is_not_null())
        .filter(post::Column::WorkspaceId.eq(workspace_id))
        .filter(post::Column::Id.ne(except_post_id))
        .filter(post::Column::UpdatedAt.gte(since_ms))
        .into_tuple::<Option<String>>()
        .all(store.conn())
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// Whether another post of the account already holds `remote_id`, checked inside `tx`, the
/// transaction that is about to record it for `post_id`. On PostgreSQL it first takes a lock
/// per account, held until `tx` ends, so two instances reconciling same-caption posts cannot
/// both record one remote id; SQLite runs one writer at a time anyway.
pub async fn remote_id_taken(
    store: &Store,
    tx: &crate::Tx,
    account_id: &AccountId,
    post_id: &PostId,
    remote_id: &str,
) -> Result<bool> {
    if store.backend() == crate::Backend::Postgres {
        tx.execute_raw(store.stmt(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            vec![format!("pressroom.remote-id:{account_id}").into()],
        ))
        .await?;
    }
    let holder = post::Entity::find()
        .select_only()
        .column(post::Column::Id)
        .filter(post::Column::AccountId.eq(account_id))
        .filter(post::Column::RemoteId.eq(remote_id))
        .filter(post::Column::Id.ne(post_id))
        .into_tuple::<String>()
        .one(tx)
        .await?;
    Ok(holder.is_some())
}

/// The post's newest attempt.
pub async fn latest_attempt<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    post_id: &PostId,
) -> Result<Option<attempt::Model>> {
    Ok(attempt::Entity::find()
        .filter(attempt::Column::WorkspaceId.eq(workspace_id))
        .filter(attempt::Column::PostId.eq(post_id))
        .order_by_desc(attempt::Column::Id)
        .one(conn)
        .await?)
}

pub async fn attempts(
    store: &Store,
    workspace_id: &WorkspaceId,
    post_id: &PostId,
) -> Result<Vec<attempt::Model>> {
    Ok(attempt::Entity::find()
        .filter(attempt::Column::WorkspaceId.eq(workspace_id))
        .filter(attempt::Column::PostId.eq(post_id))
        .order_by_asc(attempt::Column::Id)
        .all(store.conn())
        .await?)
}

/// Starts a new attempt in `pending`.
pub async fn create_attempt<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    post_id: &PostId,
) -> Result<attempt::Model> {
    let id = new_id();
    let values: Vec<Value> = vec![
        id.clone().into(),
        workspace_id.into(),
        post_id.into(),
        AttemptState::Pending.as_str().into(),
        now_ms.into(),
    ];
    conn.execute_raw(store.stmt(
        "INSERT INTO attempts (id, workspace_id, post_id, state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
        values,
    ))
    .await?;
    attempt::Entity::find_by_id(id.clone())
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("attempt", id))
}

/// Fields a transition may set alongside the new state (None leaves a field as it is).
#[derive(Clone, Debug, Default)]
pub struct AttemptChanges<'a> {
    pub checkpoint: Option<&'a serde_json::Value>,
    pub remote_id: Option<&'a str>,
    pub url: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub error: Option<&'a str>,
    /// Set when entering `committing`.
    pub commit_started_at: Option<i64>,
}

/// Moves an attempt `from -> to`, only if it is still in `from` and `job`'s lease is current.
#[allow(clippy::too_many_arguments)]
pub async fn transition<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    attempt_id: &AttemptId,
    from: AttemptState,
    to: AttemptState,
    job: &ClaimedJob,
    changes: AttemptChanges<'_>,
) -> Result<()> {
    from.transition(to)
        .map_err(|e| StoreError::Conflict(e.to_string()))?;
    let values: Vec<Value> = vec![
        to.as_str().into(),
        changes.checkpoint.map(|c| c.to_string()).into(),
        changes.remote_id.into(),
        changes.url.into(),
        changes.error_code.into(),
        changes.error.into(),
        changes.commit_started_at.into(),
        now_ms.into(),
        attempt_id.into(),
        from.as_str().into(),
        job.id.clone().into(),
        job.lease_token.into(),
    ];
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE attempts SET state = $1, checkpoint = COALESCE($2, checkpoint), \
             remote_id = COALESCE($3, remote_id), url = COALESCE($4, url), \
             error_code = $5, error = $6, \
             commit_started_at = COALESCE($7, commit_started_at), updated_at = $8 \
             WHERE id = $9 AND state = $10 AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = $11 \
             AND jobs.lease_token = $12 AND jobs.state = 'running')",
            values,
        ))
        .await?;
    if res.rows_affected() == 1 {
        return Ok(());
    }
    // Nothing matched: tell a lost lease (stop touching this job) from a stale `from` state
    // (this worker still owns the job, but the attempt moved on).
    let lease_current = lease_is_current(store, conn, job).await?;
    if lease_current {
        Err(StoreError::Conflict(format!(
            "attempt {attempt_id} is no longer {}",
            from.as_str()
        )))
    } else {
        Err(StoreError::LeaseLost {
            job_id: job.id.clone(),
        })
    }
}

/// Replaces the checkpoint of an attempt that is still in `state` (`preparing`: the steps of
/// a multi-call upload done so far; `committing`: what the platform answered mid-commit), fenced
/// by the job's lease.
pub async fn save_checkpoint<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    attempt_id: &AttemptId,
    state: AttemptState,
    job: &ClaimedJob,
    checkpoint: &serde_json::Value,
) -> Result<()> {
    let values: Vec<Value> = vec![
        checkpoint.to_string().into(),
        now_ms.into(),
        attempt_id.into(),
        state.as_str().into(),
        job.id.clone().into(),
        job.lease_token.into(),
    ];
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE attempts SET checkpoint = $1, updated_at = $2 \
             WHERE id = $3 AND state = $4 AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = $5 \
             AND jobs.lease_token = $6 AND jobs.state = 'running')",
            values,
        ))
        .await?;
    if res.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "attempt {attempt_id} is not {} under this job's lease",
            state.as_str()
        )))
    }
}
