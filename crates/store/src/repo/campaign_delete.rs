//! Deleting a campaign: a soft delete that keeps its runs, posts and audit trail, and withdraws
//! the work that has not started. Work that may be touching a platform or the engine right now
//! (a running job, a post in `publishing` — possibly mid-commit) cannot be withdrawn safely, so
//! the delete is refused with a conflict until it settles.

use std::collections::BTreeSet;

use pressroom_core::{CampaignId, PostId, RunId, WorkspaceId};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Value};

use crate::schema::{campaign, job, post, run};
use crate::{Result, Store, StoreError};

/// What a delete withdrew.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Withdrawn {
    /// Queued generate, render and publish jobs removed from the queue.
    pub jobs: u64,
    /// Posts that were waiting to publish (or for their review), now `cancelled`.
    pub posts: u64,
    /// Runs that had not generated their image yet, now `failed`.
    pub runs: u64,
}

/// The error recorded on what a delete withdrew.
pub const REASON: &str = "the campaign was deleted";

/// Soft-deletes a live campaign in the caller's transaction (SQLite: IMMEDIATE, so nothing
/// interleaves; PostgreSQL: the guarded job delete notices a claim that raced it).
///
/// # Errors
/// `NotFound` for an unknown, deleted or other-workspace campaign; `Conflict` while a job of
/// the campaign runs or one of its posts is publishing.
pub async fn delete<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    now_ms: i64,
    workspace_id: &WorkspaceId,
    id: &CampaignId,
) -> Result<Withdrawn> {
    campaign::Entity::find_by_id(id.to_string())
        .filter(campaign::Column::WorkspaceId.eq(workspace_id))
        .filter(campaign::Column::DeletedAt.is_null())
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("campaign", id))?;

    let publishing = conn
        .query_one_raw(store.stmt(
            "SELECT COUNT(*) AS n FROM posts p JOIN runs r ON r.id = p.run_id \
             WHERE r.campaign_id = $1 AND p.workspace_id = $2 AND p.state = 'publishing'",
            vec![id.into(), workspace_id.into()],
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    if publishing > 0 {
        return Err(StoreError::Conflict(format!(
            "{publishing} post(s) of this campaign are publishing; delete it once they settle"
        )));
    }

    let jobs = live_jobs(conn, workspace_id, id).await?;
    if let Some(running) = jobs
        .iter()
        .find(|j| j.state == pressroom_core::JobState::Running)
    {
        return Err(StoreError::Conflict(format!(
            "a {} job of this campaign is running; delete it once it finishes",
            running.kind
        )));
    }
    let mut withdrawn = Withdrawn::default();
    for j in &jobs {
        let res = conn
            .execute_raw(store.stmt(
                "DELETE FROM jobs WHERE id = $1 AND state = 'available'",
                vec![j.id.clone().into()],
            ))
            .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::Conflict(
                "a job of this campaign started while deleting; try again".into(),
            ));
        }
        withdrawn.jobs += 1;
    }

    let of_campaign = "SELECT id FROM runs WHERE campaign_id = $3 AND workspace_id = $4";
    let values = |id: &str| -> Vec<Value> {
        vec![REASON.into(), now_ms.into(), id.into(), workspace_id.into()]
    };
    withdrawn.posts = conn
        .execute_raw(store.stmt(
            &format!(
                "UPDATE posts SET state = 'cancelled', error = $1, updated_at = $2 \
                 WHERE state IN ('pending', 'awaiting_review') AND run_id IN ({of_campaign})"
            ),
            values(id),
        ))
        .await?
        .rows_affected();
    withdrawn.runs = conn
        .execute_raw(store.stmt(
            &format!(
                "UPDATE runs SET state = '{}', error = $1, updated_at = $2 \
                 WHERE state = '{}' AND id IN ({of_campaign})",
                pressroom_core::RunState::Failed,
                pressroom_core::RunState::Queued
            ),
            values(id),
        ))
        .await?
        .rows_affected();
    // Its open reviews close: nothing of a deleted campaign is decided or published later.
    let closed = serde_json::json!({ "reason": REASON }).to_string();
    conn.execute_raw(store.stmt(
        "UPDATE reviews SET state = $1, decision = $2, decided_by = 'system', decided_at = $3, \
         updated_at = $3 WHERE state = $4 AND campaign_id = $5 AND workspace_id = $6",
        vec![
            pressroom_core::ReviewState::Rejected.as_str().into(),
            closed.into(),
            now_ms.into(),
            pressroom_core::ReviewState::Pending.as_str().into(),
            id.into(),
            workspace_id.into(),
        ],
    ))
    .await?;
    conn.execute_raw(store.stmt(
        "UPDATE campaigns SET deleted_at = $1, enabled = 0, updated_at = $1 \
         WHERE id = $2 AND workspace_id = $3",
        vec![now_ms.into(), id.into(), workspace_id.into()],
    ))
    .await?;
    Ok(withdrawn)
}

/// The campaign's queued or running pipeline jobs. Jobs name their run (generate, render) or
/// post (publish) only in the payload, so the workspace's live jobs — few, normally — are read
/// and matched here rather than by portable SQL on JSON.
async fn live_jobs<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &WorkspaceId,
    campaign_id: &CampaignId,
) -> Result<Vec<job::Model>> {
    let live = job::Entity::find()
        .filter(job::Column::WorkspaceId.eq(workspace_id))
        .filter(job::Column::State.is_in(["available", "running"]))
        .filter(job::Column::Kind.is_in(["generate", "render", "publish"]))
        .all(conn)
        .await?;
    if live.is_empty() {
        return Ok(live);
    }
    #[derive(serde::Deserialize)]
    struct Refs {
        run_id: Option<String>,
        post_id: Option<String>,
    }
    let refs: Vec<Option<Refs>> = live
        .iter()
        .map(|j| serde_json::from_str(&j.payload).ok())
        .collect();
    let post_ids: Vec<String> = refs
        .iter()
        .filter_map(|r| r.as_ref()?.post_id.clone())
        .collect();
    let post_runs: Vec<(PostId, RunId)> = post::Entity::find()
        .filter(post::Column::WorkspaceId.eq(workspace_id))
        .filter(post::Column::Id.is_in(post_ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|p| (p.id, p.run_id))
        .collect();
    let run_of = |r: &Refs| -> Option<RunId> {
        r.run_id.clone().map(RunId::from).or_else(|| {
            let post_id = r.post_id.as_deref()?;
            post_runs
                .iter()
                .find(|(p, _)| p == post_id)
                .map(|(_, run)| run.clone())
        })
    };
    let run_ids: BTreeSet<RunId> = refs.iter().flatten().filter_map(run_of).collect();
    let mine: BTreeSet<RunId> = run::Entity::find()
        .filter(run::Column::CampaignId.eq(campaign_id))
        .filter(run::Column::Id.is_in(run_ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    Ok(live
        .into_iter()
        .zip(refs)
        .filter(|(_, r)| {
            r.as_ref()
                .and_then(run_of)
                .is_some_and(|run| mine.contains(&run))
        })
        .map(|(j, _)| j)
        .collect())
}
