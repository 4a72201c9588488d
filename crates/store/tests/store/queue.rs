//! The durable job queue: transactional enqueue, unique keys, claims with leases, fencing,
//! heartbeats, the rescuer, retries, deferrals, dead jobs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pressroom_core::{JobKind, JobState, WorkspaceId};
use pressroom_store::testing::schema::job;
use pressroom_store::{Backend, ClaimedJob, NewJob, Queue, Store, StoreError};
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use serde_json::json;

use crate::harness::Ctx;

on_both_backends!(
    enqueue_in_a_rolled_back_transaction_leaves_no_job,
    unique_key_dedupes,
    claim_returns_only_due_jobs_of_the_requested_kinds,
    concurrent_claimers_never_get_the_same_job_twice,
    heartbeat_extends_the_lease,
    a_stale_lease_token_cannot_change_the_job_after_rescue_and_reclaim,
    rescue_returns_expired_jobs_to_available_then_to_dead,
    retry_moves_to_dead_after_max_attempts,
    defer_does_not_count_the_attempt,
    a_job_put_back_goes_before_the_jobs_due_after_it,
    kill_then_retry_dead_revives_the_job,
    claim_keys_takes_only_due_available_jobs_with_those_keys,
);

on_postgres_only!(
    claim_skips_rows_locked_by_another_transaction,
    a_job_is_invisible_to_claimers_until_its_transaction_commits,
);

const WS: &str = "ws-a";
const OTHER_WS: &str = "ws-b";
const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(150);

/// Enqueues one job in its own committed transaction.
async fn enqueue(ctx: &Ctx, job: NewJob) -> anyhow::Result<bool> {
    let tx = ctx.store.begin().await?;
    let inserted = ctx.queue.enqueue(&tx, job).await?;
    tx.commit().await?;
    Ok(inserted)
}

fn job_with(kind: JobKind, payload: serde_json::Value) -> NewJob {
    NewJob::new(&WorkspaceId::from(WS), kind, payload)
}

/// Claims and expects exactly one job.
async fn claim_one(ctx: &Ctx, kinds: &[JobKind], owner: &str, lease: Duration) -> ClaimedJob {
    let mut got = ctx
        .queue
        .claim(kinds, owner, lease, 10)
        .await
        .expect("claim");
    assert_eq!(got.len(), 1, "expected one job, claimed {got:?}");
    got.pop().expect("one job")
}

async fn row(ctx: &Ctx, id: &str) -> job::Model {
    job::Entity::find_by_id(id.to_string())
        .one(ctx.store.conn())
        .await
        .expect("read job")
        .unwrap_or_else(|| panic!("job {id} is gone"))
}

async fn count_jobs(ctx: &Ctx) -> anyhow::Result<i64> {
    ctx.count("SELECT COUNT(*) AS n FROM jobs", vec![]).await
}

async fn enqueue_in_a_rolled_back_transaction_leaves_no_job(ctx: Ctx) -> anyhow::Result<()> {
    // The job and the data that needs it go in one transaction; rolling it back removes both.
    let tx = ctx.store.begin().await?;
    tx.execute_raw(Statement::from_sql_and_values(
        tx.get_database_backend(),
        "INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)",
        vec!["w1".into(), "w1".into(), "W1".into(), 0i64.into()],
    ))
    .await?;
    assert!(
        ctx.queue
            .enqueue(
                &tx,
                job_with(JobKind::Generate, json!({"run": "r1"})).unique("gen:r1")
            )
            .await?
    );
    let inside = tx
        .query_one_raw(Statement::from_string(
            tx.get_database_backend(),
            "SELECT COUNT(*) AS n FROM jobs",
        ))
        .await?
        .expect("row")
        .try_get::<i64>("", "n")?;
    assert_eq!(inside, 1, "the job is visible inside its own transaction");
    tx.rollback().await?;

    assert_eq!(count_jobs(&ctx).await?, 0, "rollback removed the job");
    assert_eq!(
        ctx.count("SELECT COUNT(*) AS n FROM workspaces", vec![])
            .await?,
        0
    );
    assert!(
        ctx.queue
            .claim(&JobKind::ALL, "w", LONG, 10)
            .await?
            .is_empty()
    );

    // The unique key of a rolled-back job is free again, and a committed enqueue is claimable.
    assert!(
        enqueue(
            &ctx,
            job_with(JobKind::Generate, json!({"run": "r1"})).unique("gen:r1")
        )
        .await?
    );
    let job = claim_one(&ctx, &[JobKind::Generate], "w", LONG).await;
    assert_eq!(job.payload::<serde_json::Value>()?, json!({"run": "r1"}));
    Ok(())
}

async fn unique_key_dedupes(ctx: Ctx) -> anyhow::Result<()> {
    let first = job_with(JobKind::Publish, json!({"post": "p1", "v": 1})).unique("publish:p1");
    let second = job_with(JobKind::Publish, json!({"post": "p1", "v": 2})).unique("publish:p1");
    assert!(enqueue(&ctx, first).await?, "first insert creates the job");
    assert!(!enqueue(&ctx, second).await?, "same key: no second job");
    assert_eq!(count_jobs(&ctx).await?, 1);
    let job = claim_one(&ctx, &[JobKind::Publish], "w", LONG).await;
    assert_eq!(
        job.payload::<serde_json::Value>()?["v"],
        1,
        "the first job is kept as it was"
    );

    // Twice in one transaction: still one.
    let tx = ctx.store.begin().await?;
    assert!(
        ctx.queue
            .enqueue(
                &tx,
                job_with(JobKind::Render, json!({})).unique("render:r1")
            )
            .await?
    );
    assert!(
        !ctx.queue
            .enqueue(
                &tx,
                job_with(JobKind::Render, json!({})).unique("render:r1")
            )
            .await?
    );
    tx.commit().await?;
    assert_eq!(count_jobs(&ctx).await?, 2);

    // The key holds after the job finished: work that must exist once is never redone.
    let tx = ctx.store.begin().await?;
    ctx.queue.complete(&tx, &job).await?;
    tx.commit().await?;
    assert!(
        !enqueue(
            &ctx,
            job_with(JobKind::Publish, json!({"post": "p1"})).unique("publish:p1")
        )
        .await?
    );

    // Jobs without a key never collide with each other.
    assert!(enqueue(&ctx, job_with(JobKind::Render, json!({}))).await?);
    assert!(enqueue(&ctx, job_with(JobKind::Render, json!({}))).await?);
    assert_eq!(count_jobs(&ctx).await?, 4);
    Ok(())
}

async fn claim_returns_only_due_jobs_of_the_requested_kinds(ctx: Ctx) -> anyhow::Result<()> {
    enqueue(
        &ctx,
        job_with(JobKind::Generate, json!({"name": "gen-due"})),
    )
    .await?;
    enqueue(
        &ctx,
        job_with(JobKind::Render, json!({"name": "render-due"})),
    )
    .await?;
    enqueue(
        &ctx,
        NewJob::new(
            &WorkspaceId::from(OTHER_WS),
            JobKind::Publish,
            json!({"name": "publish-due"}),
        ),
    )
    .await?;
    let mut later = job_with(JobKind::Generate, json!({"name": "gen-later"}));
    later.delay = Duration::from_secs(3600);
    enqueue(&ctx, later).await?;

    // Nothing for an empty kind list or a zero limit.
    assert!(ctx.queue.claim(&[], "w1", LONG, 10).await?.is_empty());
    assert!(
        ctx.queue
            .claim(&JobKind::ALL, "w1", LONG, 0)
            .await?
            .is_empty()
    );

    let before = ctx.store.now_ms().await?;
    let gen_job = claim_one(&ctx, &[JobKind::Generate], "w1", LONG).await;
    let after = ctx.store.now_ms().await?;
    assert_eq!(gen_job.payload::<serde_json::Value>()?["name"], "gen-due");
    assert_eq!(gen_job.kind(), Some(JobKind::Generate));
    assert_eq!(gen_job.workspace_id, WS);
    assert_eq!(gen_job.attempt, 1, "a claim counts an attempt");
    assert_eq!(gen_job.max_attempts, 8, "default max attempts");
    assert_eq!(gen_job.lease_token, 1, "a claim bumps the fencing token");
    let expires = gen_job.lease_expires_at.expect("a lease");
    // `now_ms` carries a reading of the database clock forward on this process's clock: it
    // agrees with the database's own `now` in SQL to a few milliseconds, not exactly.
    const SLACK: i64 = 50;
    assert!(
        expires >= before + 60_000 - SLACK && expires <= after + 60_000 + SLACK,
        "lease expiry {expires} should be db now + 60 s ({before}..{after})"
    );
    let stored = row(&ctx, &gen_job.id).await;
    assert_eq!(stored.state, JobState::Running);
    assert_eq!(stored.lease_owner.as_deref(), Some("w1"));

    // The delayed generate job is not due; the other kinds were not asked for.
    assert!(
        ctx.queue
            .claim(&[JobKind::Generate], "w1", LONG, 10)
            .await?
            .is_empty()
    );
    let mut others = ctx
        .queue
        .claim(&[JobKind::Render, JobKind::Publish], "w2", LONG, 10)
        .await?;
    others.sort_by(|a, b| a.kind.cmp(&b.kind));
    let kinds: Vec<&str> = others.iter().map(|j| j.kind.as_str()).collect();
    assert_eq!(kinds, ["publish", "render"]);
    assert_eq!(
        others[0].workspace_id, OTHER_WS,
        "claims serve every workspace"
    );
    assert!(
        ctx.queue
            .claim(&JobKind::ALL, "w3", LONG, 10)
            .await?
            .is_empty(),
        "nothing else is due"
    );

    // The limit is honoured and the rest stay available.
    for i in 0..5 {
        enqueue(&ctx, job_with(JobKind::Render, json!({"i": i}))).await?;
    }
    assert_eq!(
        ctx.queue
            .claim(&[JobKind::Render], "w4", LONG, 2)
            .await?
            .len(),
        2
    );
    assert_eq!(
        ctx.queue
            .claim(&[JobKind::Render], "w4", LONG, 10)
            .await?
            .len(),
        3
    );
    let still_later = ctx
        .count(
            "SELECT COUNT(*) AS n FROM jobs WHERE state = 'available' AND kind = 'generate'",
            vec![],
        )
        .await?;
    assert_eq!(still_later, 1, "the delayed job waits");
    Ok(())
}

async fn concurrent_claimers_never_get_the_same_job_twice(ctx: Ctx) -> anyhow::Result<()> {
    const JOBS: usize = 200;
    const CLAIMERS: usize = 8;
    let tx = ctx.store.begin().await?;
    for i in 0..JOBS {
        ctx.queue
            .enqueue(&tx, job_with(JobKind::Publish, json!({"i": i})))
            .await?;
    }
    // Decoys of another kind that nobody asks for.
    for i in 0..20 {
        ctx.queue
            .enqueue(&tx, job_with(JobKind::Render, json!({"i": i})))
            .await?;
    }
    tx.commit().await?;

    let barrier = Arc::new(tokio::sync::Barrier::new(CLAIMERS));
    let mut tasks = Vec::new();
    for c in 0..CLAIMERS {
        // Half share the test's pool (worker tasks in one daemon), half have their own pool
        // (other daemons on the same database).
        let store: Store = if c % 2 == 0 {
            ctx.store.clone()
        } else {
            ctx.connect_again().await?
        };
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let queue = Queue::new(store.clone());
            let owner = format!("claimer-{c}");
            let limit = 1 + (c as u32 % 3);
            let mut mine: Vec<ClaimedJob> = Vec::new();
            barrier.wait().await;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let got = queue
                    .claim(&[JobKind::Publish], &owner, LONG, limit)
                    .await?;
                anyhow::ensure!(got.len() <= limit as usize, "claim exceeded its limit");
                if got.is_empty() {
                    // An empty answer can be spurious under SKIP LOCKED (the rows it picked
                    // were claimed by a concurrent commit); stop only when none are left.
                    let left = store
                        .conn()
                        .query_one_raw(Statement::from_string(
                            store.conn().get_database_backend(),
                            "SELECT COUNT(*) AS n FROM jobs WHERE state = 'available' \
                             AND kind = 'publish'",
                        ))
                        .await?
                        .expect("row")
                        .try_get::<i64>("", "n")?;
                    if left == 0 {
                        break;
                    }
                    anyhow::ensure!(Instant::now() < deadline, "claimers made no progress");
                    tokio::task::yield_now().await;
                }
                mine.extend(got);
            }
            Ok::<_, anyhow::Error>((owner, mine))
        }));
    }

    let mut claimed: HashMap<String, String> = HashMap::new();
    let mut busy_claimers = 0;
    for task in tasks {
        let (owner, mine) = task.await??;
        if !mine.is_empty() {
            busy_claimers += 1;
        }
        for job in mine {
            assert_eq!(job.attempt, 1, "job {} claimed more than once", job.id);
            assert_eq!(job.lease_token, 1, "job {} claimed more than once", job.id);
            if let Some(prev) = claimed.insert(job.id.clone(), owner.clone()) {
                panic!("job {} claimed by both {prev} and {owner}", job.id);
            }
        }
    }
    assert_eq!(claimed.len(), JOBS, "every job claimed exactly once");
    assert!(
        busy_claimers >= 2,
        "the claimers ran concurrently ({busy_claimers} got work)"
    );

    // The database agrees: every publish job is running, under the owner that got it, claimed
    // once; the decoys were never touched.
    let rows = job::Entity::find().all(ctx.store.conn()).await?;
    let mut publish_ids = HashSet::new();
    for r in &rows {
        if r.kind == "publish" {
            publish_ids.insert(r.id.clone());
            assert_eq!(r.state, JobState::Running);
            assert_eq!(r.attempt, 1);
            assert_eq!(r.lease_token, 1);
            assert_eq!(r.lease_owner.as_ref(), claimed.get(&r.id));
        } else {
            assert_eq!(r.state, JobState::Available, "decoy {} was claimed", r.id);
            assert_eq!(r.lease_token, 0);
        }
    }
    assert_eq!(publish_ids, claimed.keys().cloned().collect::<HashSet<_>>());
    Ok(())
}

async fn heartbeat_extends_the_lease(ctx: Ctx) -> anyhow::Result<()> {
    enqueue(&ctx, job_with(JobKind::Generate, json!({}))).await?;
    let job = claim_one(&ctx, &[JobKind::Generate], "w", SHORT).await;
    let first_expiry = job.lease_expires_at.expect("lease");

    // The database's own clock: the heartbeat computes the new expiry from it, and the
    // carried clock (`now_ms`) may run a few ms ahead of it.
    let before = ctx.store.query_now_ms().await?;
    ctx.queue.heartbeat(&job, LONG).await?;
    let stored = row(&ctx, &job.id).await;
    let extended = stored.lease_expires_at.expect("lease");
    assert!(
        extended >= before + 60_000,
        "heartbeat moved expiry to {extended}, want ≥ {}",
        before + 60_000
    );
    assert_eq!(
        stored.lease_token, job.lease_token,
        "heartbeat keeps the token"
    );
    assert_eq!(stored.state, JobState::Running);

    // Past the original expiry the rescuer leaves the job alone, and the holder can finish.
    ctx.wait_db_past(first_expiry + 20).await?;
    assert_eq!(ctx.queue.rescue_expired().await?, 0);
    assert_eq!(row(&ctx, &job.id).await.state, JobState::Running);
    let tx = ctx.store.begin().await?;
    ctx.queue.complete(&tx, &job).await?;
    tx.commit().await?;
    let done = row(&ctx, &job.id).await;
    assert_eq!(done.state, JobState::Completed);
    assert_eq!(done.lease_owner, None);
    assert_eq!(done.lease_expires_at, None);

    // A finished job has no lease to extend.
    assert_err!(
        ctx.queue.heartbeat(&job, LONG).await,
        StoreError::LeaseLost { .. }
    );
    Ok(())
}

async fn a_stale_lease_token_cannot_change_the_job_after_rescue_and_reclaim(
    ctx: Ctx,
) -> anyhow::Result<()> {
    enqueue(&ctx, job_with(JobKind::Publish, json!({"post": "p"}))).await?;
    let stale = claim_one(&ctx, &[JobKind::Publish], "w-old", SHORT).await;
    ctx.wait_db_past(stale.lease_expires_at.expect("lease"))
        .await?;
    assert_eq!(ctx.queue.rescue_expired().await?, 1);
    let fresh = claim_one(&ctx, &[JobKind::Publish], "w-new", LONG).await;
    assert_eq!(fresh.id, stale.id);
    assert_eq!(fresh.lease_token, stale.lease_token + 1);
    assert_eq!(fresh.attempt, 2);

    // The old worker wakes up: every change it tries is refused.
    let conn = ctx.store.conn();
    assert_err!(
        ctx.queue.heartbeat(&stale, LONG).await,
        StoreError::LeaseLost { .. }
    );
    assert_err!(
        ctx.queue.complete(conn, &stale).await,
        StoreError::LeaseLost { .. }
    );
    assert_err!(
        ctx.queue
            .retry(conn, &stale, Duration::ZERO, "stale retry")
            .await,
        StoreError::LeaseLost { .. }
    );
    assert_err!(
        ctx.queue
            .defer(conn, &stale, Duration::ZERO, "stale defer")
            .await,
        StoreError::LeaseLost { .. }
    );
    assert_err!(
        ctx.queue.kill(conn, &stale, "stale kill").await,
        StoreError::LeaseLost { .. }
    );
    // Inside a transaction too (where workers complete together with their effects).
    let tx = ctx.store.begin().await?;
    assert_err!(
        ctx.queue.complete(&tx, &stale).await,
        StoreError::LeaseLost { .. }
    );
    tx.rollback().await?;

    let stored = row(&ctx, &fresh.id).await;
    assert_eq!(stored.state, JobState::Running);
    assert_eq!(stored.lease_owner.as_deref(), Some("w-new"));
    assert_eq!(stored.lease_token, fresh.lease_token);
    assert_eq!(stored.attempt, 2);
    assert_ne!(stored.last_error.as_deref(), Some("stale retry"));

    // The current holder is unaffected, and once done even its own token is spent.
    ctx.queue.heartbeat(&fresh, LONG).await?;
    ctx.queue.complete(conn, &fresh).await?;
    assert_eq!(row(&ctx, &fresh.id).await.state, JobState::Completed);
    assert_err!(
        ctx.queue.complete(conn, &fresh).await,
        StoreError::LeaseLost { .. }
    );
    assert_err!(
        ctx.queue.kill(conn, &fresh, "late").await,
        StoreError::LeaseLost { .. }
    );
    assert_eq!(row(&ctx, &fresh.id).await.state, JobState::Completed);
    Ok(())
}

async fn rescue_returns_expired_jobs_to_available_then_to_dead(ctx: Ctx) -> anyhow::Result<()> {
    enqueue(&ctx, job_with(JobKind::Render, json!({})).max_attempts(2)).await?;
    // A job with a live lease is never rescued.
    enqueue(&ctx, job_with(JobKind::Generate, json!({}))).await?;
    let live = claim_one(&ctx, &[JobKind::Generate], "alive", LONG).await;

    let first = claim_one(&ctx, &[JobKind::Render], "dies", SHORT).await;
    ctx.wait_db_past(first.lease_expires_at.expect("lease"))
        .await?;
    assert_eq!(ctx.queue.rescue_expired().await?, 1);
    let stored = row(&ctx, &first.id).await;
    assert_eq!(stored.state, JobState::Available);
    assert_eq!(stored.attempt, 1, "the crashed attempt stays counted");
    assert_eq!(stored.lease_owner, None);
    assert_eq!(stored.lease_expires_at, None);
    assert!(
        stored
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("lease expired")),
        "last_error says why: {:?}",
        stored.last_error
    );
    // `now_ms` carries the database clock on this process's clock: a few ms behind SQL `now`.
    assert!(
        stored.run_at <= ctx.store.now_ms().await? + 50,
        "claimable now"
    );

    let second = claim_one(&ctx, &[JobKind::Render], "dies-again", SHORT).await;
    assert_eq!(second.attempt, 2);
    ctx.wait_db_past(second.lease_expires_at.expect("lease"))
        .await?;
    assert_eq!(ctx.queue.rescue_expired().await?, 1);
    let stored = row(&ctx, &second.id).await;
    assert_eq!(stored.state, JobState::Dead, "attempts used up");
    assert!(
        ctx.queue
            .list(JobState::Dead, Some(&WorkspaceId::from(WS)), 10)
            .await?
            .iter()
            .any(|j| j.id == second.id)
    );
    assert!(
        ctx.queue
            .claim(&[JobKind::Render], "w", LONG, 10)
            .await?
            .is_empty()
    );
    assert_eq!(
        ctx.queue.rescue_expired().await?,
        0,
        "nothing left to rescue"
    );
    assert_eq!(row(&ctx, &live.id).await.state, JobState::Running);
    assert_eq!(
        row(&ctx, &live.id).await.lease_owner.as_deref(),
        Some("alive")
    );

    // Start-up after a crash (SQLite, instance lock held): every lease is released at once.
    assert_eq!(ctx.queue.release_all_leases().await?, 1);
    assert_eq!(ctx.queue.rescue_expired().await?, 1);
    assert_eq!(row(&ctx, &live.id).await.state, JobState::Available);
    Ok(())
}

async fn retry_moves_to_dead_after_max_attempts(ctx: Ctx) -> anyhow::Result<()> {
    enqueue(&ctx, job_with(JobKind::Publish, json!({})).max_attempts(3)).await?;
    let conn = ctx.store.conn();
    let mut id = String::new();
    for attempt in 1..=3 {
        let job = claim_one(&ctx, &[JobKind::Publish], "w", LONG).await;
        assert_eq!(job.attempt, attempt);
        assert_eq!(job.max_attempts, 3);
        let state = ctx
            .queue
            .retry(conn, &job, Duration::ZERO, &format!("boom {attempt}"))
            .await?;
        let want = if attempt < 3 {
            JobState::Available
        } else {
            JobState::Dead
        };
        assert_eq!(state, want, "after attempt {attempt}");
        let stored = row(&ctx, &job.id).await;
        assert_eq!(stored.state, want);
        assert_eq!(stored.last_error, Some(format!("boom {attempt}")));
        assert_eq!(stored.lease_owner, None);
        id = job.id;
    }
    assert!(
        ctx.queue
            .claim(&JobKind::ALL, "w", LONG, 10)
            .await?
            .is_empty()
    );
    let dead = ctx.queue.list(JobState::Dead, None, 10).await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, id);
    assert_eq!(dead[0].attempt, 3);
    assert_eq!(dead[0].last_error.as_deref(), Some("boom 3"));

    // A retry's delay keeps the job out of reach until then.
    enqueue(&ctx, job_with(JobKind::Generate, json!({}))).await?;
    let job = claim_one(&ctx, &[JobKind::Generate], "w", LONG).await;
    let now = ctx.store.now_ms().await?;
    let huge_error = "é".repeat(3000);
    assert_eq!(
        ctx.queue
            .retry(conn, &job, Duration::from_secs(3600), &huge_error)
            .await?,
        JobState::Available
    );
    assert!(
        ctx.queue
            .claim(&[JobKind::Generate], "w", LONG, 10)
            .await?
            .is_empty()
    );
    let stored = row(&ctx, &job.id).await;
    // `now_ms` carries the database clock on this process's clock: it can be some ms off SQL
    // `now` under load; a second of slack says nothing about an hour's delay.
    assert!(
        stored.run_at + 1_000 >= now + 3_600_000,
        "run_at {} too early (now {now})",
        stored.run_at
    );
    // A huge error text is capped (on a character boundary).
    let stored_error = stored.last_error.expect("error kept");
    assert!(
        stored_error.len() <= 2000 + '…'.len_utf8(),
        "{} bytes",
        stored_error.len()
    );
    assert!(stored_error.ends_with('…'));
    assert!(stored_error.starts_with("éé"));
    Ok(())
}

async fn defer_does_not_count_the_attempt(ctx: Ctx) -> anyhow::Result<()> {
    enqueue(&ctx, job_with(JobKind::Publish, json!({})).max_attempts(1)).await?;
    let conn = ctx.store.conn();
    // Deferred again and again (rate limited), it never runs out of its single attempt.
    for round in 0..3 {
        let job = claim_one(&ctx, &[JobKind::Publish], "w", LONG).await;
        assert_eq!(job.attempt, 1, "round {round}");
        ctx.queue
            .defer(conn, &job, Duration::ZERO, "rate limited")
            .await?;
        let stored = row(&ctx, &job.id).await;
        assert_eq!(stored.state, JobState::Available);
        assert_eq!(stored.attempt, 0);
        assert_eq!(stored.last_error.as_deref(), Some("rate limited"));
        assert_eq!(stored.lease_owner, None);
    }
    // A real failure does count, and with max_attempts 1 that is the end.
    let job = claim_one(&ctx, &[JobKind::Publish], "w", LONG).await;
    assert_eq!(job.attempt, 1);
    assert_eq!(
        ctx.queue
            .retry(conn, &job, Duration::ZERO, "server error")
            .await?,
        JobState::Dead
    );

    // A deferral's delay is honoured.
    enqueue(&ctx, job_with(JobKind::Render, json!({}))).await?;
    let job = claim_one(&ctx, &[JobKind::Render], "w", LONG).await;
    let now = ctx.store.now_ms().await?;
    ctx.queue
        .defer(conn, &job, Duration::from_secs(3600), "account parked")
        .await?;
    assert!(
        ctx.queue
            .claim(&[JobKind::Render], "w", LONG, 10)
            .await?
            .is_empty()
    );
    assert!(row(&ctx, &job.id).await.run_at >= now + 3_600_000);
    Ok(())
}

/// Claims one job and returns the `name` in its payload.
async fn claim_name(ctx: &Ctx) -> anyhow::Result<(ClaimedJob, String)> {
    let job = ctx
        .queue
        .claim(&[JobKind::Publish], "w", LONG, 1)
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("nothing to claim"))?;
    let name = job.payload::<serde_json::Value>()?["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((job, name))
}

async fn a_job_put_back_goes_before_the_jobs_due_after_it(ctx: Ctx) -> anyhow::Result<()> {
    // Ready jobs are claimed in the order they were first due, so a retried or deferred job
    // does not queue behind the whole backlog that became due while it ran.
    for name in ["first", "second", "third"] {
        enqueue(&ctx, job_with(JobKind::Publish, json!({ "name": name }))).await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let conn = ctx.store.conn();
    let (job, name) = claim_name(&ctx).await?;
    assert_eq!(name, "first");
    ctx.queue
        .retry(conn, &job, Duration::ZERO, "server error")
        .await?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (job, name) = claim_name(&ctx).await?;
    assert_eq!(name, "first", "a retry keeps its place");
    ctx.queue
        .defer(conn, &job, Duration::ZERO, "rate limited")
        .await?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (job, name) = claim_name(&ctx).await?;
    assert_eq!(name, "first", "so does a deferral");
    let first_due = row(&ctx, &job.id).await.due_at;
    assert!(
        row(&ctx, &job.id).await.run_at > first_due,
        "run_at moved, due_at did not"
    );
    let tx = ctx.store.begin().await?;
    ctx.queue.complete(&tx, &job).await?;
    tx.commit().await?;

    // A job that is put back but not yet due again waits, whatever its place.
    let (job, name) = claim_name(&ctx).await?;
    assert_eq!(name, "second");
    ctx.queue
        .defer(conn, &job, Duration::from_secs(3600), "account parked")
        .await?;
    let (_, name) = claim_name(&ctx).await?;
    assert_eq!(name, "third");
    Ok(())
}

async fn kill_then_retry_dead_revives_the_job(ctx: Ctx) -> anyhow::Result<()> {
    enqueue(&ctx, job_with(JobKind::Publish, json!({"post": "p"}))).await?;
    let conn = ctx.store.conn();
    let job = claim_one(&ctx, &[JobKind::Publish], "w", LONG).await;
    ctx.queue.kill(conn, &job, "content rejected").await?;
    let stored = row(&ctx, &job.id).await;
    assert_eq!(stored.state, JobState::Dead);
    assert_eq!(stored.attempt, 1, "killed on its first attempt, of 8");
    assert_eq!(stored.last_error.as_deref(), Some("content rejected"));
    assert!(
        ctx.queue
            .claim(&JobKind::ALL, "w", LONG, 10)
            .await?
            .is_empty()
    );

    // The operator's views: scoped by workspace, or all of them.
    let mine = ctx
        .queue
        .list(JobState::Dead, Some(&WorkspaceId::from(WS)), 10)
        .await?;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, job.id);
    assert_eq!(mine[0].kind, "publish");
    assert_eq!(mine[0].state, JobState::Dead);
    assert!(
        ctx.queue
            .list(JobState::Dead, Some(&WorkspaceId::from(OTHER_WS)), 10)
            .await?
            .is_empty()
    );
    assert_eq!(ctx.queue.list(JobState::Dead, None, 10).await?.len(), 1);
    assert!(
        ctx.queue
            .counts()
            .await?
            .contains(&("publish".to_string(), "dead".to_string(), 1))
    );

    // Another workspace's operator cannot revive it.
    assert_err!(
        ctx.queue
            .retry_dead(Some(&WorkspaceId::from(OTHER_WS)), &job.id)
            .await,
        StoreError::NotFound { .. }
    );
    assert_eq!(row(&ctx, &job.id).await.state, JobState::Dead);

    ctx.queue
        .retry_dead(Some(&WorkspaceId::from(WS)), &job.id)
        .await?;
    let stored = row(&ctx, &job.id).await;
    assert_eq!(stored.state, JobState::Available);
    assert_eq!(stored.attempt, 0, "a fresh set of attempts");
    let revived = claim_one(&ctx, &[JobKind::Publish], "w2", LONG).await;
    assert_eq!(revived.id, job.id);
    assert_eq!(revived.attempt, 1);
    assert_eq!(revived.lease_token, job.lease_token + 1);
    // The old holder's token is dead even though the job lives again.
    assert_err!(
        ctx.queue.complete(conn, &job).await,
        StoreError::LeaseLost { .. }
    );
    ctx.queue.complete(conn, &revived).await?;

    // Only dead jobs can be revived.
    assert_err!(
        ctx.queue.retry_dead(None, &job.id).await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        ctx.queue.retry_dead(None, "no-such-job").await,
        StoreError::NotFound { .. }
    );
    assert_eq!(row(&ctx, &job.id).await.state, JobState::Completed);
    Ok(())
}

async fn claim_skips_rows_locked_by_another_transaction(ctx: Ctx) -> anyhow::Result<()> {
    assert_eq!(ctx.backend(), Backend::Postgres);
    enqueue(&ctx, job_with(JobKind::Publish, json!({"name": "a"}))).await?;
    enqueue(&ctx, job_with(JobKind::Publish, json!({"name": "b"}))).await?;
    let other = ctx.connect_again().await?;
    let tx = other.begin().await?;
    let locked = tx
        .query_all_raw(Statement::from_sql_and_values(
            tx.get_database_backend(),
            "SELECT id FROM jobs WHERE payload = $1 FOR UPDATE",
            vec![json!({"name": "a"}).to_string().into()],
        ))
        .await?;
    assert_eq!(locked.len(), 1);

    // The claim neither waits for the locked row nor takes it.
    let got = tokio::time::timeout(
        Duration::from_secs(5),
        ctx.queue.claim(&[JobKind::Publish], "w", LONG, 10),
    )
    .await
    .map_err(|_| anyhow::anyhow!("claim waited on a locked row instead of skipping it"))??;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload::<serde_json::Value>()?["name"], "b");

    tx.rollback().await?;
    let got = ctx.queue.claim(&[JobKind::Publish], "w", LONG, 10).await?;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload::<serde_json::Value>()?["name"], "a");
    Ok(())
}

async fn a_job_is_invisible_to_claimers_until_its_transaction_commits(
    ctx: Ctx,
) -> anyhow::Result<()> {
    assert_eq!(ctx.backend(), Backend::Postgres);
    let tx = ctx.store.begin().await?;
    ctx.queue
        .enqueue(&tx, job_with(JobKind::Generate, json!({})))
        .await?;
    assert!(
        ctx.queue
            .claim(&[JobKind::Generate], "w", LONG, 10)
            .await?
            .is_empty()
    );
    tx.commit().await?;
    claim_one(&ctx, &[JobKind::Generate], "w", LONG).await;
    Ok(())
}

/// Companions (the insights of one account's other posts) are claimed by their keys: only
/// those due and not held by another worker, and no more than asked for.
async fn claim_keys_takes_only_due_available_jobs_with_those_keys(ctx: Ctx) -> anyhow::Result<()> {
    let payload = |n: u32| json!({ "post_id": format!("p{n}") });
    for (n, delay) in [
        (1, Duration::ZERO),
        (2, Duration::ZERO),
        (3, Duration::from_secs(3600)),
        (4, Duration::ZERO),
        (5, Duration::ZERO),
    ] {
        let job = job_with(JobKind::Insights, payload(n))
            .unique(format!("insights:p{n}:0"))
            .delayed_by(delay);
        enqueue(&ctx, job).await?;
    }
    // p4's job is held by another worker.
    let held = ctx
        .queue
        .claim_keys(
            &["insights:p4:0".to_owned()],
            "other",
            LONG,
            10,
            Duration::ZERO,
        )
        .await?;
    assert_eq!(held.len(), 1);
    let keys: Vec<String> = (1..=4).map(|n| format!("insights:p{n}:0")).collect();
    let got = ctx
        .queue
        .claim_keys(&keys, "me", LONG, 10, Duration::from_secs(60))
        .await?;
    let mut posts: Vec<String> = got
        .iter()
        .map(|j| {
            j.payload::<serde_json::Value>()
                .map(|v| v["post_id"].to_string())
        })
        .collect::<Result<_, _>>()?;
    posts.sort();
    assert_eq!(
        posts,
        ["\"p1\"", "\"p2\""],
        "due, available and named: p1 and p2 only"
    );
    let none = ctx
        .queue
        .claim_keys(&keys, "me", LONG, 10, Duration::from_secs(60))
        .await?;
    assert!(none.is_empty(), "claimed jobs are not claimed again");
    let limited = ctx
        .queue
        .claim_keys(
            &["insights:p5:0".to_owned(), "insights:p3:0".to_owned()],
            "me",
            LONG,
            0,
            Duration::ZERO,
        )
        .await?;
    assert!(limited.is_empty(), "a limit of 0 claims nothing");
    assert!(
        ctx.queue
            .claim_keys(&[], "me", LONG, 5, Duration::ZERO)
            .await?
            .is_empty()
    );
    // Due within the horizon: p3 (an hour away) is taken only when an hour ahead is allowed.
    let early = ["insights:p3:0".to_owned()];
    assert!(
        ctx.queue
            .claim_keys(&early, "me", LONG, 5, Duration::from_secs(60))
            .await?
            .is_empty()
    );
    assert_eq!(
        ctx.queue
            .claim_keys(&early, "me", LONG, 5, Duration::from_secs(7200))
            .await?
            .len(),
        1
    );
    Ok(())
}
