//! Retention purges: finished jobs and webhook delivery ids are only history after a while,
//! and nothing else deletes them, so the daemon calls [`purge`] periodically to keep the
//! tables (and the queue's scans) from growing forever.

use std::time::Duration;

use sea_orm::ConnectionTrait;

use crate::{Result, Store};

/// How long finished rows are kept.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// `completed` and `dead` jobs, counted from their last change.
    pub jobs: Duration,
    /// Accepted CMS delivery ids. A delivery older than the signature's ±5 min window is
    /// refused anyway, so its id no longer needs remembering.
    pub hook_deliveries: Duration,
}

/// What one purge deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub jobs: u64,
    pub hook_deliveries: u64,
}

/// Rows deleted per statement, so one purge never holds SQLite's write lock for long.
const BATCH: i64 = 5_000;

/// Deletes finished jobs and delivery ids older than their retention. Running, available
/// and recent jobs are never touched.
pub async fn purge(store: &Store, retention: &Retention) -> Result<Purged> {
    let now = store.now_ms().await?;
    let jobs_before = now.saturating_sub(retention.jobs.as_millis() as i64);
    let jobs = batched(
        store,
        "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
         WHERE state IN ('completed', 'dead') AND updated_at < $1 LIMIT $2)",
        jobs_before,
    )
    .await?;
    let deliveries_before = now.saturating_sub(retention.hook_deliveries.as_millis() as i64);
    let hook_deliveries = store
        .conn()
        .execute_raw(store.stmt(
            "DELETE FROM hook_deliveries WHERE received_at < $1",
            vec![deliveries_before.into()],
        ))
        .await?
        .rows_affected();
    Ok(Purged {
        jobs,
        hook_deliveries,
    })
}

async fn batched(store: &Store, sql: &str, before: i64) -> Result<u64> {
    let mut total = 0;
    loop {
        let n = store
            .conn()
            .execute_raw(store.stmt(sql, vec![before.into(), BATCH.into()]))
            .await?
            .rows_affected();
        total += n;
        if n < BATCH as u64 {
            return Ok(total);
        }
    }
}
