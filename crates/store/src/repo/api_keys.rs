//! API keys: only the SHA-256 of a key is stored, with a short displayable prefix to find it
//! by and to tell keys apart in listings. Instance-admin keys have no workspace.

use pressroom_core::{WorkspaceId, new_id};
use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use crate::{Result, Store, StoreError};

/// One stored key (never the key itself).
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult, serde::Serialize)]
pub struct ApiKeyRow {
    pub id: String,
    pub workspace_id: Option<String>,
    pub role: String,
    pub prefix: String,
    #[serde(skip)]
    pub hash: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What `insert` writes.
#[derive(Clone, Debug)]
pub struct NewApiKey<'a> {
    /// None only for instance-admin keys.
    pub workspace_id: Option<&'a str>,
    pub role: &'a str,
    pub prefix: &'a str,
    pub hash: &'a str,
    pub name: &'a str,
}

const COLUMNS: &str =
    "id, workspace_id, role, prefix, hash, name, created_at, last_used_at, revoked_at";

pub async fn insert<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    new: NewApiKey<'_>,
) -> Result<ApiKeyRow> {
    let id = new_id();
    let values: Vec<Value> = vec![
        id.clone().into(),
        new.workspace_id.into(),
        new.role.into(),
        new.prefix.into(),
        new.hash.into(),
        new.name.into(),
        now_ms.into(),
    ];
    conn.execute_raw(store.stmt(
        "INSERT INTO api_keys (id, workspace_id, role, prefix, hash, name, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        values,
    ))
    .await?;
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
    let row = conn
        .query_one_raw(store.stmt(&sql, vec![id.clone().into()]))
        .await?
        .ok_or_else(|| StoreError::not_found("api key", id))?;
    Ok(ApiKeyRow::from_query_result(&row, "")?)
}

/// Unrevoked keys with this display prefix, across workspaces: authentication does not know
/// the workspace yet — the key decides it. The caller verifies the hash in constant time.
pub async fn active_by_prefix(store: &Store, prefix: &str) -> Result<Vec<ApiKeyRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL LIMIT 8");
    let rows = store
        .conn()
        .query_all_raw(store.stmt(&sql, vec![prefix.into()]))
        .await?;
    rows.iter()
        .map(|r| ApiKeyRow::from_query_result(r, "").map_err(StoreError::from))
        .collect()
}

/// Records use, at most about once a minute per key so reads do not turn into writes.
pub async fn touch(store: &Store, id: &str, now_ms: i64) -> Result<()> {
    let values: Vec<Value> = vec![now_ms.into(), id.into(), (now_ms - 60_000).into()];
    store
        .conn()
        .execute_raw(store.stmt(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 \
             AND (last_used_at IS NULL OR last_used_at < $3)",
            values,
        ))
        .await?;
    Ok(())
}

/// A workspace's keys, newest first, after `before_id` when paging.
pub async fn list(
    store: &Store,
    workspace_id: &WorkspaceId,
    before_id: Option<&str>,
    limit: u64,
) -> Result<Vec<ApiKeyRow>> {
    let mut values: Vec<Value> = vec![workspace_id.into()];
    let page = match before_id {
        Some(c) => {
            values.push(c.into());
            " AND id < $2"
        }
        None => "",
    };
    values.push((limit as i64).into());
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys WHERE workspace_id = $1{page} ORDER BY id DESC LIMIT ${}",
        values.len()
    );
    let rows = store.conn().query_all_raw(store.stmt(&sql, values)).await?;
    rows.iter()
        .map(|r| ApiKeyRow::from_query_result(r, "").map_err(StoreError::from))
        .collect()
}

/// One key of this workspace (revoked or not).
pub async fn get<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<ApiKeyRow> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1 AND workspace_id = $2");
    let row = conn
        .query_one_raw(store.stmt(&sql, vec![id.into(), workspace_id.into()]))
        .await?
        .ok_or_else(|| StoreError::not_found("api key", id))?;
    Ok(ApiKeyRow::from_query_result(&row, "")?)
}

/// Revokes a key of this workspace (idempotent: revoking twice keeps the first time).
pub async fn revoke<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<()> {
    let values: Vec<Value> = vec![now_ms.into(), id.into(), workspace_id.into()];
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE id = $2 AND workspace_id = $3",
            values,
        ))
        .await?;
    if res.rows_affected() == 0 {
        return Err(StoreError::not_found("api key", id));
    }
    Ok(())
}
