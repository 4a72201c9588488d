//! Inbound webhooks: an endpoint that fires one campaign, its signing secrets (several during
//! rotation) and payload adapter, and the delivery ids already accepted.

use pressroom_core::{CampaignId, WorkspaceId, new_id};
use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use crate::sealed::{self, SecretAt, SecretSealer};
use crate::{Result, Store, StoreError};

#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct HookRow {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub campaign_id: CampaignId,
    /// The JSON array of `whsec_…` secrets, sealed (see [`HookRow::secrets`]).
    pub secrets: String,
    /// "ghost", "wordpress", "strapi" or "generic".
    pub adapter: String,
    /// JSON object: run variable → JSON pointer into the payload (generic adapter).
    pub mapping: String,
    pub created_at: i64,
}

impl HookRow {
    /// The secrets, opened and decoded.
    pub fn secrets(&self, sealer: &dyn SecretSealer) -> Result<Vec<String>> {
        let json = sealed::open(sealer, &self.secrets, at(&self.workspace_id, &self.id))?;
        serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("hook {} secrets: {e}", self.id)))
    }

    /// The mapping, decoded.
    pub fn mapping(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        serde_json::from_str(&self.mapping)
            .map_err(|e| StoreError::Corrupt(format!("hook {} mapping: {e}", self.id)))
    }
}

#[derive(Clone, Debug)]
pub struct NewHook<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub campaign_id: &'a CampaignId,
    pub secrets: &'a [String],
    pub adapter: &'a str,
    pub mapping: &'a serde_json::Value,
}

const COLUMNS: &str = "id, workspace_id, campaign_id, secrets, adapter, mapping, created_at";

fn at<'a>(workspace_id: &'a str, id: &'a str) -> SecretAt<'a> {
    SecretAt {
        workspace_id,
        column: "hooks.secrets",
        row_id: id,
    }
}

/// The secrets as stored: the JSON array sealed for this row.
fn seal_secrets(
    sealer: &dyn SecretSealer,
    workspace_id: &WorkspaceId,
    id: &str,
    secrets: &[String],
) -> Result<String> {
    let json = serde_json::to_string(secrets)
        .map_err(|e| StoreError::Corrupt(format!("hook secrets: {e}")))?;
    sealed::seal(sealer, &json, at(workspace_id, id))
}

pub async fn insert<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    new: NewHook<'_>,
    sealer: &dyn SecretSealer,
) -> Result<HookRow> {
    let id = new_id();
    let secrets = seal_secrets(sealer, new.workspace_id, &id, new.secrets)?;
    let values: Vec<Value> = vec![
        id.clone().into(),
        new.workspace_id.into(),
        new.campaign_id.into(),
        secrets.into(),
        new.adapter.into(),
        new.mapping.to_string().into(),
        now_ms.into(),
    ];
    conn.execute_raw(store.stmt(
        "INSERT INTO hooks (id, workspace_id, campaign_id, secrets, adapter, mapping, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        values,
    ))
    .await?;
    // Read back on `conn`: inside a transaction the new row is not visible elsewhere yet.
    let sql = format!("SELECT {COLUMNS} FROM hooks WHERE id = $1");
    let row = conn
        .query_one_raw(store.stmt(&sql, vec![id.clone().into()]))
        .await?
        .ok_or_else(|| StoreError::not_found("hook", id))?;
    Ok(HookRow::from_query_result(&row, "")?)
}

/// A hook of this workspace.
pub async fn get(store: &Store, workspace_id: &WorkspaceId, id: &str) -> Result<HookRow> {
    let sql = format!("SELECT {COLUMNS} FROM hooks WHERE id = $1 AND workspace_id = $2");
    let row = store
        .conn()
        .query_one_raw(store.stmt(&sql, vec![id.into(), workspace_id.into()]))
        .await?
        .ok_or_else(|| StoreError::not_found("hook", id))?;
    Ok(HookRow::from_query_result(&row, "")?)
}

/// A hook by id alone: an inbound delivery carries no API key, so the hook id in the URL is
/// what names the workspace — and the signature check is what authenticates it.
pub async fn get_for_delivery(store: &Store, id: &str) -> Result<Option<HookRow>> {
    let sql = format!("SELECT {COLUMNS} FROM hooks WHERE id = $1");
    let row = store
        .conn()
        .query_one_raw(store.stmt(&sql, vec![id.into()]))
        .await?;
    row.map(|r| HookRow::from_query_result(&r, "").map_err(StoreError::from))
        .transpose()
}

/// Replaces a hook's signing secrets (newest first), for rotation. Scoped by workspace: a
/// hook of another workspace is not found.
pub async fn set_secrets<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    workspace_id: &WorkspaceId,
    id: &str,
    secrets: &[String],
    sealer: &dyn SecretSealer,
) -> Result<()> {
    let encoded = seal_secrets(sealer, workspace_id, id, secrets)?;
    let done = conn
        .execute_raw(store.stmt(
            "UPDATE hooks SET secrets = $1 WHERE id = $2 AND workspace_id = $3",
            vec![encoded.into(), id.into(), workspace_id.into()],
        ))
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("hook", id));
    }
    Ok(())
}

/// A workspace's hooks, newest first, after `before_id` when paging.
pub async fn list(
    store: &Store,
    workspace_id: &WorkspaceId,
    before_id: Option<&str>,
    limit: u64,
) -> Result<Vec<HookRow>> {
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
        "SELECT {COLUMNS} FROM hooks WHERE workspace_id = $1{page} ORDER BY id DESC LIMIT ${}",
        values.len()
    );
    let rows = store.conn().query_all_raw(store.stmt(&sql, values)).await?;
    rows.iter()
        .map(|r| HookRow::from_query_result(r, "").map_err(StoreError::from))
        .collect()
}

/// Records a delivery id. Returns false when it was seen before (a replay or a retry of a
/// delivery already accepted).
pub async fn record_delivery<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    hook_id: &str,
    delivery_id: &str,
) -> Result<bool> {
    let res = conn
        .execute_raw(store.stmt(
            "INSERT INTO hook_deliveries (hook_id, delivery_id, received_at) VALUES ($1, $2, $3) \
             ON CONFLICT (hook_id, delivery_id) DO NOTHING",
            vec![hook_id.into(), delivery_id.into(), now_ms.into()],
        ))
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Forgets a delivery id (the run could not be created, so a retry must be able to succeed).
pub async fn forget_delivery(store: &Store, hook_id: &str, delivery_id: &str) -> Result<()> {
    store
        .conn()
        .execute_raw(store.stmt(
            "DELETE FROM hook_deliveries WHERE hook_id = $1 AND delivery_id = $2",
            vec![hook_id.into(), delivery_id.into()],
        ))
        .await?;
    Ok(())
}

/// Deliveries recorded for a hook (tests and operators).
pub async fn delivery_count(store: &Store, hook_id: &str) -> Result<i64> {
    let row = store
        .conn()
        .query_one_raw(store.stmt(
            "SELECT COUNT(*) AS n FROM hook_deliveries WHERE hook_id = $1",
            vec![hook_id.into()],
        ))
        .await?
        .ok_or_else(|| StoreError::Corrupt("count returned no row".into()))?;
    Ok(row.try_get("", "n")?)
}

/// Seals the secrets of hooks stored before sealing existed (run at start-up); each row is
/// rewritten only if it still holds the plaintext read. Returns how many were sealed.
pub async fn seal_plaintext(store: &Store, sealer: &dyn SecretSealer) -> Result<usize> {
    let rows = store
        .conn()
        .query_all_raw(store.stmt(
            &format!("SELECT {COLUMNS} FROM hooks WHERE secrets LIKE '[%'"),
            vec![],
        ))
        .await?;
    let mut sealed_rows = 0;
    for row in rows {
        let hook = HookRow::from_query_result(&row, "")?;
        if !sealed::is_plaintext(&hook.secrets) {
            continue;
        }
        let new = sealed::seal(sealer, &hook.secrets, at(&hook.workspace_id, &hook.id))?;
        let done = store
            .conn()
            .execute_raw(store.stmt(
                "UPDATE hooks SET secrets = $1 WHERE id = $2 AND secrets = $3",
                vec![new.into(), hook.id.into(), hook.secrets.into()],
            ))
            .await?;
        sealed_rows += done.rows_affected() as usize;
    }
    Ok(sealed_rows)
}

/// Re-seals the secrets of every hook that `stale` names (`keyring rotate`: sealed under a
/// key that is no longer active) or that are still in the clear. Each row is rewritten only if
/// it still holds the value read (compare-and-swap), so secrets changed meanwhile are left to
/// the next pass. Returns how many rows were re-sealed.
pub async fn reseal(
    store: &Store,
    sealer: &dyn SecretSealer,
    stale: &(dyn Fn(&str) -> bool + Sync),
) -> Result<usize> {
    let rows = store
        .conn()
        .query_all_raw(store.stmt(&format!("SELECT {COLUMNS} FROM hooks"), vec![]))
        .await?;
    let mut resealed = 0;
    for row in rows {
        let hook = HookRow::from_query_result(&row, "")?;
        if !(sealed::is_plaintext(&hook.secrets) || stale(&hook.secrets)) {
            continue;
        }
        let at = at(&hook.workspace_id, &hook.id);
        let plain = sealed::open(sealer, &hook.secrets, at)?;
        let new = sealed::seal(sealer, &plain, at)?;
        let done = store
            .conn()
            .execute_raw(store.stmt(
                "UPDATE hooks SET secrets = $1 WHERE id = $2 AND secrets = $3",
                vec![new.into(), hook.id.into(), hook.secrets.into()],
            ))
            .await?;
        resealed += done.rows_affected() as usize;
    }
    Ok(resealed)
}
