//! Posts (one target of one run) with their publish attempts.

use crate::handlers::Path;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use pressroom_core::{
    AccountId, AttemptId, AttemptState, CampaignId, JobKind, Platform, PostId, PostState,
    RenditionId, RunId, WorkspaceId,
};
use pressroom_store::entity::{attempt, post};
use pressroom_store::repo::{audit, posts};
use pressroom_store::{NewJob, Paging};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult, Code};
use crate::handlers::workspaces::query;
use crate::page::{Page, PageQuery};

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PostFilter {
    #[serde(flatten)]
    #[param(ignore)]
    pub(crate) page: PageQuery,
    /// Only this run's posts.
    pub(crate) run_id: Option<RunId>,
    /// Only posts in this state.
    #[param(value_type = Option<PostState>)]
    pub(crate) state: Option<String>,
    /// Only posts to this platform.
    #[param(value_type = Option<Platform>)]
    pub(crate) platform: Option<String>,
    /// Only posts to this account.
    pub(crate) account_id: Option<AccountId>,
    /// Only posts of this campaign's runs.
    pub(crate) campaign_id: Option<CampaignId>,
    /// Only posts created at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub(crate) from: Option<String>,
    /// Only posts created before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub(crate) to: Option<String>,
}

/// A post as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Post)]
pub struct PostView {
    pub id: PostId,
    pub workspace_id: WorkspaceId,
    pub run_id: RunId,
    pub account_id: AccountId,
    pub rendition_id: RenditionId,
    pub platform: Platform,
    pub preset: String,
    pub caption: String,
    pub state: PostState,
    #[schema(required)]
    pub remote_id: Option<String>,
    #[schema(required)]
    pub url: Option<String>,
    #[schema(required)]
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// A feed post (`single`) or a `story`.
    pub format: pressroom_core::PostFormat,
    /// Alt text per image, in order (empty without alt text).
    pub alt_texts: Vec<String>,
    /// A carousel's renditions in order (`rendition_id` first); one entry otherwise.
    pub rendition_ids: Vec<RenditionId>,
    /// Posted as a comment once the post is published, where the platform takes comments.
    #[schema(required)]
    pub first_comment: Option<String>,
    /// The first comment's own state (`pending`, `committing`, `done`, `failed`); null
    /// without one.
    #[schema(required)]
    pub comment_state: Option<pressroom_core::CommentState>,
    /// The platform's id of the first comment, once posted.
    #[schema(required)]
    pub comment_id: Option<String>,
    #[schema(required)]
    pub comment_error: Option<String>,
    /// A carousel's cover image (0-based) where the platform takes one; null: the first.
    #[schema(required)]
    pub cover_index: Option<i32>,
}

impl From<post::Model> for PostView {
    fn from(p: post::Model) -> Self {
        let (alt_texts, rendition_ids) = (p.alt_texts(), p.rendition_ids());
        Self {
            id: p.id,
            workspace_id: p.workspace_id,
            run_id: p.run_id,
            account_id: p.account_id,
            rendition_id: p.rendition_id,
            platform: p.platform,
            preset: p.preset,
            caption: p.caption,
            state: p.state,
            remote_id: p.remote_id,
            url: p.url,
            error: p.error,
            created_at: p.created_at,
            updated_at: p.updated_at,
            alt_texts,
            rendition_ids,
            format: p.format,
            first_comment: p.first_comment,
            comment_state: p.comment_state,
            comment_id: p.comment_id,
            comment_error: p.comment_error,
            cover_index: p.cover_index,
        }
    }
}

/// One publish attempt of a post.
#[derive(Serialize, ToSchema)]
#[schema(as = Attempt)]
pub struct AttemptView {
    pub id: AttemptId,
    pub workspace_id: WorkspaceId,
    pub post_id: PostId,
    pub state: AttemptState,
    #[schema(required)]
    pub checkpoint: Option<String>,
    #[schema(required)]
    pub remote_id: Option<String>,
    #[schema(required)]
    pub url: Option<String>,
    #[schema(required)]
    pub error_code: Option<String>,
    #[schema(required)]
    pub error: Option<String>,
    #[schema(required)]
    pub commit_started_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<attempt::Model> for AttemptView {
    fn from(a: attempt::Model) -> Self {
        Self {
            id: a.id,
            workspace_id: a.workspace_id,
            post_id: a.post_id,
            state: a.state,
            checkpoint: a.checkpoint,
            remote_id: a.remote_id,
            url: a.url,
            error_code: a.error_code,
            error: a.error,
            commit_started_at: a.commit_started_at,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A post with its attempts, oldest first.
#[derive(Serialize, ToSchema)]
pub struct PostWithAttempts {
    #[serde(flatten)]
    pub post: PostView,
    pub attempts: Vec<AttemptView>,
}

pub async fn list(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<PostFilter>, QueryRejection>,
) -> ApiResult<Json<Page<PostView>>> {
    let f = query(q)?;
    let ws = ctx.workspace()?;
    // An unknown state would silently list nothing: say so instead.
    let post_state = f
        .state
        .as_deref()
        .map(|s| {
            PostState::parse(s)
                .ok_or_else(|| ApiError::invalid(format!("state: unknown post state {s:?}")))
        })
        .transpose()?;
    let after = f.page.after()?;
    let limit = f.page.limit()?;
    let platform = f
        .platform
        .as_deref()
        .map(|p| {
            Platform::parse(p).ok_or_else(|| {
                ApiError::invalid(format!(
                    "platform: unknown platform {p:?} (one of: {})",
                    Platform::ALL.map(|p| p.as_str()).join(", ")
                ))
            })
        })
        .transpose()?;
    let instant = |field: &str, text: Option<&str>| {
        text.map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| t.timestamp_millis())
                .map_err(|e| ApiError::invalid(format!("{field}: not an RFC 3339 date-time ({e})")))
        })
        .transpose()
    };
    let filter = posts::PostFilter {
        run_id: f.run_id.as_ref(),
        state: post_state,
        platform,
        account_id: f.account_id.as_ref(),
        campaign_id: f.campaign_id.as_ref(),
        created_from_ms: instant("from", f.from.as_deref())?,
        created_before_ms: instant("to", f.to.as_deref())?,
    };
    let rows = posts::page(
        &state.store,
        ws,
        &filter,
        Paging::new(after.as_deref(), limit + 1),
    )
    .await?;
    let rows = rows.into_iter().map(PostView::from).collect();
    Ok(Json(Page::from_rows(rows, limit, |p| &p.id)))
}

pub async fn get_one(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<PostId>,
) -> ApiResult<Json<PostWithAttempts>> {
    let ws = ctx.workspace()?;
    let post = posts::get(state.store.conn(), ws, &id).await?;
    let attempts = posts::attempts(&state.store, ws, &id).await?;
    Ok(Json(PostWithAttempts {
        post: post.into(),
        attempts: attempts.into_iter().map(AttemptView::from).collect(),
    }))
}

/// `POST /v1/posts/{id}/retry`: a failed post (or one that waited for a reconnect) goes back
/// to pending with a new publish job. Its failed attempts stay in the history; the new job
/// starts a fresh attempt. Posts whose outcome is unknown are not retried here: a person must
/// check the platform first, or the post could appear twice.
pub async fn retry(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<PostId>,
) -> ApiResult<(axum::http::StatusCode, Json<PostView>)> {
    let ws = ctx.workspace()?;
    let current = posts::get(state.store.conn(), ws, &id).await?;
    let now = state.store.now_ms().await?;
    let tx = state.store.begin().await?;
    let moved = posts::transition_post(
        &state.store,
        &tx,
        now,
        ws,
        &id,
        &[PostState::Failed, PostState::NeedsReconnect],
        PostState::Pending,
        None,
    )
    .await?;
    if !moved {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "post is {}; only failed or needs_reconnect posts can be retried",
                current.state
            ),
        ));
    }
    state
        .queue
        .enqueue(
            &tx,
            NewJob::new(ws, JobKind::Publish, json!({ "post_id": id }))
                .unique(format!("publish:{id}:retry:{now}")),
        )
        .await?;
    audit::record(
        &tx,
        now,
        ws,
        &ctx.actor(),
        "post.retried",
        &id,
        json!({ "from": current.state }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(posts::get(state.store.conn(), ws, &id).await?.into()),
    ))
}

/// `POST /v1/posts/{id}/cancel`: a post that has not started publishing (or still awaits its
/// run's review) is cancelled; the
/// worker's own compare-and-set start sees it and does nothing.
pub async fn cancel(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<PostId>,
) -> ApiResult<Json<PostView>> {
    let ws = ctx.workspace()?;
    let current = posts::get(state.store.conn(), ws, &id).await?;
    let now = state.store.now_ms().await?;
    let tx = state.store.begin().await?;
    let moved = posts::transition_post(
        &state.store,
        &tx,
        now,
        ws,
        &id,
        &[PostState::Pending, PostState::AwaitingReview],
        PostState::Cancelled,
        Some("cancelled by a user"),
    )
    .await?;
    if !moved {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "post is {}; only pending or awaiting_review posts can be cancelled",
                current.state
            ),
        ));
    }
    audit::record(&tx, now, ws, &ctx.actor(), "post.cancelled", &id, json!({})).await?;
    tx.commit().await?;
    Ok(Json(posts::get(state.store.conn(), ws, &id).await?.into()))
}
