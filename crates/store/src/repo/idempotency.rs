//! `Idempotency-Key` records (RELIABILITY.md B.8): the first request with a key claims it by
//! inserting an `in_flight` row; it then saves its response, which every retry with the same
//! body receives. The primary key (workspace, key) makes the claim atomic on both engines.

use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use crate::{Result, Store, StoreError};

/// States of a record.
pub mod status {
    pub const IN_FLIGHT: &str = "in_flight";
    pub const DONE: &str = "done";
}

#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct IdempotencyRow {
    pub workspace_id: String,
    pub key: String,
    pub request_hash: String,
    pub status: String,
    pub response_status: Option<i32>,
    pub response_body: Option<String>,
    pub locked_at: i64,
    pub created_at: i64,
}

/// What `claim` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This call owns the key now: run the request, then `finish` or `release`.
    Claimed,
    /// Someone used the key before.
    Existing(IdempotencyRow),
}

/// Claims `key` for a request whose hash is `request_hash`. An `in_flight` claim older than
/// `stale_ms` (its owner crashed) is taken over, so a key cannot stay blocked forever.
pub async fn claim(
    store: &Store,
    workspace_id: &str,
    key: &str,
    request_hash: &str,
    now_ms: i64,
    stale_ms: i64,
) -> Result<Claim> {
    let conn = store.conn();
    let values: Vec<Value> = vec![
        workspace_id.into(),
        key.into(),
        request_hash.into(),
        status::IN_FLIGHT.into(),
        now_ms.into(),
    ];
    let res = conn
        .execute_raw(store.stmt(
            "INSERT INTO idempotency_keys (workspace_id, key, request_hash, status, locked_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (workspace_id, key) DO NOTHING",
            values,
        ))
        .await?;
    if res.rows_affected() == 1 {
        return Ok(Claim::Claimed);
    }
    // Take over a stale in-flight claim of the same request (compare-and-set on locked_at).
    let values: Vec<Value> = vec![
        now_ms.into(),
        workspace_id.into(),
        key.into(),
        request_hash.into(),
        status::IN_FLIGHT.into(),
        (now_ms - stale_ms).into(),
    ];
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE idempotency_keys SET locked_at = $1 WHERE workspace_id = $2 AND key = $3 \
             AND request_hash = $4 AND status = $5 AND locked_at < $6",
            values,
        ))
        .await?;
    if res.rows_affected() == 1 {
        return Ok(Claim::Claimed);
    }
    let row = conn
        .query_one_raw(store.stmt(
            "SELECT workspace_id, key, request_hash, status, response_status, response_body, \
             locked_at, created_at FROM idempotency_keys WHERE workspace_id = $1 AND key = $2",
            vec![workspace_id.into(), key.into()],
        ))
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("idempotency key {key} vanished")))?;
    Ok(Claim::Existing(IdempotencyRow::from_query_result(
        &row, "",
    )?))
}

/// Saves the response of a claimed key.
pub async fn finish(
    store: &Store,
    workspace_id: &str,
    key: &str,
    response_status: u16,
    response_body: &str,
) -> Result<()> {
    let values: Vec<Value> = vec![
        status::DONE.into(),
        i32::from(response_status).into(),
        response_body.into(),
        workspace_id.into(),
        key.into(),
    ];
    store
        .conn()
        .execute_raw(store.stmt(
            "UPDATE idempotency_keys SET status = $1, response_status = $2, response_body = $3 \
             WHERE workspace_id = $4 AND key = $5",
            values,
        ))
        .await?;
    Ok(())
}

/// Gives a claimed key back (the request failed in a way a retry may fix).
pub async fn release(store: &Store, workspace_id: &str, key: &str) -> Result<()> {
    store
        .conn()
        .execute_raw(store.stmt(
            "DELETE FROM idempotency_keys WHERE workspace_id = $1 AND key = $2 AND status = $3",
            vec![workspace_id.into(), key.into(), status::IN_FLIGHT.into()],
        ))
        .await?;
    Ok(())
}
