//! Reviews: the approval gate of one run (its candidates, its state, the decision and who
//! made it) and the review links that let a client without an account decide. Decisions are
//! compare-and-set from `pending`, so two reviewers (or a reviewer and the expiry job) cannot
//! both decide. Only the SHA-256 of a link token is stored.

use pressroom_core::{AssetId, CampaignId, ReviewId, ReviewState, RunId, WorkspaceId, new_id};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, Value};

use crate::page::{Paging, newest_page};
use crate::schema::review;
use crate::{Result, Store, StoreError};

/// A review to open when a run that needs approval is generated.
#[derive(Clone, Debug)]
pub struct NewReview<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub run_id: &'a RunId,
    pub campaign_id: &'a CampaignId,
    pub deadline_at: i64,
}

/// Opens the run's review once (a replayed generate job finds the first) and returns it.
pub async fn open<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    new: NewReview<'_>,
) -> Result<review::Model> {
    let values: Vec<Value> = vec![
        ReviewId::from(new_id()).into(),
        new.workspace_id.into(),
        new.run_id.into(),
        new.campaign_id.into(),
        ReviewState::Pending.as_str().into(),
        new.deadline_at.into(),
        now_ms.into(),
    ];
    conn.execute_raw(store.stmt(
        "INSERT INTO reviews (id, workspace_id, run_id, campaign_id, state, round, candidates, \
         deadline_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, '[]', $6, $7, $7) \
         ON CONFLICT (run_id) DO NOTHING",
        values,
    ))
    .await?;
    by_run(conn, new.workspace_id, new.run_id)
        .await?
        .ok_or_else(|| StoreError::not_found("review", new.run_id))
}

pub async fn get<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    id: &ReviewId,
) -> Result<review::Model> {
    review::Entity::find_by_id(id.clone())
        .filter(review::Column::WorkspaceId.eq(workspace_id))
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("review", id))
}

/// The review of a run, if the run needs one.
pub async fn by_run<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    run_id: &RunId,
) -> Result<Option<review::Model>> {
    Ok(review::Entity::find()
        .filter(review::Column::WorkspaceId.eq(workspace_id))
        .filter(review::Column::RunId.eq(run_id))
        .one(conn)
        .await?)
}

/// The reviews of several runs of a workspace (the calendar's).
pub async fn of_runs<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    run_ids: &[RunId],
) -> Result<Vec<review::Model>> {
    let mut out = Vec::new();
    for chunk in run_ids.chunks(500) {
        out.extend(
            review::Entity::find()
                .filter(review::Column::WorkspaceId.eq(workspace_id))
                .filter(review::Column::RunId.is_in(chunk.iter().cloned()))
                .all(conn)
                .await?,
        );
    }
    Ok(out)
}

/// A page of a workspace's reviews, newest first, optionally in one state.
pub async fn page(
    store: &Store,
    workspace_id: &WorkspaceId,
    state: Option<ReviewState>,
    paging: Paging<'_>,
) -> Result<Vec<review::Model>> {
    let mut q = review::Entity::find().filter(review::Column::WorkspaceId.eq(workspace_id));
    if let Some(s) = state {
        q = q.filter(review::Column::State.eq(s));
    }
    newest_page(store, q, review::Column::Id, paging).await
}

/// The candidates of a review, decoded (asset ids in candidate order).
pub fn candidates(row: &review::Model) -> Result<Vec<AssetId>> {
    serde_json::from_str(&row.candidates)
        .map_err(|e| StoreError::Corrupt(format!("review {} candidates: {e}", row.id)))
}

/// An image of a round that the model's safety checker flagged: it was not kept, so it is not
/// among the candidates; the reviewer is told which one and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReviewFlag {
    /// Its place among the images the round asked for (0-based).
    pub candidate: u32,
    pub seed: u64,
    /// The checker's words (the concepts it matched).
    pub reason: String,
}

/// What the safety checker flagged in the review's current round, decoded.
pub fn flags(row: &review::Model) -> Result<Vec<ReviewFlag>> {
    match row.flagged.as_deref() {
        None => Ok(Vec::new()),
        Some(json) => serde_json::from_str(json)
            .map_err(|e| StoreError::Corrupt(format!("review {} flagged: {e}", row.id))),
    }
}

/// Whether the current round's images are made: some candidates, or a round whose every
/// image was flagged. False while (re)generating.
pub fn round_ready(row: &review::Model) -> Result<bool> {
    Ok(!candidates(row)?.is_empty() || !flags(row)?.is_empty())
}

/// Records the candidates generated for `round` and what the safety checker flagged in it; a
/// no-op when the review has moved on (decided, or a newer round asked for). Returns whether
/// they were stored.
#[allow(clippy::too_many_arguments)]
pub async fn set_candidates<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    id: &ReviewId,
    round: i32,
    assets: &[AssetId],
    flagged: &[ReviewFlag],
) -> Result<bool> {
    let list = serde_json::to_string(assets)
        .map_err(|e| StoreError::Corrupt(format!("review {id} candidates: {e}")))?;
    let flagged = if flagged.is_empty() {
        None
    } else {
        Some(
            serde_json::to_string(flagged)
                .map_err(|e| StoreError::Corrupt(format!("review {id} flagged: {e}")))?,
        )
    };
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE reviews SET candidates = $1, flagged = $2, updated_at = $3 \
             WHERE id = $4 AND workspace_id = $5 AND round = $6 AND state = $7",
            vec![
                list.into(),
                flagged.into(),
                now_ms.into(),
                id.into(),
                workspace_id.into(),
                round.into(),
                ReviewState::Pending.as_str().into(),
            ],
        ))
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Starts a new round of candidates (reject and regenerate): the review stays pending with no
/// candidates until the new ones are generated. Returns the new round, or None when the review
/// was no longer pending.
pub async fn next_round<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    id: &ReviewId,
    from_round: i32,
) -> Result<Option<i32>> {
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE reviews SET round = round + 1, candidates = '[]', flagged = NULL, updated_at = $1 \
             WHERE id = $2 AND workspace_id = $3 AND round = $4 AND state = $5",
            vec![
                now_ms.into(),
                id.into(),
                workspace_id.into(),
                from_round.into(),
                ReviewState::Pending.as_str().into(),
            ],
        ))
        .await?;
    Ok((res.rows_affected() == 1).then_some(from_round + 1))
}

/// Decides a pending review (approved, rejected or expired) with its decision and who made
/// it, about the candidates of `round`. Returns false when it was already decided or new
/// candidates replaced that round: the first decision stands.
#[allow(clippy::too_many_arguments)]
pub async fn decide<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    id: &ReviewId,
    round: i32,
    to: ReviewState,
    decision: &serde_json::Value,
    decided_by: &str,
) -> Result<bool> {
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE reviews SET state = $1, decision = $2, decided_by = $3, decided_at = $4, \
             updated_at = $4 WHERE id = $5 AND workspace_id = $6 AND state = $7 AND round = $8",
            vec![
                to.as_str().into(),
                decision.to_string().into(),
                decided_by.into(),
                now_ms.into(),
                id.into(),
                workspace_id.into(),
                ReviewState::Pending.as_str().into(),
                round.into(),
            ],
        ))
        .await?;
    Ok(res.rows_affected() == 1)
}

/// One review link (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct LinkRow {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub review_id: ReviewId,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

const LINK_COLUMNS: &str =
    "id, workspace_id, review_id, created_by, created_at, expires_at, revoked_at";

/// A link to create; `token_hash` is `pressroom_crypto::password::token_hash` of the token.
#[derive(Clone, Debug)]
pub struct NewLink<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub review_id: &'a ReviewId,
    pub token_hash: &'a str,
    pub created_by: &'a str,
    pub expires_at: i64,
}

/// Stores a review link and returns its id.
pub async fn insert_link<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    new: NewLink<'_>,
) -> Result<String> {
    let id = new_id();
    conn.execute_raw(store.stmt(
        "INSERT INTO review_links (id, workspace_id, review_id, token_hash, created_by, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            id.clone().into(),
            new.workspace_id.into(),
            new.review_id.into(),
            new.token_hash.into(),
            new.created_by.into(),
            now_ms.into(),
            new.expires_at.into(),
        ],
    ))
    .await?;
    Ok(id)
}

/// The link a token's hash names, whatever its state (the caller checks expiry and
/// revocation, to say which one applies).
pub async fn link_by_hash<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    token_hash: &str,
) -> Result<Option<LinkRow>> {
    let sql = format!("SELECT {LINK_COLUMNS} FROM review_links WHERE token_hash = $1");
    let row = conn
        .query_one_raw(store.stmt(&sql, vec![token_hash.into()]))
        .await?;
    row.map(|r| LinkRow::from_query_result(&r, "").map_err(StoreError::from))
        .transpose()
}

/// The links of a review, oldest first.
pub async fn links<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    workspace_id: &WorkspaceId,
    review_id: &ReviewId,
) -> Result<Vec<LinkRow>> {
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM review_links WHERE workspace_id = $1 AND review_id = $2 \
         ORDER BY id"
    );
    let rows = conn
        .query_all_raw(store.stmt(&sql, vec![workspace_id.into(), review_id.into()]))
        .await?;
    rows.iter()
        .map(|r| LinkRow::from_query_result(r, "").map_err(StoreError::from))
        .collect()
}

/// Revokes a link of the workspace. Returns false when there is no such live link.
pub async fn revoke_link<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    link_id: &str,
) -> Result<bool> {
    let res = conn
        .execute_raw(store.stmt(
            "UPDATE review_links SET revoked_at = $1 \
             WHERE id = $2 AND workspace_id = $3 AND revoked_at IS NULL",
            vec![now_ms.into(), link_id.into(), workspace_id.into()],
        ))
        .await?;
    Ok(res.rows_affected() == 1)
}
