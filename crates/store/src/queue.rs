//! The durable job queue (RELIABILITY.md B.1): claim with a lease, a fencing `lease_token`
//! checked on every state change, heartbeats, a rescuer for expired leases, retries with a
//! delay chosen by the caller's policy, and a dead state an operator can list and retry.
//!
//! Claims differ per engine on purpose: PostgreSQL uses `FOR UPDATE SKIP LOCKED`; SQLite has
//! no row locks (sea-query silently drops `FOR UPDATE` there), so it runs the same
//! `UPDATE … RETURNING` inside an IMMEDIATE transaction, which serializes claimers.

use std::time::Duration;

use pressroom_core::{JobKind, JobState, WorkspaceId, new_id};
use sea_orm::{ConnectionTrait, FromQueryResult, Value};
use serde::de::DeserializeOwned;

use crate::{Backend, Result, Store, StoreError};

/// A job to insert. `unique_key` makes the insert a no-op when a job with that key exists,
/// for work that must exist once (one generate job per run, one publish job per post).
#[derive(Clone, Debug)]
pub struct NewJob {
    pub workspace_id: WorkspaceId,
    pub kind: JobKind,
    pub payload: serde_json::Value,
    pub unique_key: Option<String>,
    pub max_attempts: u32,
    /// Delay before the job becomes claimable.
    pub delay: Duration,
}

impl NewJob {
    pub fn new(workspace_id: &WorkspaceId, kind: JobKind, payload: serde_json::Value) -> Self {
        Self {
            workspace_id: workspace_id.clone(),
            kind,
            payload,
            unique_key: None,
            max_attempts: 8,
            delay: Duration::ZERO,
        }
    }

    pub fn unique(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    /// Makes the job claimable only after `delay` from its insertion.
    pub fn delayed_by(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
}

/// A job this worker holds a lease on. Every state change must present `lease_token`.
#[derive(Clone, Debug, FromQueryResult)]
pub struct ClaimedJob {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub kind: String,
    pub payload: String,
    pub attempt: i32,
    pub max_attempts: i32,
    pub lease_token: i64,
    pub lease_expires_at: Option<i64>,
}

impl ClaimedJob {
    /// The payload, decoded.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.payload)
            .map_err(|e| StoreError::Corrupt(format!("job {} payload: {e}", self.id)))
    }

    pub fn kind(&self) -> Option<JobKind> {
        JobKind::parse(&self.kind)
    }
}

/// One row of a job listing (for `jobs list` and the API).
#[derive(Clone, Debug, FromQueryResult, serde::Serialize)]
pub struct JobSummary {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub kind: String,
    pub state: JobState,
    pub attempt: i32,
    pub max_attempts: i32,
    pub run_at: i64,
    pub last_error: Option<String>,
}

/// Queue operations over a [`Store`].
#[derive(Clone, Debug)]
pub struct Queue {
    store: Store,
}

impl Queue {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Inserts a job inside the caller's transaction, so it exists iff the data that needs it
    /// commits. Returns false when a job with the same unique key already existed.
    pub async fn enqueue<C: ConnectionTrait>(&self, conn: &C, job: NewJob) -> Result<bool> {
        let now = self.store.now_sql();
        let sql = format!(
            "INSERT INTO jobs (id, workspace_id, kind, payload, unique_key, state, attempt, \
             max_attempts, run_at, due_at, lease_token, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'available', 0, $6, {now} + $7, {now} + $7, 0, {now}, {now}) \
             ON CONFLICT (unique_key) DO NOTHING"
        );
        let values: Vec<Value> = vec![
            new_id().into(),
            job.workspace_id.into(),
            job.kind.as_str().into(),
            job.payload.to_string().into(),
            job.unique_key.into(),
            (job.max_attempts as i32).into(),
            (job.delay.as_millis() as i64).into(),
        ];
        let res = conn.execute_raw(self.store.stmt(&sql, values)).await?;
        Ok(res.rows_affected() == 1)
    }

    /// Claims up to `limit` due jobs of the given kinds for `owner`, leased for `lease`.
    pub async fn claim(
        &self,
        kinds: &[JobKind],
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedJob>> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let kinds: Vec<Value> = kinds.iter().map(|k| k.as_str().into()).collect();
        self.claim_where("kind", kinds, owner, lease, limit, Duration::ZERO)
            .await
    }

    /// Claims up to `limit` jobs among those with these unique keys that are due within
    /// `ahead`: work better done together with a job already held (the insights of one
    /// account's other posts, in one platform call, a little early). Jobs due later, or held
    /// by another worker, are left alone.
    pub async fn claim_keys(
        &self,
        keys: &[String],
        owner: &str,
        lease: Duration,
        limit: u32,
        ahead: Duration,
    ) -> Result<Vec<ClaimedJob>> {
        let keys: Vec<Value> = keys.iter().map(|k| k.as_str().into()).collect();
        self.claim_where("unique_key", keys, owner, lease, limit, ahead)
            .await
    }

    /// Claims jobs due within `ahead` whose `column` is one of `any_of`.
    async fn claim_where(
        &self,
        column: &'static str,
        any_of: Vec<Value>,
        owner: &str,
        lease: Duration,
        limit: u32,
        ahead: Duration,
    ) -> Result<Vec<ClaimedJob>> {
        if any_of.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let now = self.store.now_sql();
        // Placeholders are numbered in order of first appearance (SQLite maps `$n` by name).
        let mut values: Vec<Value> = vec![
            owner.into(),
            (lease.as_millis() as i64).into(),
            (ahead.as_millis() as i64).into(),
        ];
        let kind_params: Vec<String> = any_of
            .into_iter()
            .map(|v| {
                values.push(v);
                format!("${}", values.len())
            })
            .collect();
        values.push((limit as i64).into());
        let limit_param = values.len();
        let lock = match self.store.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_owner = $1, \
             lease_token = lease_token + 1, lease_expires_at = {now} + $2, updated_at = {now} \
             WHERE id IN (SELECT id FROM jobs WHERE state = 'available' AND run_at <= {now} + $3 \
             AND {column} IN ({kinds}) ORDER BY due_at, id LIMIT ${limit_param}{lock}) \
             RETURNING id, workspace_id, kind, payload, attempt, max_attempts, lease_token, \
             lease_expires_at",
            kinds = kind_params.join(", ")
        );
        let stmt = self.store.stmt(&sql, values);
        // One statement is its own transaction on PostgreSQL (SKIP LOCKED makes concurrent
        // claimers pass each other): no BEGIN/COMMIT round trips. SQLite takes its write lock
        // up front in an IMMEDIATE transaction, so a claim waits on the busy timeout rather
        // than failing when another writer got in between its read and its write.
        let rows = match self.store.backend() {
            Backend::Postgres => self.store.conn().query_all_raw(stmt).await?,
            Backend::Sqlite => {
                let tx = self.store.begin().await?;
                let rows = tx.query_all_raw(stmt).await?;
                tx.commit().await?;
                rows
            }
        };
        rows.iter()
            .map(|r| ClaimedJob::from_query_result(r, "").map_err(StoreError::from))
            .collect()
    }

    /// Extends a lease. Fails with `LeaseLost` when the job was taken over.
    pub async fn heartbeat(&self, job: &ClaimedJob, lease: Duration) -> Result<()> {
        let now = self.store.now_sql();
        let sql = format!(
            "UPDATE jobs SET lease_expires_at = {now} + $1, updated_at = {now} \
             WHERE id = $2 AND lease_token = $3 AND state = 'running'"
        );
        let values = vec![
            (lease.as_millis() as i64).into(),
            job.id.clone().into(),
            job.lease_token.into(),
        ];
        self.fenced(self.store.conn(), job, &sql, values).await
    }

    /// Marks a job done, inside the caller's transaction so the job's effects and its
    /// completion commit together.
    pub async fn complete<C: ConnectionTrait>(&self, conn: &C, job: &ClaimedJob) -> Result<()> {
        let now = self.store.now_sql();
        let sql = format!(
            "UPDATE jobs SET state = 'completed', lease_owner = NULL, lease_expires_at = NULL, \
             last_error = NULL, updated_at = {now} \
             WHERE id = $1 AND lease_token = $2 AND state = 'running'"
        );
        self.fenced(
            conn,
            job,
            &sql,
            vec![job.id.clone().into(), job.lease_token.into()],
        )
        .await
    }

    /// Schedules another attempt after `delay`, or moves the job to `dead` when its attempts
    /// are used up. Returns the state the job ended in.
    pub async fn retry<C: ConnectionTrait>(
        &self,
        conn: &C,
        job: &ClaimedJob,
        delay: Duration,
        error: &str,
    ) -> Result<JobState> {
        let state = if job.attempt >= job.max_attempts {
            JobState::Dead
        } else {
            JobState::Available
        };
        let now = self.store.now_sql();
        let sql = format!(
            "UPDATE jobs SET state = $1, run_at = {now} + $2, last_error = $3, lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = {now} \
             WHERE id = $4 AND lease_token = $5 AND state = 'running'"
        );
        let values = vec![
            state.as_str().into(),
            (delay.as_millis() as i64).into(),
            truncate(error).into(),
            job.id.clone().into(),
            job.lease_token.into(),
        ];
        self.fenced(conn, job, &sql, values).await?;
        Ok(state)
    }

    /// Puts a job back without counting the attempt (e.g. a rate limit the platform named,
    /// or an account parked for a while): the claim's attempt increment is undone.
    pub async fn defer<C: ConnectionTrait>(
        &self,
        conn: &C,
        job: &ClaimedJob,
        delay: Duration,
        reason: &str,
    ) -> Result<()> {
        let now = self.store.now_sql();
        let sql = format!(
            "UPDATE jobs SET state = 'available', attempt = attempt - 1, run_at = {now} + $1, \
             last_error = $2, lease_owner = NULL, lease_expires_at = NULL, updated_at = {now} \
             WHERE id = $3 AND lease_token = $4 AND state = 'running'"
        );
        let values = vec![
            (delay.as_millis() as i64).into(),
            truncate(reason).into(),
            job.id.clone().into(),
            job.lease_token.into(),
        ];
        self.fenced(conn, job, &sql, values).await
    }

    /// Gives up on a job now (a permanent error): it goes to `dead` with the reason.
    pub async fn kill<C: ConnectionTrait>(
        &self,
        conn: &C,
        job: &ClaimedJob,
        error: &str,
    ) -> Result<()> {
        let now = self.store.now_sql();
        let sql = format!(
            "UPDATE jobs SET state = 'dead', last_error = $1, lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = {now} \
             WHERE id = $2 AND lease_token = $3 AND state = 'running'"
        );
        let values = vec![
            truncate(error).into(),
            job.id.clone().into(),
            job.lease_token.into(),
        ];
        self.fenced(conn, job, &sql, values).await
    }

    /// Returns running jobs whose lease expired to `available` (or `dead` when out of
    /// attempts). The attempt already counted at claim time stays counted, so a job that
    /// crashes its worker every time cannot loop forever. Returns how many were rescued.
    pub async fn rescue_expired(&self) -> Result<u64> {
        let now = self.store.now_sql();
        let sql = format!(
            "UPDATE jobs SET state = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'available' END, \
             last_error = 'lease expired (worker died or stalled)', lease_owner = NULL, \
             lease_expires_at = NULL, run_at = {now}, updated_at = {now} \
             WHERE state = 'running' AND lease_expires_at < {now}"
        );
        let tx = self.store.begin().await?;
        let res = tx.execute_raw(self.store.stmt(&sql, vec![])).await?;
        tx.commit().await?;
        Ok(res.rows_affected())
    }

    /// Releases every running lease at once. Only for SQLite single-instance start-up, where
    /// the instance lock proves the previous holder is dead.
    pub async fn release_all_leases(&self) -> Result<u64> {
        let now = self.store.now_sql();
        let sql = format!("UPDATE jobs SET lease_expires_at = {now} - 1 WHERE state = 'running'");
        let res = self
            .store
            .conn()
            .execute_raw(self.store.stmt(&sql, vec![]))
            .await?;
        Ok(res.rows_affected())
    }

    /// Jobs in a state, newest first, optionally for one workspace.
    pub async fn list(
        &self,
        state: JobState,
        workspace_id: Option<&WorkspaceId>,
        limit: u32,
    ) -> Result<Vec<JobSummary>> {
        let mut values: Vec<Value> = vec![state.as_str().into()];
        let scope = match workspace_id {
            Some(ws) => {
                values.push(ws.into());
                " AND workspace_id = $2"
            }
            None => "",
        };
        values.push((limit as i64).into());
        let sql = format!(
            "SELECT id, workspace_id, kind, state, attempt, max_attempts, run_at, last_error \
             FROM jobs WHERE state = $1{scope} ORDER BY updated_at DESC, id DESC LIMIT ${}",
            values.len()
        );
        let rows = self
            .store
            .conn()
            .query_all_raw(self.store.stmt(&sql, values))
            .await?;
        rows.iter()
            .map(|r| JobSummary::from_query_result(r, "").map_err(StoreError::from))
            .collect()
    }

    /// For each key (e.g. `publish:{post}`), the newest job of the workspace whose unique key
    /// is that key or starts with it and `:` (a retry's `publish:{post}:retry:{at}`): when it
    /// runs next, its attempts, its last error.
    pub async fn latest_by_key_prefixes(
        &self,
        workspace_id: &WorkspaceId,
        keys: &[String],
    ) -> Result<Vec<(String, JobSummary)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut values: Vec<Value> = vec![workspace_id.into()];
        let mut matches = Vec::with_capacity(keys.len());
        for k in keys {
            values.push(k.as_str().into());
            let exact = values.len();
            // `_` and `%` are LIKE wildcards: keys here are ids and colons only.
            values.push(format!("{k}:%").into());
            matches.push(format!(
                "unique_key = ${exact} OR unique_key LIKE ${}",
                values.len()
            ));
        }
        let sql = format!(
            "SELECT unique_key, id, workspace_id, kind, state, attempt, max_attempts, run_at, \
             last_error FROM jobs WHERE workspace_id = $1 AND ({}) ORDER BY id",
            matches.join(" OR ")
        );
        let rows = self
            .store
            .conn()
            .query_all_raw(self.store.stmt(&sql, values))
            .await?;
        let mut newest: std::collections::BTreeMap<String, JobSummary> = Default::default();
        for r in &rows {
            let key: String = r.try_get("", "unique_key")?;
            let job = JobSummary::from_query_result(r, "")?;
            // Ids are time-ordered: a later row is a newer job.
            if let Some(k) = keys
                .iter()
                .find(|k| key == **k || key.starts_with(&format!("{k}:")))
            {
                newest.insert(k.clone(), job);
            }
        }
        Ok(newest.into_iter().collect())
    }

    /// Counts jobs by kind and state (for metrics and `status`).
    pub async fn counts(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = self
            .store
            .conn()
            .query_all_raw(self.store.stmt(
                "SELECT kind, state, COUNT(*) AS n FROM jobs GROUP BY kind, state ORDER BY kind, state",
                vec![],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("", "kind")?,
                    r.try_get("", "state")?,
                    r.try_get("", "n")?,
                ))
            })
            .collect()
    }

    /// Operator action: gives a dead job a fresh set of attempts.
    pub async fn retry_dead(&self, workspace_id: Option<&WorkspaceId>, job_id: &str) -> Result<()> {
        let now = self.store.now_sql();
        let mut values: Vec<Value> = vec![job_id.into()];
        let scope = match workspace_id {
            Some(ws) => {
                values.push(ws.into());
                " AND workspace_id = $2"
            }
            None => "",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'available', attempt = 0, run_at = {now}, due_at = {now}, \
             updated_at = {now} \
             WHERE id = $1 AND state = 'dead'{scope}"
        );
        let res = self
            .store
            .conn()
            .execute_raw(self.store.stmt(&sql, values))
            .await?;
        if res.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::not_found("dead job", job_id))
        }
    }

    async fn fenced<C: ConnectionTrait>(
        &self,
        conn: &C,
        job: &ClaimedJob,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<()> {
        let res = conn.execute_raw(self.store.stmt(sql, values)).await?;
        if res.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost {
                job_id: job.id.clone(),
            })
        }
    }
}

/// Error texts are capped so a huge platform response cannot bloat the jobs table.
fn truncate(s: &str) -> String {
    const MAX: usize = 2000;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
