//! Migrations and the database clock.

use std::time::Duration;

use pressroom_store::{Backend, Store};
use sea_orm::{ConnectionTrait, Statement};

use crate::harness::{Ctx, wall_ms};

on_both_backends!(
    migrations_apply_and_rerun_is_a_no_op,
    db_clock_is_sane,
    foreign_keys_are_enforced_and_sqlite_runs_in_wal_mode,
    duplicate_assets_are_merged_by_m0005,
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
        // FULL (2): a commit is on disk before it returns, so the `committing` write precedes
        // the platform call durably (NORMAL, 1, may lose it to a power cut).
        let synchronous = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "PRAGMA synchronous",
            ))
            .await?
            .expect("a row")
            .try_get_by_index::<i64>(0)?;
        assert_eq!(synchronous, 2, "PRAGMA synchronous");
    }
    Ok(())
}

/// m0005 merges assets stored twice for one generation key (possible before its unique
/// index): the oldest row stays, the run and rendition that pointed at the newer one move to
/// it, and a further duplicate is refused by the index.
async fn duplicate_assets_are_merged_by_m0005(ctx: Ctx) -> anyhow::Result<()> {
    use pressroom_migration::MigratorTrait;
    let fx = crate::harness::fixture(&ctx, "acme").await?;
    let other = crate::harness::fixture(&ctx, "other").await?;
    // Back to the schema before m0005, however many migrations came after it.
    let from_m0005 = pressroom_migration::Migrator::migrations()
        .iter()
        .skip_while(|m| m.name() != "m0005_one_asset_per_generation_key")
        .count();
    anyhow::ensure!(from_m0005 > 0, "m0005 is not among the migrations");
    pressroom_migration::Migrator::down(ctx.store.conn(), Some(from_m0005 as u32)).await?;
    // Copies of the fixture's asset, made later, under new ids.
    let insert_copy = |id: &'static str, at: i64| {
        ctx.exec(
            "INSERT INTO assets (id, workspace_id, sha256, generation_key, generator, params, \
             path, width, height, created_at) \
             SELECT $1, workspace_id, sha256, generation_key, generator, params, path, width, \
             height, created_at + $2 FROM assets WHERE id = $3",
            vec![id.into(), at.into(), fx.asset_id.clone().into()],
        )
    };
    insert_copy("zz-newer", 1000).await?;
    insert_copy("zz-newest", 2000).await?;
    ctx.exec(
        "UPDATE runs SET asset_id = $1 WHERE id = $2",
        vec!["zz-newest".into(), fx.run_id.clone().into()],
    )
    .await?;
    ctx.exec(
        "UPDATE renditions SET asset_id = $1 WHERE id = $2",
        vec!["zz-newer".into(), fx.rendition_id.clone().into()],
    )
    .await?;

    ctx.store.migrate().await?;
    let ids = |ws: pressroom_core::WorkspaceId| {
        ctx.count(
            "SELECT COUNT(*) AS n FROM assets WHERE workspace_id = $1",
            vec![ws.into()],
        )
    };
    assert_eq!(ids(fx.ws.clone()).await?, 1, "duplicates merged");
    assert_eq!(ids(other.ws.clone()).await?, 1, "other workspace untouched");
    for (table, id) in [
        ("runs", fx.run_id.as_str()),
        ("renditions", &fx.rendition_id),
    ] {
        let pointing = ctx
            .count(
                &format!("SELECT COUNT(*) AS n FROM {table} WHERE id = $1 AND asset_id = $2"),
                vec![id.into(), fx.asset_id.clone().into()],
            )
            .await?;
        assert_eq!(pointing, 1, "{table} {id} moved to the kept asset");
    }
    let refused = insert_copy("zz-again", 3000).await;
    assert!(refused.is_err(), "the unique index refuses a duplicate");
    Ok(())
}
