//! Post metrics as time series (PLATFORMS.md §9): each fetch of a post is a row, kept when the
//! post is later deleted on the platform (a `gone` row marks it) and erased with the workspace.
//! Reports read the newest measured row of each post published in a period.

use std::collections::HashMap;

use pressroom_core::{
    AccountId, AssetId, CampaignId, Platform, PostId, PostState, WorkspaceId, new_id,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, Value,
};

use crate::schema::{post, post_metric};
use crate::{Result, Store};

/// What one fetch found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Numbers (the `metrics` JSON holds those the platform has).
    Measured,
    /// The platform had nothing to report yet (not zero).
    NotYet,
    /// The post is no longer on the platform.
    Gone,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Measured => "measured",
            Outcome::NotYet => "not_yet",
            Outcome::Gone => "gone",
        }
    }
}

/// One fetch of one post, to record.
#[derive(Clone, Debug)]
pub struct NewFetch<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub post_id: &'a PostId,
    pub platform: Platform,
    pub outcome: Outcome,
    /// JSON object of the normalised metrics (`{}` when nothing was measured).
    pub metrics: serde_json::Value,
    pub raw: Option<serde_json::Value>,
    pub note: Option<&'a str>,
    pub metrics_id: Option<&'a str>,
}

/// Appends one fetch to the post's series.
pub async fn record<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    fetch: NewFetch<'_>,
) -> Result<()> {
    let values: Vec<Value> = vec![
        new_id().into(),
        fetch.workspace_id.into(),
        fetch.post_id.into(),
        fetch.platform.as_str().into(),
        now_ms.into(),
        fetch.outcome.as_str().into(),
        fetch.metrics.to_string().into(),
        fetch.raw.map(|r| r.to_string()).into(),
        fetch.note.into(),
        fetch.metrics_id.into(),
    ];
    conn.execute_raw(store.stmt(
        "INSERT INTO post_metrics (id, workspace_id, post_id, platform, fetched_at, outcome, \
         metrics, raw, note, metrics_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        values,
    ))
    .await?;
    Ok(())
}

/// Every fetch of the post, oldest first.
pub async fn series<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    post_id: &PostId,
) -> Result<Vec<post_metric::Model>> {
    Ok(post_metric::Entity::find()
        .filter(post_metric::Column::WorkspaceId.eq(workspace_id))
        .filter(post_metric::Column::PostId.eq(post_id))
        .order_by_asc(post_metric::Column::FetchedAt)
        .order_by_asc(post_metric::Column::Id)
        .all(conn)
        .await?)
}

/// The id the platform's metrics API knows the post by, as the newest fetch that resolved one
/// recorded it.
pub async fn metrics_id<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    post_id: &PostId,
) -> Result<Option<String>> {
    Ok(post_metric::Entity::find()
        .filter(post_metric::Column::WorkspaceId.eq(workspace_id))
        .filter(post_metric::Column::PostId.eq(post_id))
        .filter(post_metric::Column::MetricsId.is_not_null())
        .order_by_desc(post_metric::Column::FetchedAt)
        .one(conn)
        .await?
        .and_then(|m| m.metrics_id))
}

/// A published post as a report shows it: where it went, what it said, what made its image.
#[derive(Clone, Debug, FromQueryResult)]
pub struct ReportPost {
    pub post_id: PostId,
    pub platform: Platform,
    pub caption: String,
    pub published_at: i64,
    pub url: Option<String>,
    pub account_id: AccountId,
    pub account_name: String,
    pub campaign_id: CampaignId,
    pub campaign_name: String,
    /// The run's rendered prompt (none for a campaign of its own photos).
    pub prompt: Option<String>,
    /// The run's (first) image.
    pub asset_id: Option<AssetId>,
    /// The generation parameters of the run's image (JSON: seed, steps, model...).
    pub asset_params: Option<String>,
    /// Blob key of the rendition the platform received.
    pub rendition_path: String,
}

/// The workspace's posts published in `[from_ms, to_ms)`, oldest first, at most `limit`.
pub async fn published_between<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    workspace_id: &WorkspaceId,
    from_ms: i64,
    to_ms: i64,
    limit: u64,
) -> Result<Vec<ReportPost>> {
    let values: Vec<Value> = vec![
        workspace_id.into(),
        PostState::Published.as_str().into(),
        from_ms.into(),
        to_ms.into(),
        (limit.min(i64::MAX as u64) as i64).into(),
    ];
    Ok(ReportPost::find_by_statement(store.stmt(
        "SELECT p.id AS post_id, p.platform, p.caption, p.published_at, p.url, p.account_id, \
         a.name AS account_name, r.campaign_id, c.name AS campaign_name, r.prompt, \
         r.asset_id, s.params AS asset_params, d.path AS rendition_path \
         FROM posts p JOIN runs r ON r.id = p.run_id JOIN campaigns c ON c.id = r.campaign_id \
         JOIN accounts a ON a.id = p.account_id JOIN renditions d ON d.id = p.rendition_id \
         LEFT JOIN assets s ON s.id = r.asset_id \
         WHERE p.workspace_id = $1 AND p.state = $2 AND p.published_at >= $3 \
         AND p.published_at < $4 ORDER BY p.published_at, p.id LIMIT $5",
        values,
    ))
    .all(conn)
    .await?)
}

/// The workspace's published posts (rows) published in `[from_ms, to_ms)`, oldest first, at
/// most [`MAX_FETCH`]: what `pressroom insights fetch` measures.
pub async fn published_posts<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<post::Model>> {
    use sea_orm::QuerySelect;
    Ok(post::Entity::find()
        .filter(post::Column::WorkspaceId.eq(workspace_id))
        .filter(post::Column::State.eq(PostState::Published.as_str()))
        .filter(post::Column::PublishedAt.gte(from_ms))
        .filter(post::Column::PublishedAt.lt(to_ms))
        .order_by_asc(post::Column::PublishedAt)
        .limit(MAX_FETCH)
        .all(conn)
        .await?)
}

/// The account's posts published since `since_ms` (newest first, at most `limit`): those whose
/// scheduled fetches may be due with one being run, to measure in the same platform call.
pub async fn recent_of_account<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    account_id: &AccountId,
    since_ms: i64,
    limit: u64,
) -> Result<Vec<post::Model>> {
    use sea_orm::QuerySelect;
    Ok(post::Entity::find()
        .filter(post::Column::WorkspaceId.eq(workspace_id))
        .filter(post::Column::AccountId.eq(account_id))
        .filter(post::Column::State.eq(PostState::Published.as_str()))
        .filter(post::Column::RemoteId.is_not_null())
        .filter(post::Column::PublishedAt.gte(since_ms))
        .order_by_desc(post::Column::PublishedAt)
        .limit(limit)
        .all(conn)
        .await?)
}

/// Most posts one `insights fetch` reads.
pub const MAX_FETCH: u64 = 10_000;

/// For each of `post_ids`: its newest measured fetch, and whether its newest fetch of all
/// found it gone from the platform. Reads neither the raw answers nor the notes.
pub async fn latest<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    workspace_id: &WorkspaceId,
    post_ids: &[PostId],
) -> Result<HashMap<PostId, Latest>> {
    let mut out: HashMap<PostId, Latest> = HashMap::new();
    // Bounded IN lists: both engines cap bind parameters per statement.
    for chunk in post_ids.chunks(500) {
        let mut values: Vec<Value> = vec![workspace_id.into()];
        let marks: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                values.push(id.into());
                format!("${}", i + 2)
            })
            .collect();
        let sql = format!(
            "SELECT post_id, fetched_at, outcome, metrics FROM post_metrics \
             WHERE workspace_id = $1 AND post_id IN ({}) ORDER BY fetched_at, id",
            marks.join(", ")
        );
        let rows = FetchRow::find_by_statement(store.stmt(&sql, values))
            .all(conn)
            .await?;
        for row in rows {
            let entry = out.entry(row.post_id.clone()).or_default();
            entry.gone = row.outcome == Outcome::Gone.as_str();
            if row.outcome == Outcome::Measured.as_str() {
                entry.measured = Some(Measured {
                    fetched_at: row.fetched_at,
                    metrics: row.metrics,
                });
            }
        }
    }
    Ok(out)
}

#[derive(FromQueryResult)]
struct FetchRow {
    post_id: PostId,
    fetched_at: i64,
    outcome: String,
    metrics: String,
}

/// What [`latest`] knows of one post.
#[derive(Clone, Debug, Default)]
pub struct Latest {
    /// The newest fetch that measured numbers.
    pub measured: Option<Measured>,
    /// The newest fetch found the post gone from the platform.
    pub gone: bool,
}

/// One measured fetch, as reports read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measured {
    /// Epoch ms.
    pub fetched_at: i64,
    /// JSON object of the normalised metrics.
    pub metrics: String,
}
