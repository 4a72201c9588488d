//! Posts (one target of one run) with their publish attempts.

use crate::handlers::Path;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use pressroom_core::{JobKind, PostId, PostState, RunId};
use pressroom_store::entity::{attempt, post};
use pressroom_store::repo::{audit, posts};
use pressroom_store::{NewJob, Paging};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult, Code};
use crate::handlers::workspaces::query;
use crate::page::{Page, PageQuery};

#[derive(Deserialize, Default)]
pub struct PostFilter {
    #[serde(flatten)]
    page: PageQuery,
    run_id: Option<RunId>,
    state: Option<String>,
}

#[derive(Serialize)]
pub struct PostWithAttempts {
    #[serde(flatten)]
    pub post: post::Model,
    pub attempts: Vec<attempt::Model>,
}

pub async fn list(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<PostFilter>, QueryRejection>,
) -> ApiResult<Json<Page<post::Model>>> {
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
    let rows = posts::page(
        &state.store,
        ws,
        f.run_id.as_ref(),
        post_state,
        Paging::new(after.as_deref(), limit + 1),
    )
    .await?;
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
    Ok(Json(PostWithAttempts { post, attempts }))
}

/// `POST /v1/posts/{id}/retry`: a failed post (or one that waited for a reconnect) goes back
/// to pending with a new publish job. Its failed attempts stay in the history; the new job
/// starts a fresh attempt. Posts whose outcome is unknown are not retried here: a person must
/// check the platform first, or the post could appear twice.
pub async fn retry(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<PostId>,
) -> ApiResult<(axum::http::StatusCode, Json<post::Model>)> {
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
        Json(posts::get(state.store.conn(), ws, &id).await?),
    ))
}

/// `POST /v1/posts/{id}/cancel`: a post that has not started publishing is cancelled; the
/// worker's own compare-and-set start sees it and does nothing.
pub async fn cancel(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<PostId>,
) -> ApiResult<Json<post::Model>> {
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
        &[PostState::Pending],
        PostState::Cancelled,
        Some("cancelled by a user"),
    )
    .await?;
    if !moved {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "post is {}; only pending posts can be cancelled",
                current.state
            ),
        ));
    }
    audit::record(&tx, now, ws, &ctx.actor(), "post.cancelled", &id, json!({})).await?;
    tx.commit().await?;
    Ok(Json(posts::get(state.store.conn(), ws, &id).await?))
}
