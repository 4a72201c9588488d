//! The audit log of the key's workspace, newest first.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use pressroom_store::Paging;
use pressroom_store::repo::audit;
use serde::Serialize;
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::ApiResult;
use crate::handlers::stored_json;
use crate::handlers::workspaces::query;
use crate::page::{Page, PageQuery};

#[derive(Serialize, ToSchema)]
#[schema(as = AuditEntry)]
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
    let ws = ctx.workspace()?;
    let after = q.after()?;
    let rows = audit::page(&state.store, ws, Paging::new(after.as_deref(), limit + 1)).await?;
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
