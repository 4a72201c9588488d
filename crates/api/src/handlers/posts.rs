//! Posts (one target of one run) with their publish attempts.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use pressroom_store::entity::{attempt, post};
use pressroom_store::repo::posts;
use pressroom_store::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult};
use crate::handlers::workspaces::query;
use crate::page::{Page, PageQuery};

#[derive(Deserialize, Default)]
pub struct PostFilter {
    #[serde(flatten)]
    page: PageQuery,
    run_id: Option<String>,
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
    let mut find = post::Entity::find().filter(post::Column::WorkspaceId.eq(ctx.workspace()?));
    if let Some(r) = &f.run_id {
        find = find.filter(post::Column::RunId.eq(r.as_str()));
    }
    if let Some(s) = &f.state {
        find = find.filter(post::Column::State.eq(s.as_str()));
    }
    if let Some(after) = f.page.after()? {
        find = find.filter(post::Column::Id.lt(after));
    }
    let limit = f.page.limit();
    let rows = find
        .order_by_desc(post::Column::Id)
        .limit(limit + 1)
        .all(state.store.conn())
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Page::from_rows(rows, limit, |p| &p.id)))
}

pub async fn get_one(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Json<PostWithAttempts>> {
    let ws = ctx.workspace()?;
    let post = posts::get(state.store.conn(), ws, &id).await?;
    let attempts = posts::attempts(&state.store, ws, &id).await?;
    Ok(Json(PostWithAttempts { post, attempts }))
}
