//! `page::newest_first` returns exactly what the plain sea-orm query returns — same rows,
//! same order, same values, NULLs and awkward text included — on both backends.

use pressroom_store::repo::{audit as audit_repo, runs};
use pressroom_store::testing::newest_first;
use pressroom_store::testing::schema::{audit, campaign, run, workspace};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::harness::{Ctx, fixture};

on_both_backends!(pages_match_the_plain_query);

async fn pages_match_the_plain_query(ctx: Ctx) -> anyhow::Result<()> {
    let fx = fixture(&ctx, "acme").await?;
    let other = fixture(&ctx, "other").await?;
    let store = &ctx.store;
    let now = store.now_ms().await?;
    // Runs whose variables hold quotes, backslashes, newlines, non-ASCII text and nested JSON.
    for i in 0..7 {
        let vars = serde_json::json!({
            "n": i,
            "text": format!("\"quoted\" \\ back\nslash — ünïcode 🧵 {i}"),
            "nested": {"list": [1, 2.5, null, true]},
        });
        runs::insert_fire(
            store,
            store.conn(),
            now + i,
            runs::NewRun {
                workspace_id: &fx.ws,
                campaign_id: &fx.campaign_id,
                fire_key: &format!("k-{i}"),
                fire_at_ms: now + i,
                trigger: "api",
                state: if i % 2 == 0 {
                    pressroom_core::RunState::Queued
                } else {
                    pressroom_core::RunState::Failed
                },
                variables: &vars,
            },
        )
        .await?;
    }
    audit_repo::record(
        store.conn(),
        now,
        &fx.ws,
        "key:1",
        "campaign.created",
        "c1",
        serde_json::json!({"why": "a \"test\""}),
    )
    .await?;

    let plain = |limit: u64| {
        run::Entity::find()
            .filter(run::Column::WorkspaceId.eq(fx.ws.as_str()))
            .order_by_desc(run::Column::Id)
            .limit(limit)
    };
    for limit in [1, 3, 8, 50] {
        let select = run::Entity::find().filter(run::Column::WorkspaceId.eq(fx.ws.as_str()));
        let got = newest_first(store, select, run::Column::Id, limit).await?;
        let want = plain(limit).all(store.conn()).await?;
        anyhow::ensure!(got == want, "runs, limit {limit}:\n{got:#?}\n!=\n{want:#?}");
        anyhow::ensure!(
            got.len() as u64 == limit.min(8),
            "limit {limit}: {}",
            got.len()
        );
    }
    // Filters, a cursor, and a page with no rows.
    let all = plain(50).all(store.conn()).await?;
    let after = all[2].id.clone();
    let select = run::Entity::find()
        .filter(run::Column::WorkspaceId.eq(fx.ws.as_str()))
        .filter(run::Column::State.eq(pressroom_core::RunState::Failed))
        .filter(run::Column::Id.lt(after.as_str()));
    let got = newest_first(store, select.clone(), run::Column::Id, 50).await?;
    let want = select
        .order_by_desc(run::Column::Id)
        .limit(50)
        .all(store.conn())
        .await?;
    anyhow::ensure!(
        !want.is_empty() && got == want,
        "filtered: {got:#?} != {want:#?}"
    );
    let none = run::Entity::find().filter(run::Column::WorkspaceId.eq("no-such-workspace"));
    anyhow::ensure!(
        newest_first(store, none, run::Column::Id, 50)
            .await?
            .is_empty()
    );

    // Other entities the API pages through: nullable columns, integers, JSON text.
    let campaigns = newest_first(store, campaign::Entity::find(), campaign::Column::Id, 10).await?;
    let want = campaign::Entity::find()
        .order_by_desc(campaign::Column::Id)
        .all(store.conn())
        .await?;
    anyhow::ensure!(campaigns == want && campaigns.len() == 2, "{campaigns:#?}");
    let entries = newest_first(
        store,
        audit::Entity::find().filter(audit::Column::WorkspaceId.eq(fx.ws.as_str())),
        audit::Column::Id,
        10,
    )
    .await?;
    let want = audit::Entity::find()
        .filter(audit::Column::WorkspaceId.eq(fx.ws.as_str()))
        .order_by_desc(audit::Column::Id)
        .all(store.conn())
        .await?;
    anyhow::ensure!(entries == want && !entries.is_empty(), "{entries:#?}");
    let spaces = newest_first(store, workspace::Entity::find(), workspace::Column::Id, 10).await?;
    let ids: Vec<&str> = spaces.iter().map(|w| w.id.as_str()).collect();
    anyhow::ensure!(
        ids.len() == 2 && ids.contains(&other.ws.as_str()),
        "{ids:?}"
    );
    Ok(())
}

/// A page is an index walk that stops after `limit` rows (m0006's `(workspace_id, id)`
/// indexes), never a sort of all the workspace's rows, for every table the API lists.
/// SQLite only: PostgreSQL's planner rightly sorts small tables, so its plan proves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pages_walk_an_index_without_sorting() {
    crate::harness::run(
        pressroom_store::Backend::Sqlite,
        "sqlite_pages_walk_an_index_without_sorting",
        pages_walk_an_index,
    )
    .await;
}

async fn pages_walk_an_index(ctx: Ctx) -> anyhow::Result<()> {
    use pressroom_store::testing::schema::{asset, post};
    use sea_orm::sea_query::SqliteQueryBuilder;
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

    let queries = [
        (
            "campaigns",
            page_query::<campaign::Entity>(campaign::Column::WorkspaceId, campaign::Column::Id),
        ),
        (
            "runs",
            page_query::<run::Entity>(run::Column::WorkspaceId, run::Column::Id),
        ),
        (
            "posts",
            page_query::<post::Entity>(post::Column::WorkspaceId, post::Column::Id),
        ),
        (
            "assets",
            page_query::<asset::Entity>(asset::Column::WorkspaceId, asset::Column::Id),
        ),
        (
            "audit_log",
            page_query::<audit::Entity>(audit::Column::WorkspaceId, audit::Column::Id),
        ),
    ];
    // EXPLAIN starts no read transaction, so it would plan with whatever schema a pooled
    // connection loaded before the migrations ran. In a transaction, a real read first makes
    // the connection notice the new schema.
    let tx = ctx.store.conn().begin().await?;
    tx.query_one_raw(Statement::from_string(
        DbBackend::Sqlite,
        "SELECT COUNT(*) FROM sqlite_master",
    ))
    .await?;
    for (table, query) in queries {
        let (sql, values) = query.build(SqliteQueryBuilder);
        let rows = tx
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!("EXPLAIN QUERY PLAN {sql}"),
                values,
            ))
            .await?;
        let plan = rows
            .iter()
            .map(|r| r.try_get::<String>("", "detail"))
            .collect::<Result<Vec<_>, _>>()?
            .join("; ");
        anyhow::ensure!(
            plan.contains(&format!("INDEX {table}_page")) && !plan.contains("TEMP B-TREE"),
            "{table}: {plan}"
        );
    }
    tx.rollback().await?;
    Ok(())
}

/// The second page of a workspace's rows as the API asks for it: newest first after a cursor.
fn page_query<E: EntityTrait>(
    workspace: E::Column,
    id: E::Column,
) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::QueryTrait;
    E::find()
        .filter(workspace.eq("w"))
        .filter(id.lt("cursor"))
        .order_by_desc(id)
        .limit(51)
        .into_query()
}
