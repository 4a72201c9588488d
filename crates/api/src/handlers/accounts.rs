//! Connected accounts. Sealed tokens never leave the store: this view has no token fields.

use crate::handlers::Path;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use pressroom_core::AccountId;
use pressroom_store::Paging;
use pressroom_store::entity::account;
use pressroom_store::repo::{accounts, audit};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult};
use crate::handlers::workspaces::query;
use crate::page::{Page, PageQuery};

#[derive(Serialize, ToSchema)]
#[schema(as = Account)]
pub struct AccountView {
    pub id: AccountId,
    pub platform: pressroom_core::Platform,
    pub name: String,
    pub external_id: String,
    pub state: pressroom_core::AccountState,
    #[schema(required)]
    pub state_reason: Option<String>,
    #[schema(required)]
    pub expires_at: Option<i64>,
    /// Why the account's post metrics cannot be read (e.g. "reconnect the Facebook Page and
    /// grant read_insights"); null while they can.
    #[schema(required)]
    pub insights_problem: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<account::Model> for AccountView {
    fn from(a: account::Model) -> Self {
        Self {
            id: a.id,
            platform: a.platform,
            name: a.name,
            external_id: a.external_id,
            state: a.state,
            state_reason: a.state_reason,
            expires_at: a.expires_at,
            insights_problem: a.insights_problem,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

pub async fn list(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<Page<AccountView>>> {
    let q = query(q)?;
    let limit = q.limit()?;
    let ws = ctx.workspace()?;
    let after = q.after()?;
    let rows = accounts::page(&state.store, ws, Paging::new(after.as_deref(), limit + 1))
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        Page::from_rows(rows, limit, |a| &a.id).map(AccountView::from),
    ))
}

/// `POST /v1/accounts/{id}/disconnect`: the account stops publishing; its posts wait in
/// needs_reconnect until someone connects it again. The tokens stay sealed in the store.
pub async fn disconnect(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<AccountId>,
) -> ApiResult<Json<AccountView>> {
    let ws = ctx.workspace()?;
    accounts::get(state.store.conn(), ws, &id).await?;
    let now = state.store.now_ms().await?;
    let tx = state.store.begin().await?;
    accounts::set_state(
        &state.store,
        &tx,
        now,
        ws,
        &id,
        pressroom_core::AccountState::Disconnected,
        Some("disconnected through the API"),
    )
    .await?;
    audit::record(
        &tx,
        now,
        ws,
        &ctx.actor(),
        "account.disconnected",
        &id,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(
        accounts::get(state.store.conn(), ws, &id).await?.into(),
    ))
}
