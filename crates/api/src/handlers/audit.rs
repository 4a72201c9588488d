//! The audit log of the key's workspace, newest first.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use pressroom_store::entity::audit;
use pressroom_store::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::ApiResult;
use crate::handlers::stored_json;
use crate::handlers::workspaces::query;
use crate::page::{Page, PageQuery};

#[derive(Serialize)]
pub struct AuditView {
    pub id: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
    pub created_at: i64,
}

pub async fn list(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<Page<AuditView>>> {
    let q = query(q)?;
    let limit = q.limit()?;
    let mut find = audit::Entity::find().filter(audit::Column::WorkspaceId.eq(ctx.workspace()?));
    if let Some(after) = q.after()? {
        find = find.filter(audit::Column::Id.lt(after));
    }
    let rows =
        pressroom_store::page::newest_first(&state.store, find, audit::Column::Id, limit + 1)
            .await?;
    Ok(Json(Page::from_rows(rows, limit, |a| &a.id).map(|a| {
        AuditView {
            detail: stored_json(&a.detail),
            id: a.id,
            actor: a.actor,
            action: a.action,
            subject: a.subject,
            created_at: a.created_at,
        }
    })))
}
