//! Generated images (content-addressed files) and their per-platform renditions.

use pressroom_core::{AssetId, RenditionId, RunId, WorkspaceId, new_id};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set, Value};

use crate::page::{Paging, newest_page};
use crate::schema::{asset, rendition, run};
use crate::{Result, Store, StoreError};

/// A generated image to record.
#[derive(Clone, Debug)]
pub struct NewAsset<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub sha256: &'a str,
    pub generation_key: &'a str,
    pub generator: &'a str,
    pub params: &'a serde_json::Value,
    pub path: &'a str,
    pub width: u32,
    pub height: u32,
}

/// Records a generated image and answers its asset id. The workspace has one asset per
/// generation key (a unique index): when an identical generation recorded its image first,
/// this answers that asset's id instead of adding a second row.
pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    now_ms: i64,
    new: NewAsset<'_>,
) -> Result<AssetId> {
    let id = AssetId::new();
    let inserted = asset::Entity::insert(asset::ActiveModel {
        id: Set(id.clone()),
        workspace_id: Set(new.workspace_id.into()),
        sha256: Set(new.sha256.to_string()),
        generation_key: Set(new.generation_key.to_string()),
        generator: Set(new.generator.to_string()),
        params: Set(new.params.to_string()),
        path: Set(new.path.to_string()),
        width: Set(new.width as i32),
        height: Set(new.height as i32),
        created_at: Set(now_ms),
    })
    .on_conflict(
        OnConflict::columns([asset::Column::WorkspaceId, asset::Column::GenerationKey])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    if inserted == 1 {
        return Ok(id);
    }
    let first = asset::Entity::find()
        .filter(asset::Column::WorkspaceId.eq(new.workspace_id))
        .filter(asset::Column::GenerationKey.eq(new.generation_key))
        .one(conn)
        .await?
        .ok_or_else(|| {
            StoreError::Conflict(format!(
                "asset for generation key {} neither inserted nor found",
                new.generation_key
            ))
        })?;
    Ok(first.id)
}

/// Points an asset at a regenerated file (its own file was lost, and the generator answered
/// different bytes for the same request, as remote APIs do).
pub async fn replace_file<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    id: &AssetId,
    sha256: &str,
    path: &str,
) -> Result<()> {
    let updated = asset::Entity::update_many()
        .col_expr(asset::Column::Sha256, Expr::value(sha256))
        .col_expr(asset::Column::Path, Expr::value(path))
        .filter(asset::Column::WorkspaceId.eq(workspace_id))
        .filter(asset::Column::Id.eq(id))
        .exec(conn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(StoreError::not_found("asset", id));
    }
    Ok(())
}

pub async fn get<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    id: &AssetId,
) -> Result<asset::Model> {
    asset::Entity::find_by_id(id.to_string())
        .filter(asset::Column::WorkspaceId.eq(workspace_id))
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("asset", id))
}

/// An asset by id alone, for the signed public media route: the link's signature, not a
/// workspace key, is what authorizes the read.
pub async fn get_for_signed_link<C: ConnectionTrait>(
    conn: &C,
    id: &AssetId,
) -> Result<asset::Model> {
    asset::Entity::find_by_id(id.to_string())
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("asset", id))
}

/// An earlier asset with the same generation key (same model, prompt, seed, …), if any.
pub async fn by_generation_key(
    store: &Store,
    workspace_id: &WorkspaceId,
    key: &str,
) -> Result<Option<asset::Model>> {
    Ok(asset::Entity::find()
        .filter(asset::Column::WorkspaceId.eq(workspace_id))
        .filter(asset::Column::GenerationKey.eq(key))
        .one(store.conn())
        .await?)
}

/// A page of a workspace's assets, newest first. With `run_id`, only the asset the run
/// generated (or reused) and those its renditions were cut from: an asset may serve many runs.
pub async fn page(
    store: &Store,
    workspace_id: &WorkspaceId,
    run_id: Option<&RunId>,
    paging: Paging<'_>,
) -> Result<Vec<asset::Model>> {
    let mut q = asset::Entity::find().filter(asset::Column::WorkspaceId.eq(workspace_id));
    if let Some(run_id) = run_id {
        q = q.filter(asset::Column::Id.is_in(of_run(store, workspace_id, run_id).await?));
    }
    newest_page(store, q, asset::Column::Id, paging).await
}

/// The ids of the asset a run generated (or reused) and of those its renditions came from.
async fn of_run(store: &Store, workspace_id: &WorkspaceId, run_id: &RunId) -> Result<Vec<AssetId>> {
    let conn = store.conn();
    let mut ids: Vec<AssetId> = run::Entity::find()
        .filter(run::Column::WorkspaceId.eq(workspace_id))
        .filter(run::Column::Id.eq(run_id))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|r| r.asset_id)
        .collect();
    ids.extend(
        rendition::Entity::find()
            .filter(rendition::Column::WorkspaceId.eq(workspace_id))
            .filter(rendition::Column::RunId.eq(run_id))
            .all(conn)
            .await?
            .into_iter()
            .map(|r| r.asset_id),
    );
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// When each of the workspace's assets made since `since_ms` was made (usage counts).
pub async fn created_since(
    store: &Store,
    workspace_id: &WorkspaceId,
    since_ms: i64,
) -> Result<Vec<i64>> {
    Ok(asset::Entity::find()
        .select_only()
        .column(asset::Column::CreatedAt)
        .filter(asset::Column::WorkspaceId.eq(workspace_id))
        .filter(asset::Column::CreatedAt.gte(since_ms))
        .into_tuple()
        .all(store.conn())
        .await?)
}

/// A rendition to record.
#[derive(Clone, Debug)]
pub struct NewRendition<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub run_id: &'a RunId,
    pub asset_id: &'a AssetId,
    pub preset: &'a str,
    pub fit: &'a str,
    pub sha256: &'a str,
    pub path: &'a str,
    pub mime: &'a str,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// Records a rendition once per (run, preset, fit); a replayed render job gets the first one.
pub async fn insert_rendition<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    new: NewRendition<'_>,
) -> Result<rendition::Model> {
    let values: Vec<Value> = vec![
        new_id().into(),
        new.workspace_id.into(),
        new.run_id.into(),
        new.asset_id.into(),
        new.preset.into(),
        new.fit.into(),
        new.sha256.into(),
        new.path.into(),
        new.mime.into(),
        (new.width as i32).into(),
        (new.height as i32).into(),
        (new.bytes as i64).into(),
        now_ms.into(),
    ];
    conn.execute_raw(store.stmt(
        "INSERT INTO renditions (id, workspace_id, run_id, asset_id, preset, fit, sha256, path, \
         mime, width, height, bytes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (run_id, preset, fit) DO NOTHING",
        values,
    ))
    .await?;
    rendition::Entity::find()
        .filter(rendition::Column::RunId.eq(new.run_id))
        .filter(rendition::Column::Preset.eq(new.preset))
        .filter(rendition::Column::Fit.eq(new.fit))
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("rendition", format!("{}/{}", new.run_id, new.preset)))
}

/// Points a rendition at another cut of another image of its run (a reviewer chose another
/// candidate, or asked for new ones): the posts keep their rendition id. Only before any of
/// its posts publishes, which the caller ensures (posts wait in `awaiting_review`).
pub async fn replace_rendition<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    id: &RenditionId,
    new: NewRendition<'_>,
) -> Result<()> {
    conn.execute_raw(store.stmt(
        "UPDATE renditions SET asset_id = $1, sha256 = $2, path = $3, mime = $4, width = $5, \
         height = $6, bytes = $7 WHERE id = $8 AND workspace_id = $9",
        vec![
            new.asset_id.into(),
            new.sha256.into(),
            new.path.into(),
            new.mime.into(),
            (new.width as i32).into(),
            (new.height as i32).into(),
            (new.bytes as i64).into(),
            id.into(),
            new.workspace_id.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The renditions of a run (one per preset and fit).
pub async fn renditions_of_run<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    run_id: &RunId,
) -> Result<Vec<rendition::Model>> {
    Ok(rendition::Entity::find()
        .filter(rendition::Column::WorkspaceId.eq(workspace_id))
        .filter(rendition::Column::RunId.eq(run_id))
        .all(conn)
        .await?)
}

pub async fn get_rendition<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    id: &RenditionId,
) -> Result<rendition::Model> {
    rendition::Entity::find_by_id(id.to_string())
        .filter(rendition::Column::WorkspaceId.eq(workspace_id))
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("rendition", id))
}

/// A rendition by id alone, for the signed public media route: the link's signature, not a
/// workspace key, is what authorizes the read.
pub async fn get_rendition_for_signed_link<C: ConnectionTrait>(
    conn: &C,
    id: &RenditionId,
) -> Result<rendition::Model> {
    rendition::Entity::find_by_id(id.to_string())
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("rendition", id))
}
