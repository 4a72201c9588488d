//! Outbound webhook endpoints: where a workspace wants its post events delivered, the
//! Standard Webhooks secret deliveries are signed with, and which events it wants.

use pressroom_core::{PostEvent, WorkspaceId, new_id};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Value,
};

use crate::schema::webhook_endpoint::{self, Model};
use crate::sealed::{self, SecretAt, SecretSealer};
use crate::{Result, Store, StoreError};

fn at<'a>(workspace_id: &'a str, id: &'a str) -> SecretAt<'a> {
    SecretAt {
        workspace_id,
        column: "webhook_endpoints.secret",
        row_id: id,
    }
}

impl Model {
    /// The subscribed events. Names this build does not know are skipped, so a row written
    /// by a newer version still delivers what this one understands.
    pub fn event_types(&self) -> Result<Vec<PostEvent>> {
        let names: Vec<String> = serde_json::from_str(&self.events).map_err(|e| {
            StoreError::Corrupt(format!("webhook endpoint {} events: {e}", self.id))
        })?;
        Ok(names.iter().filter_map(|n| PostEvent::parse(n)).collect())
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled != 0
    }

    /// The `whsec_…` secret, opened (the column holds it sealed).
    pub fn signing_secret(&self, sealer: &dyn SecretSealer) -> Result<String> {
        sealed::open(sealer, &self.secret, at(&self.workspace_id, &self.id))
    }
}

#[derive(Clone, Debug)]
pub struct NewEndpoint<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub url: &'a str,
    /// `whsec_…`.
    pub secret: &'a str,
    pub events: &'a [PostEvent],
    pub description: &'a str,
}

pub async fn insert<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    new: NewEndpoint<'_>,
    sealer: &dyn SecretSealer,
) -> Result<Model> {
    let id = new_id();
    let secret = sealed::seal(sealer, new.secret, at(new.workspace_id, &id))?;
    let events: Vec<&str> = new.events.iter().map(|e| e.as_str()).collect();
    let events = serde_json::to_string(&events)
        .map_err(|e| StoreError::Corrupt(format!("webhook endpoint events: {e}")))?;
    let values: Vec<Value> = vec![
        id.clone().into(),
        new.workspace_id.into(),
        new.url.into(),
        secret.into(),
        events.into(),
        new.description.into(),
        now_ms.into(),
    ];
    conn.execute_raw(store.stmt(
        "INSERT INTO webhook_endpoints (id, workspace_id, url, secret, events, description, \
         enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)",
        values,
    ))
    .await?;
    // Read back on `conn`: inside a transaction the new row is not visible elsewhere yet.
    get(conn, new.workspace_id, &id).await
}

/// An endpoint of this workspace.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<Model> {
    webhook_endpoint::Entity::find_by_id(id.to_string())
        .filter(webhook_endpoint::Column::WorkspaceId.eq(workspace_id))
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("webhook endpoint", id))
}

/// A workspace's endpoints, newest first, after `before_id` when paging.
pub async fn list(
    store: &Store,
    workspace_id: &WorkspaceId,
    before_id: Option<&str>,
    limit: u64,
) -> Result<Vec<Model>> {
    let mut q = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::WorkspaceId.eq(workspace_id));
    if let Some(before) = before_id {
        q = q.filter(webhook_endpoint::Column::Id.lt(before));
    }
    Ok(q.order_by_desc(webhook_endpoint::Column::Id)
        .limit(limit)
        .all(store.conn())
        .await?)
}

/// Deletes an endpoint of this workspace. Deliveries still queued for it find it gone and
/// end without sending.
pub async fn delete<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<()> {
    let res = conn
        .execute_raw(store.stmt(
            "DELETE FROM webhook_endpoints WHERE id = $1 AND workspace_id = $2",
            vec![id.into(), workspace_id.into()],
        ))
        .await?;
    if res.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::not_found("webhook endpoint", id))
    }
}

/// Enabled endpoints of this workspace subscribed to `event`.
pub async fn subscribed<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    event: PostEvent,
) -> Result<Vec<Model>> {
    let enabled = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::WorkspaceId.eq(workspace_id))
        .filter(webhook_endpoint::Column::Enabled.ne(0))
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(conn)
        .await?;
    let mut out = Vec::with_capacity(enabled.len());
    for endpoint in enabled {
        if endpoint.event_types()?.contains(&event) {
            out.push(endpoint);
        }
    }
    Ok(out)
}

/// Stops deliveries to an endpoint (its receiver answered 410 Gone). Returns whether it was
/// enabled before.
pub async fn disable<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    id: &str,
    reason: &str,
) -> Result<bool> {
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $1, updated_at = $2 \
             WHERE id = $3 AND workspace_id = $4 AND enabled <> 0",
            vec![reason.into(), now_ms.into(), id.into(), workspace_id.into()],
        ))
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Seals the secrets of endpoints stored before sealing existed (run at start-up); each row is
/// rewritten only if it still holds the plaintext read. Returns how many were sealed.
pub async fn seal_plaintext(store: &Store, sealer: &dyn SecretSealer) -> Result<usize> {
    let rows = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Secret.starts_with("whsec_"))
        .all(store.conn())
        .await?;
    let mut sealed_rows = 0;
    for row in rows {
        let new = sealed::seal(sealer, &row.secret, at(&row.workspace_id, &row.id))?;
        let done = store
            .conn()
            .execute_raw(store.stmt(
                "UPDATE webhook_endpoints SET secret = $1 WHERE id = $2 AND secret = $3",
                vec![new.into(), row.id.into(), row.secret.into()],
            ))
            .await?;
        sealed_rows += done.rows_affected() as usize;
    }
    Ok(sealed_rows)
}

/// Re-seals every endpoint secret that `stale` names (`keyring rotate`: sealed under a key
/// that is no longer active) or that is still in the clear. Each row is rewritten only if it
/// still holds the value read (compare-and-swap), so a secret changed meanwhile is left to the
/// next pass. Returns how many rows were re-sealed.
pub async fn reseal(
    store: &Store,
    sealer: &dyn SecretSealer,
    stale: &(dyn Fn(&str) -> bool + Sync),
) -> Result<usize> {
    let rows = webhook_endpoint::Entity::find().all(store.conn()).await?;
    let mut resealed = 0;
    for row in rows {
        if !(sealed::is_plaintext(&row.secret) || stale(&row.secret)) {
            continue;
        }
        let at = at(&row.workspace_id, &row.id);
        let plain = sealed::open(sealer, &row.secret, at)?;
        let new = sealed::seal(sealer, &plain, at)?;
        let done = store
            .conn()
            .execute_raw(store.stmt(
                "UPDATE webhook_endpoints SET secret = $1 WHERE id = $2 AND secret = $3",
                vec![new.into(), row.id.into(), row.secret.into()],
            ))
            .await?;
        resealed += done.rows_affected() as usize;
    }
    Ok(resealed)
}
