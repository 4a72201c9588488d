//! Campaigns as stored: the TOML source, its parsed spec as JSON, and the scheduler's cursor
//! (`schedule_checked_at`: fires up to this instant have been considered).

use pressroom_core::{CampaignId, WorkspaceId};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set, Value};

use crate::page::{Paging, newest_page};
use crate::schema::campaign;
use crate::{Result, Store, StoreError};

/// What `upsert` writes.
#[derive(Clone, Debug)]
pub struct CampaignInput<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub name: &'a str,
    pub source: &'a str,
    pub source_file: Option<&'a str>,
    pub spec: serde_json::Value,
}

/// Creates or updates a campaign by (workspace, name). A new campaign's schedule starts at
/// `now`: it never fires for times before it existed. An update keeps the cursor. Saving a
/// deleted campaign's name brings that row back (same id, its history attached), enabled and
/// with the cursor at `now`, so nothing fires for the time it was deleted.
pub async fn upsert<C: ConnectionTrait>(
    conn: &C,
    now_ms: i64,
    input: CampaignInput<'_>,
) -> Result<campaign::Model> {
    let existing = campaign::Entity::find()
        .filter(campaign::Column::WorkspaceId.eq(input.workspace_id))
        .filter(campaign::Column::Name.eq(input.name))
        .one(conn)
        .await?;
    let model = match existing {
        Some(row) => {
            let revived = row.deleted_at.is_some();
            let mut active: campaign::ActiveModel = row.into();
            if revived {
                active.deleted_at = Set(None);
                active.enabled = Set(1);
                active.schedule_checked_at = Set(now_ms);
            }
            active.source = Set(input.source.to_string());
            active.source_file = Set(input.source_file.map(str::to_string));
            active.spec = Set(input.spec.to_string());
            active.updated_at = Set(now_ms);
            campaign::Entity::update(active).exec(conn).await?
        }
        None => {
            let id = CampaignId::new();
            campaign::Entity::insert(campaign::ActiveModel {
                id: Set(id.clone()),
                workspace_id: Set(input.workspace_id.into()),
                name: Set(input.name.to_string()),
                source: Set(input.source.to_string()),
                source_file: Set(input.source_file.map(str::to_string)),
                spec: Set(input.spec.to_string()),
                enabled: Set(1),
                schedule_checked_at: Set(now_ms),
                created_at: Set(now_ms),
                updated_at: Set(now_ms),
                deleted_at: Set(None),
            })
            .exec(conn)
            .await?;
            campaign::Entity::find_by_id(id.clone())
                .one(conn)
                .await?
                .ok_or_else(|| StoreError::not_found("campaign", id))?
        }
    };
    Ok(model)
}

/// A campaign, deleted or not: the pipeline still finishes (or refuses) work of a deleted one.
pub async fn get(
    store: &Store,
    workspace_id: &WorkspaceId,
    id: &CampaignId,
) -> Result<campaign::Model> {
    campaign::Entity::find_by_id(id.to_string())
        .filter(campaign::Column::WorkspaceId.eq(workspace_id))
        .one(store.conn())
        .await?
        .ok_or_else(|| StoreError::not_found("campaign", id))
}

/// A campaign that is not deleted: what the API and CLI act on.
pub async fn get_live(
    store: &Store,
    workspace_id: &WorkspaceId,
    id: &CampaignId,
) -> Result<campaign::Model> {
    campaign::Entity::find_by_id(id.to_string())
        .filter(campaign::Column::WorkspaceId.eq(workspace_id))
        .filter(campaign::Column::DeletedAt.is_null())
        .one(store.conn())
        .await?
        .ok_or_else(|| StoreError::not_found("campaign", id))
}

/// A campaign that is not deleted, by name.
/// A campaign by name, deleted or not (a one-off post's name is never reused).
pub async fn by_name_any(
    store: &Store,
    workspace_id: &WorkspaceId,
    name: &str,
) -> Result<Option<campaign::Model>> {
    Ok(named(workspace_id, name).one(store.conn()).await?)
}

/// The workspace's campaign rows of this name (one at most: the name is unique).
fn named(workspace_id: &WorkspaceId, name: &str) -> sea_orm::Select<campaign::Entity> {
    campaign::Entity::find()
        .filter(campaign::Column::WorkspaceId.eq(workspace_id))
        .filter(campaign::Column::Name.eq(name))
}

pub async fn by_name(
    store: &Store,
    workspace_id: &WorkspaceId,
    name: &str,
) -> Result<Option<campaign::Model>> {
    Ok(named(workspace_id, name)
        .filter(campaign::Column::DeletedAt.is_null())
        .one(store.conn())
        .await?)
}

/// The workspace's campaigns that are not deleted.
pub async fn list(store: &Store, workspace_id: &WorkspaceId) -> Result<Vec<campaign::Model>> {
    Ok(campaign::Entity::find()
        .filter(campaign::Column::WorkspaceId.eq(workspace_id))
        .filter(campaign::Column::DeletedAt.is_null())
        .order_by_asc(campaign::Column::Name)
        .all(store.conn())
        .await?)
}

/// A page of the workspace's campaigns that are not deleted, newest first.
pub async fn page(
    store: &Store,
    workspace_id: &WorkspaceId,
    paging: Paging<'_>,
) -> Result<Vec<campaign::Model>> {
    let q = campaign::Entity::find()
        .filter(campaign::Column::WorkspaceId.eq(workspace_id))
        .filter(campaign::Column::DeletedAt.is_null());
    newest_page(store, q, campaign::Column::Id, paging).await
}

/// Every enabled campaign of every workspace: the scheduler's work list.
pub async fn list_enabled(store: &Store) -> Result<Vec<campaign::Model>> {
    Ok(campaign::Entity::find()
        .filter(campaign::Column::Enabled.eq(1))
        .filter(campaign::Column::DeletedAt.is_null())
        .order_by_asc(campaign::Column::Id)
        .all(store.conn())
        .await?)
}

/// Moves the cursor forward (never back: a lagging instance cannot rewind it).
pub async fn advance_cursor<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    workspace_id: &WorkspaceId,
    id: &CampaignId,
    checked_at: i64,
) -> Result<()> {
    let values: Vec<Value> = vec![checked_at.into(), id.into(), workspace_id.into()];
    conn.execute_raw(store.stmt(
        "UPDATE campaigns SET schedule_checked_at = $1 \
         WHERE id = $2 AND workspace_id = $3 AND schedule_checked_at < $1",
        values,
    ))
    .await?;
    Ok(())
}

/// Pauses or resumes a campaign (not a deleted one).
pub async fn set_enabled(
    store: &Store,
    workspace_id: &WorkspaceId,
    id: &CampaignId,
    enabled: bool,
) -> Result<()> {
    let values: Vec<Value> = vec![i32::from(enabled).into(), id.into(), workspace_id.into()];
    let res = store
        .conn()
        .execute_raw(store.stmt(
            "UPDATE campaigns SET enabled = $1 \
             WHERE id = $2 AND workspace_id = $3 AND deleted_at IS NULL",
            values,
        ))
        .await?;
    if res.rows_affected() == 0 {
        return Err(StoreError::not_found("campaign", id));
    }
    Ok(())
}
