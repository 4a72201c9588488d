//! Runs: one occurrence of a campaign. The `UNIQUE(campaign_id, fire_key)` insert with
//! `ON CONFLICT DO NOTHING` is the one place that decides a fire happens exactly once.

use pressroom_core::{AssetId, CampaignId, RunId, RunState, WorkspaceId};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Value,
};

use crate::page::{Paging, newest_page};
use crate::schema::run;
use crate::{Result, Store, StoreError};

/// A fire to insert.
#[derive(Clone, Debug)]
pub struct NewRun<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub campaign_id: &'a CampaignId,
    pub fire_key: &'a str,
    pub fire_at_ms: i64,
    /// "cron", "once", "webhook", "api", "cli"
    pub trigger: &'a str,
    pub state: RunState,
    pub variables: &'a serde_json::Value,
}

/// Inserts the run unless that fire already exists. Returns the new run's id only when this
/// call inserted it — the caller enqueues work only then.
pub async fn insert_fire<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    new: NewRun<'_>,
) -> Result<Option<RunId>> {
    let id = RunId::new();
    let values: Vec<Value> = vec![
        id.clone().into(),
        new.workspace_id.into(),
        new.campaign_id.into(),
        new.fire_key.into(),
        new.trigger.into(),
        new.state.into(),
        new.variables.to_string().into(),
        new.fire_at_ms.into(),
        now_ms.into(),
    ];
    let res = conn
        .execute_raw(store.stmt(
            "INSERT INTO runs (id, workspace_id, campaign_id, fire_key, trigger, state, variables, \
             fire_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (campaign_id, fire_key) DO NOTHING",
            values,
        ))
        .await?;
    Ok((res.rows_affected() == 1).then_some(id))
}

pub async fn get<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    id: &RunId,
) -> Result<run::Model> {
    run::Entity::find_by_id(id.to_string())
        .filter(run::Column::WorkspaceId.eq(workspace_id))
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("run", id))
}

/// Newest runs of a workspace, optionally of one campaign.
pub async fn list(
    store: &Store,
    workspace_id: &WorkspaceId,
    campaign_id: Option<&CampaignId>,
    limit: u64,
) -> Result<Vec<run::Model>> {
    let mut q = run::Entity::find().filter(run::Column::WorkspaceId.eq(workspace_id));
    if let Some(c) = campaign_id {
        q = q.filter(run::Column::CampaignId.eq(c));
    }
    Ok(q.order_by_desc(run::Column::Id)
        .limit(limit)
        .all(store.conn())
        .await?)
}

/// A page of a workspace's runs, newest first, optionally of one campaign and in one state.
pub async fn page(
    store: &Store,
    workspace_id: &WorkspaceId,
    campaign_id: Option<&CampaignId>,
    state: Option<RunState>,
    paging: Paging<'_>,
) -> Result<Vec<run::Model>> {
    let mut q = run::Entity::find().filter(run::Column::WorkspaceId.eq(workspace_id));
    if let Some(c) = campaign_id {
        q = q.filter(run::Column::CampaignId.eq(c));
    }
    if let Some(s) = state {
        q = q.filter(run::Column::State.eq(s));
    }
    newest_page(store, q, run::Column::Id, paging).await
}

/// A workspace's runs whose time (`fire_at`: the scheduled time, or when it was triggered) is in
/// `[from_ms, to_ms]`, earliest first, at most `limit` (for the calendar).
pub async fn fired_between<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    from_ms: i64,
    to_ms: i64,
    limit: u64,
) -> Result<Vec<run::Model>> {
    Ok(run::Entity::find()
        .filter(run::Column::WorkspaceId.eq(workspace_id))
        .filter(run::Column::FireAt.gte(from_ms))
        .filter(run::Column::FireAt.lte(to_ms))
        .order_by_asc(run::Column::FireAt)
        .order_by_asc(run::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// The run a campaign's fire key made, if that fire happened.
pub async fn by_fire_key<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    campaign_id: &CampaignId,
    fire_key: &str,
) -> Result<Option<run::Model>> {
    Ok(run::Entity::find()
        .filter(run::Column::WorkspaceId.eq(workspace_id))
        .filter(run::Column::CampaignId.eq(campaign_id))
        .filter(run::Column::FireKey.eq(fire_key))
        .one(conn)
        .await?)
}

/// What a run's generate step produced.
#[derive(Clone, Copy, Debug)]
pub struct Generated<'a> {
    pub prompt: &'a str,
    pub caption: &'a str,
    /// The run's first (or only) image.
    pub asset_id: &'a AssetId,
    /// All of the run's images in order when it makes several (a carousel), else empty.
    pub asset_ids: &'a [AssetId],
}

/// Records the rendered prompt, caption and image of a run.
pub async fn set_generated<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    run_id: &RunId,
    generated: Generated<'_>,
) -> Result<()> {
    let values: Vec<Value> = vec![
        RunState::Generated.as_str().into(),
        generated.prompt.into(),
        generated.caption.into(),
        generated.asset_id.into(),
        now_ms.into(),
        run_id.into(),
        workspace_id.into(),
        (generated.asset_ids.len() > 1)
            .then(|| serde_json::to_string(generated.asset_ids).ok())
            .flatten()
            .into(),
    ];
    conn.execute_raw(store.stmt(
        "UPDATE runs SET state = $1, prompt = $2, caption = $3, asset_id = $4, error = NULL, \
         updated_at = $5, asset_ids = $8 WHERE id = $6 AND workspace_id = $7",
        values,
    ))
    .await?;
    Ok(())
}

/// Makes `asset_id` the run's image (the candidate a reviewer chose): the render jobs that
/// follow cut it.
pub async fn set_asset<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    run_id: &RunId,
    asset_id: &AssetId,
) -> Result<()> {
    conn.execute_raw(store.stmt(
        "UPDATE runs SET asset_id = $1, updated_at = $2 WHERE id = $3 AND workspace_id = $4",
        vec![
            asset_id.into(),
            now_ms.into(),
            run_id.into(),
            workspace_id.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Marks a run failed with the reason.
pub async fn set_failed<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    run_id: &RunId,
    error: &str,
) -> Result<()> {
    let values: Vec<Value> = vec![
        RunState::Failed.as_str().into(),
        error.into(),
        now_ms.into(),
        run_id.into(),
        workspace_id.into(),
    ];
    conn.execute_raw(store.stmt(
        "UPDATE runs SET state = $1, error = $2, updated_at = $3 WHERE id = $4 AND workspace_id = $5",
        values,
    ))
    .await?;
    Ok(())
}
