//! Migrations and the database clock.

use std::time::Duration;

use pressroom_store::{Backend, Store};
use sea_orm::{ConnectionTrait, Statement};

use crate::harness::{Ctx, wall_ms};

on_both_backends!(
    migrations_apply_and_rerun_is_a_no_op,
    db_clock_is_sane,
    foreign_keys_are_enforced_and_sqlite_runs_in_wal_mode,
);

async fn migrations_apply_and_rerun_is_a_no_op(ctx: Ctx) -> anyhow::Result<()> {
    // The harness migrated already: nothing is pending and every table is there and empty.
    assert_eq!(ctx.store.pending_migrations().await?, 0);
    for table in [
        "workspaces",
        "campaigns",
        "runs",
        "assets",
        "renditions",
        "accounts",
        "posts",
        "attempts",
        "jobs",
        "audit_log",
        "webhook_endpoints",
    ] {
        let n = ctx
            .count(&format!("SELECT COUNT(*) AS n FROM {table}"), vec![])
            .await?;
        assert_eq!(n, 0, "{table} should exist and be empty");
    }
    let applied = ctx
        .count("SELECT COUNT(*) AS n FROM seaql_migrations", vec![])
        .await?;
    let all = <pressroom_migration::Migrator as pressroom_migration::MigratorTrait>::migrations()
        .len() as i64;
    assert_eq!(applied, all, "every migration recorded once");

    // Running again, from this pool and from a fresh connection (a restarted daemon), changes
    // nothing and fails nothing.
    ctx.store.migrate().await?;
    let again: Store = ctx.connect_again().await?;
    again.migrate().await?;
    assert_eq!(again.pending_migrations().await?, 0);
    let applied_after = ctx
        .count("SELECT COUNT(*) AS n FROM seaql_migrations", vec![])
        .await?;
    assert_eq!(applied_after, applied, "re-running recorded nothing new");
    again.ping().await?;
    Ok(())
}

async fn db_clock_is_sane(ctx: Ctx) -> anyhow::Result<()> {
    let before = wall_ms();
    let db = ctx.store.now_ms().await?;
    let after = wall_ms();
    // Same machine: the database clock is the wall clock, to within a little slack.
    assert!(
        db >= before - 2_000 && db <= after + 2_000,
        "db clock {db} should be within [{before}, {after}] ± 2 s"
    );
    // Milliseconds, not seconds or microseconds: 2026 is about 1.78e12 ms after the epoch.
    assert!(
        (1_700_000_000_000..4_000_000_000_000).contains(&db),
        "{db} is not epoch milliseconds"
    );
    // It moves forward at the right rate.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let later = ctx.store.now_ms().await?;
    assert!(
        later - db >= 45 && later - db < 5_000,
        "50 ms later the db clock moved {} ms",
        later - db
    );
    Ok(())
}

async fn foreign_keys_are_enforced_and_sqlite_runs_in_wal_mode(ctx: Ctx) -> anyhow::Result<()> {
    // A run of a campaign that does not exist is refused on both engines (SQLite only
    // enforces foreign keys when the connection asks for it).
    let orphan = ctx
        .exec(
            "INSERT INTO runs (id, workspace_id, campaign_id, fire_key, trigger, state, \
             variables, fire_at, created_at, updated_at) \
             VALUES ('r', 'no-ws', 'no-campaign', 'k', 'cron', 'queued', '{}', 0, 0, 0)",
            vec![],
        )
        .await;
    assert!(orphan.is_err(), "an orphan run was stored: {orphan:?}");
    assert_eq!(
        ctx.count("SELECT COUNT(*) AS n FROM runs", vec![]).await?,
        0
    );

    if ctx.backend() == Backend::Sqlite {
        let conn = ctx.store.conn();
        let mode = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "PRAGMA journal_mode",
            ))
            .await?
            .expect("a row")
            .try_get_by_index::<String>(0)?;
        assert_eq!(mode.to_lowercase(), "wal");
        let timeout = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "PRAGMA busy_timeout",
            ))
            .await?
            .expect("a row")
            .try_get_by_index::<i64>(0)?;
        assert!(timeout >= 1_000, "busy_timeout is {timeout} ms");
    }
    Ok(())
}
