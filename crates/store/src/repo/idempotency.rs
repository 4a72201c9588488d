//! `Idempotency-Key` records (RELIABILITY.md B.8): the first request with a key claims it by
//! inserting an `in_flight` row; it then saves its response, which every retry with the same
//! request receives. Records belong to the API key that sent the request (primary key
//! `(api_key_id, key)`, which makes the claim atomic on both engines): another key of the same
//! workspace never sees them. A record older than the retention is not honoured (a claim
//! replaces it) and [`purge`] deletes it.

use pressroom_core::WorkspaceId;
use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use crate::{Result, Store, StoreError};

/// States of a record.
pub mod status {
    pub const IN_FLIGHT: &str = "in_flight";
    pub const DONE: &str = "done";
}

#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct IdempotencyRow {
    pub api_key_id: String,
    pub key: String,
    /// The key's workspace (`instance` for an instance-admin key), for the GDPR erase.
    pub workspace_id: String,
    pub request_hash: String,
    pub status: String,
    pub response_status: Option<i32>,
    /// None while in flight, and for a response that carried a secret (never stored).
    pub response_body: Option<String>,
    pub locked_at: i64,
    pub created_at: i64,
}

/// Who sent the request a record is for.
#[derive(Clone, Copy, Debug)]
pub struct Owner<'a> {
    pub api_key_id: &'a str,
    /// The key's workspace, or `instance`.
    pub workspace_id: &'a WorkspaceId,
}

/// What `claim` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This call owns the key now: run the request, then `finish` or `release`.
    Claimed,
    /// Someone used the key before (and the record is not expired).
    Existing(IdempotencyRow),
}

/// Times a claim is judged by, in epoch milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct ClaimClock {
    pub now_ms: i64,
    /// An in-flight claim older than this (its owner crashed) may be taken over.
    pub stale_ms: i64,
    /// A record created longer ago than this is expired: not honoured, replaced.
    pub retention_ms: i64,
}

/// Claims `key` of this API key for a request whose hash is `request_hash`. An expired record
/// is replaced; a stale `in_flight` claim of the same request is taken over, so a key cannot
/// stay blocked forever.
pub async fn claim(
    store: &Store,
    owner: Owner<'_>,
    key: &str,
    request_hash: &str,
    clock: ClaimClock,
) -> Result<Claim> {
    let conn = store.conn();
    conn.execute_raw(store.stmt(
        "DELETE FROM idempotency_keys WHERE api_key_id = $1 AND key = $2 AND created_at < $3",
        vec![
            owner.api_key_id.into(),
            key.into(),
            (clock.now_ms - clock.retention_ms).into(),
        ],
    ))
    .await?;
    let values: Vec<Value> = vec![
        owner.api_key_id.into(),
        key.into(),
        owner.workspace_id.into(),
        request_hash.into(),
        status::IN_FLIGHT.into(),
        clock.now_ms.into(),
    ];
    let res = conn
        .execute_raw(store.stmt(
            "INSERT INTO idempotency_keys (api_key_id, key, workspace_id, request_hash, status, \
             locked_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (api_key_id, key) DO NOTHING",
            values,
        ))
        .await?;
    if res.rows_affected() == 1 {
        return Ok(Claim::Claimed);
    }
    // Take over a stale in-flight claim of the same request (compare-and-set on locked_at).
    let values: Vec<Value> = vec![
        clock.now_ms.into(),
        owner.api_key_id.into(),
        key.into(),
        request_hash.into(),
        status::IN_FLIGHT.into(),
        (clock.now_ms - clock.stale_ms).into(),
    ];
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE idempotency_keys SET locked_at = $1 WHERE api_key_id = $2 AND key = $3 \
             AND request_hash = $4 AND status = $5 AND locked_at < $6",
            values,
        ))
        .await?;
    if res.rows_affected() == 1 {
        return Ok(Claim::Claimed);
    }
    let row = conn
        .query_one_raw(store.stmt(
            "SELECT api_key_id, key, workspace_id, request_hash, status, response_status, \
             response_body, locked_at, created_at FROM idempotency_keys \
             WHERE api_key_id = $1 AND key = $2",
            vec![owner.api_key_id.into(), key.into()],
        ))
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("idempotency key {key} vanished")))?;
    Ok(Claim::Existing(IdempotencyRow::from_query_result(
        &row, "",
    )?))
}

/// Saves the response of a claimed key. `response_body` is None when the response carried a
/// secret: only the status is kept, and a replay is refused rather than answered.
pub async fn finish(
    store: &Store,
    api_key_id: &str,
    key: &str,
    response_status: u16,
    response_body: Option<&str>,
) -> Result<()> {
    let values: Vec<Value> = vec![
        status::DONE.into(),
        i32::from(response_status).into(),
        response_body.into(),
        api_key_id.into(),
        key.into(),
    ];
    store
        .conn()
        .execute_raw(store.stmt(
            "UPDATE idempotency_keys SET status = $1, response_status = $2, response_body = $3 \
             WHERE api_key_id = $4 AND key = $5",
            values,
        ))
        .await?;
    Ok(())
}

/// Gives a claimed key back (the request failed in a way a retry may fix).
pub async fn release(store: &Store, api_key_id: &str, key: &str) -> Result<()> {
    store
        .conn()
        .execute_raw(store.stmt(
            "DELETE FROM idempotency_keys WHERE api_key_id = $1 AND key = $2 AND status = $3",
            vec![api_key_id.into(), key.into(), status::IN_FLIGHT.into()],
        ))
        .await?;
    Ok(())
}

/// Deletes every record created before `before_ms` (past its retention); returns how many.
pub async fn purge(store: &Store, before_ms: i64) -> Result<u64> {
    let res = store
        .conn()
        .execute_raw(store.stmt(
            "DELETE FROM idempotency_keys WHERE created_at < $1",
            vec![before_ms.into()],
        ))
        .await?;
    Ok(res.rows_affected())
}
