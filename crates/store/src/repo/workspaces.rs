//! Workspaces: the tenant boundary (an agency has one per client).

use pressroom_core::WorkspaceId;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::page::{Paging, newest_page};
use crate::schema::workspace;
use crate::{Result, Store};

/// Returns the workspace with this slug, creating it on first use.
pub async fn ensure(store: &Store, slug: &str, name: &str) -> Result<workspace::Model> {
    if let Some(ws) = by_slug(store, slug).await? {
        return Ok(ws);
    }
    let now = store.now_ms().await?;
    let model = workspace::ActiveModel {
        id: Set(WorkspaceId::new()),
        slug: Set(slug.to_string()),
        name: Set(name.to_string()),
        created_at: Set(now),
    };
    // A concurrent creator may win the UNIQUE(slug) race; then read theirs.
    match workspace::Entity::insert(model).exec(store.conn()).await {
        Ok(_) => {}
        Err(e) => {
            if by_slug(store, slug).await?.is_none() {
                return Err(e.into());
            }
        }
    }
    by_slug(store, slug)
        .await?
        .ok_or_else(|| crate::StoreError::not_found("workspace", slug))
}

pub async fn by_slug(store: &Store, slug: &str) -> Result<Option<workspace::Model>> {
    Ok(workspace::Entity::find()
        .filter(workspace::Column::Slug.eq(slug))
        .one(store.conn())
        .await?)
}

pub async fn list(store: &Store) -> Result<Vec<workspace::Model>> {
    Ok(workspace::Entity::find()
        .order_by_asc(workspace::Column::Slug)
        .all(store.conn())
        .await?)
}

/// The workspace itself, by id.
pub async fn get(store: &Store, workspace_id: &WorkspaceId) -> Result<Option<workspace::Model>> {
    Ok(workspace::Entity::find_by_id(workspace_id.to_string())
        .one(store.conn())
        .await?)
}

/// A page of every workspace, newest first (the admin listing).
pub async fn page(store: &Store, paging: Paging<'_>) -> Result<Vec<workspace::Model>> {
    newest_page(
        store,
        workspace::Entity::find(),
        workspace::Column::Id,
        paging,
    )
    .await
}
