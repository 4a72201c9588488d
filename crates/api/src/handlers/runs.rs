//! Runs: one occurrence of a campaign, newest first.

use crate::handlers::Path;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use pressroom_core::{AssetId, CampaignId, RunId, RunState};
use pressroom_store::Paging;
use pressroom_store::entity::run;
use pressroom_store::repo::runs;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult};
use crate::handlers::stored_json;
use crate::handlers::workspaces::query;
use crate::page::{Page, PageQuery};

#[derive(Serialize, ToSchema)]
#[schema(as = Run)]
pub struct RunView {
    pub id: RunId,
    pub campaign_id: CampaignId,
    pub trigger: String,
    pub state: RunState,
    pub variables: serde_json::Value,
    #[schema(required)]
    pub prompt: Option<String>,
    #[schema(required)]
    pub caption: Option<String>,
    #[schema(required)]
    pub asset_id: Option<AssetId>,
    #[schema(required)]
    pub error: Option<String>,
    pub fire_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<run::Model> for RunView {
    fn from(r: run::Model) -> Self {
        Self {
            variables: stored_json(&r.variables),
            id: r.id,
            campaign_id: r.campaign_id,
            trigger: r.trigger,
            state: r.state,
            prompt: r.prompt,
            caption: r.caption,
            asset_id: r.asset_id,
            error: r.error,
            fire_at: r.fire_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunFilter {
    #[serde(flatten)]
    #[param(ignore)]
    page: PageQuery,
    /// Only this campaign's runs.
    campaign_id: Option<CampaignId>,
    /// Only runs in this state.
    #[param(value_type = Option<RunState>)]
    state: Option<String>,
}

pub async fn list(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<RunFilter>, QueryRejection>,
) -> ApiResult<Json<Page<RunView>>> {
    let f = query(q)?;
    let ws = ctx.workspace()?;
    // An unknown state would silently list nothing: say so instead.
    let run_state = f
        .state
        .as_deref()
        .map(|s| {
            RunState::parse(s)
                .ok_or_else(|| ApiError::invalid(format!("state: unknown run state {s:?}")))
        })
        .transpose()?;
    let after = f.page.after()?;
    let limit = f.page.limit()?;
    let rows = runs::page(
        &state.store,
        ws,
        f.campaign_id.as_ref(),
        run_state,
        Paging::new(after.as_deref(), limit + 1),
    )
    .await?;
    Ok(Json(
        Page::from_rows(rows, limit, |r| &r.id).map(RunView::from),
    ))
}

pub async fn get_one(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<RunId>,
) -> ApiResult<Json<RunView>> {
    Ok(Json(
        runs::get(state.store.conn(), ctx.workspace()?, &id)
            .await?
            .into(),
    ))
}
