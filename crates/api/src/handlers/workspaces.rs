//! Workspaces: the key's own (`current`), and for instance admins the list and creation.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use pressroom_store::entity::workspace;
use pressroom_store::repo::{audit, workspaces};
use pressroom_store::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult, Code};
use crate::handlers::RawBody;
use crate::handlers::json_body;
use crate::page::{Page, PageQuery};

pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::invalid(format!("query: {}", e.body_text())))
}

pub async fn current(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Json<workspace::Model>> {
    let ws = workspace::Entity::find_by_id(ctx.workspace()?.to_string())
        .one(state.store.conn())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    Ok(Json(ws))
}

pub async fn list(
    State(state): State<ApiState>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<Page<workspace::Model>>> {
    let q = query(q)?;
    let mut find = workspace::Entity::find();
    if let Some(after) = q.after()? {
        find = find.filter(workspace::Column::Id.lt(after));
    }
    let rows = find
        .order_by_desc(workspace::Column::Id)
        .limit(q.limit() + 1)
        .all(state.store.conn())
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Page::from_rows(rows, q.limit(), |w| &w.id)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWorkspace {
    slug: String,
    name: Option<String>,
}

/// A slug is what campaign files name their workspace by: lowercase, digits and dashes.
fn valid_slug(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub async fn create(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<workspace::Model>)> {
    let input: NewWorkspace = json_body(&body)?;
    if !valid_slug(&input.slug) {
        return Err(ApiError::invalid(
            "slug: 1 to 63 characters of a-z, 0-9 and -",
        ));
    }
    if workspaces::by_slug(&state.store, &input.slug)
        .await?
        .is_some()
    {
        return Err(ApiError::new(
            Code::Conflict,
            format!("workspace {:?} already exists", input.slug),
        ));
    }
    let name = input.name.unwrap_or_else(|| input.slug.clone());
    let ws = workspaces::ensure(&state.store, &input.slug, &name).await?;
    let now = state.store.now_ms().await?;
    audit::record(
        state.store.conn(),
        now,
        &ws.id,
        &ctx.actor(),
        "workspace.created",
        &ws.id,
        serde_json::json!({ "slug": ws.slug }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(ws)))
}
