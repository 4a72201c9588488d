//! Workspaces: the key's own (`current`), and for instance admins the list and creation.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use pressroom_core::WorkspaceId;
use pressroom_store::Paging;
use pressroom_store::entity::workspace;
use pressroom_store::repo::{audit, workspaces};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult, Code};
use crate::handlers::RawBody;
use crate::handlers::json_body;
use crate::page::{Page, PageQuery};

/// A workspace as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Workspace)]
pub struct WorkspaceView {
    pub id: WorkspaceId,
    pub slug: String,
    pub name: String,
    pub created_at: i64,
}

impl From<workspace::Model> for WorkspaceView {
    fn from(w: workspace::Model) -> Self {
        Self {
            id: w.id,
            slug: w.slug,
            name: w.name,
            created_at: w.created_at,
        }
    }
}

/// The query string, or a 400 naming the parameter: axum's text reads "Failed to deserialize
/// query string: {parameter}: {reason}", and only the part after the first colon helps.
pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(q)| q).map_err(|e| {
        let text = e.body_text();
        let reason = text.split_once(": ").map_or(text.as_str(), |(_, r)| r);
        ApiError::invalid(format!("query: {reason}"))
    })
}

pub async fn current(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Json<WorkspaceView>> {
    let ws = workspaces::get(&state.store, ctx.workspace()?)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    Ok(Json(ws.into()))
}

pub async fn list(
    State(state): State<ApiState>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<Page<WorkspaceView>>> {
    let q = query(q)?;
    let limit = q.limit()?;
    let after = q.after()?;
    let rows = workspaces::page(&state.store, Paging::new(after.as_deref(), limit + 1)).await?;
    let rows = rows.into_iter().map(WorkspaceView::from).collect();
    Ok(Json(Page::from_rows(rows, limit, |w| &w.id)))
}

/// `POST /v1/workspaces`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewWorkspace {
    /// Lowercase letters, digits and dashes
    #[schema(pattern = "^[a-z0-9-]{1,63}$")]
    slug: String,
    /// Defaults to the slug
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
) -> ApiResult<(StatusCode, Json<WorkspaceView>)> {
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
    Ok((StatusCode::CREATED, Json(ws.into())))
}

/// `POST /v1/workspaces/current/erase`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EraseRequest {
    /// The workspace's slug, typed again: erasure cannot be undone.
    confirm: String,
}

/// `POST /v1/workspaces/current/erase` (owner): the GDPR erasure of the workspace's personal
/// data and generated content (see `pressroom_store::repo::erase`), recorded in the audit log
/// with the counts. Asset and rendition files are deleted after the database commit.
pub async fn erase(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    RawBody(body): RawBody,
) -> ApiResult<Json<serde_json::Value>> {
    let input: EraseRequest = json_body(&body)?;
    let ws_id = ctx.workspace()?;
    let ws = workspaces::get(&state.store, ws_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    if input.confirm != ws.slug {
        return Err(ApiError::invalid(format!(
            "confirm: must be this workspace's slug ({:?}) to erase it",
            ws.slug
        )));
    }
    let now = state.store.now_ms().await?;
    let tx = state.store.begin().await?;
    let erased = pressroom_store::repo::erase::erase_workspace(&state.store, &tx, ws_id).await?;
    let summary = serde_json::to_value(&erased).map_err(ApiError::internal)?;
    audit::record(
        &tx,
        now,
        ws_id,
        &ctx.actor(),
        "workspace.erased",
        ws_id,
        summary.clone(),
    )
    .await?;
    tx.commit().await?;
    // Whichever store holds them (a directory, a bucket); a key another workspace's rows
    // name again by now is kept.
    let files = pressroom_store::repo::erase::delete_files(
        &state.store,
        state.blobs.as_ref(),
        &erased.files,
    )
    .await;
    let files_deleted = files.deleted;
    tracing::info!(workspace = %ws.slug, files = files_deleted, "workspace personal data erased");
    Ok(Json(serde_json::json!({
        "erased": summary,
        "files_deleted": files_deleted,
    })))
}
