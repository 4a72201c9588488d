//! Retention purges delete old finished jobs and delivery ids and nothing else; store errors
//! of an unwritable database classify as "unavailable".

use std::time::Duration;

use pressroom_core::{JobKind, WorkspaceId};
use pressroom_store::repo::hooks;
use pressroom_store::retention::{self, Purged, Retention};
use pressroom_store::{NewJob, Store};
use serde_json::json;

use crate::harness::{Ctx, fixture};

on_both_backends!(purge_removes_old_finished_jobs_and_deliveries_only);

const DAY_MS: i64 = 86_400_000;

async fn job(ctx: &Ctx, key: &str, state: &str, age_days: i64) -> anyhow::Result<String> {
    let tx = ctx.store.begin().await?;
    ctx.queue
        .enqueue(
            &tx,
            NewJob::new(&WorkspaceId::from("ws"), JobKind::Render, json!({})).unique(key),
        )
        .await?;
    tx.commit().await?;
    let now = ctx.store.now_ms().await?;
    ctx.exec(
        "UPDATE jobs SET state = $1, updated_at = $2 WHERE unique_key = $3",
        vec![state.into(), (now - age_days * DAY_MS).into(), key.into()],
    )
    .await?;
    Ok(key.to_string())
}

async fn purge_removes_old_finished_jobs_and_deliveries_only(ctx: Ctx) -> anyhow::Result<()> {
    for (key, state, age) in [
        ("old-completed", "completed", 30),
        ("old-dead", "dead", 30),
        ("recent-completed", "completed", 1),
        ("old-running", "running", 30),
        ("old-available", "available", 30),
    ] {
        job(&ctx, key, state, age).await?;
    }
    let f = fixture(&ctx, "acme").await?;
    let now = ctx.store.now_ms().await?;
    let hook = hooks::insert(
        &ctx.store,
        ctx.store.conn(),
        now,
        hooks::NewHook {
            workspace_id: &f.ws,
            campaign_id: &f.campaign_id,
            secrets: &["s".to_string()],
            adapter: "generic",
            mapping: &json!({}),
        },
        &crate::harness::TestSealer,
    )
    .await?;
    let conn = ctx.store.conn();
    hooks::record_delivery(&ctx.store, conn, now - 3 * DAY_MS, &hook.id, "old").await?;
    hooks::record_delivery(&ctx.store, conn, now, &hook.id, "new").await?;

    let retention = Retention {
        jobs: Duration::from_secs(7 * 86_400),
        hook_deliveries: Duration::from_secs(86_400),
    };
    let purged = retention::purge(&ctx.store, &retention).await?;
    assert_eq!(
        purged,
        Purged {
            jobs: 2,
            hook_deliveries: 1
        }
    );
    let mut left = Vec::new();
    for key in [
        "old-completed",
        "old-dead",
        "recent-completed",
        "old-running",
        "old-available",
    ] {
        let n = ctx
            .count(
                "SELECT COUNT(*) AS n FROM jobs WHERE unique_key = $1",
                vec![key.into()],
            )
            .await?;
        if n == 1 {
            left.push(key);
        }
    }
    assert_eq!(left, ["recent-completed", "old-running", "old-available"]);
    assert_eq!(hooks::delivery_count(&ctx.store, &hook.id).await?, 1);
    // A delivery id still inside its retention keeps deduping.
    assert!(!hooks::record_delivery(&ctx.store, conn, now, &hook.id, "new").await?);
    assert_eq!(
        retention::purge(&ctx.store, &retention).await?,
        Purged::default()
    );
    Ok(())
}

/// A database file this process may not write (opened read-only, as with a read-only
/// mount): reads work, writes fail with an error that says "unavailable", not a bug.
#[tokio::test]
async fn writes_to_a_read_only_sqlite_file_are_unavailable() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("p.db");
    let rw = Store::connect(&format!("sqlite://{}?mode=rwc", path.display())).await?;
    rw.migrate().await?;
    rw.conn().clone().close().await?;
    let ro = Store::connect(&format!("sqlite://{}?mode=ro", path.display())).await?;
    ro.ping().await?;
    let tx = ro.begin().await;
    let err = match tx {
        Err(e) => e,
        Ok(tx) => {
            let queue = pressroom_store::Queue::new(ro.clone());
            match queue
                .enqueue(
                    &tx,
                    NewJob::new(&WorkspaceId::from("ws"), JobKind::Render, json!({})),
                )
                .await
            {
                Err(e) => e,
                Ok(_) => anyhow::bail!("a write to a read-only database succeeded"),
            }
        }
    };
    assert!(err.is_unavailable(), "{err:?}");
    Ok(())
}
