//! The audit log: who did what to which object, written in the same transaction as the change.

use pressroom_core::{WorkspaceId, new_id};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::page::{Paging, newest_page};
use crate::schema::audit;
use crate::{Result, Store};

/// Records one action.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    actor: &str,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<()> {
    audit::Entity::insert(audit::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(workspace_id.into()),
        actor: Set(actor.to_string()),
        action: Set(action.to_string()),
        subject: Set(subject.to_string()),
        detail: Set(detail.to_string()),
        created_at: Set(now_ms),
    })
    .exec(conn)
    .await?;
    Ok(())
}

/// Newest entries of a workspace.
pub async fn list(
    store: &Store,
    workspace_id: &WorkspaceId,
    limit: u64,
) -> Result<Vec<audit::Model>> {
    Ok(audit::Entity::find()
        .filter(audit::Column::WorkspaceId.eq(workspace_id))
        .order_by_desc(audit::Column::Id)
        .limit(limit)
        .all(store.conn())
        .await?)
}

/// A page of a workspace's entries, newest first.
pub async fn page(
    store: &Store,
    workspace_id: &WorkspaceId,
    paging: Paging<'_>,
) -> Result<Vec<audit::Model>> {
    let q = audit::Entity::find().filter(audit::Column::WorkspaceId.eq(workspace_id));
    newest_page(store, q, audit::Column::Id, paging).await
}
