//! Post metrics as series: each fetch a row, the newest measured one read by reports, a
//! post deleted on the platform marked and its numbers kept, the published time set once,
//! an account's insights problem recorded once, everything erased with the workspace.

use pressroom_core::{Platform, PostState};
use pressroom_store::repo::insights::{self, NewFetch, Outcome};
use pressroom_store::repo::{accounts, erase, posts};
use serde_json::json;

use crate::harness::{Ctx, fixture};

on_both_backends!(
    a_series_keeps_every_fetch_and_reports_read_the_newest_numbers,
    an_insights_problem_is_recorded_once_and_cleared_by_a_reconnect,
);

async fn a_series_keeps_every_fetch_and_reports_read_the_newest_numbers(
    ctx: Ctx,
) -> anyhow::Result<()> {
    let fx = fixture(&ctx, "acme").await?;
    let other = fixture(&ctx, "other").await?;
    let store = &ctx.store;
    let conn = store.conn();
    let t0 = store.now_ms().await?;
    posts::set_state(
        store,
        conn,
        t0,
        &fx.post_id,
        PostState::Published,
        Some("r-1"),
        None,
        None,
    )
    .await?;
    // A later state write (a reconcile, a comment) does not move the publishing time.
    posts::set_state(
        store,
        conn,
        t0 + 5_000,
        &fx.post_id,
        PostState::Published,
        None,
        None,
        None,
    )
    .await?;
    assert_eq!(
        posts::get(conn, &fx.ws, &fx.post_id).await?.published_at,
        Some(t0)
    );

    let fetch = |outcome, metrics, note, metrics_id| NewFetch {
        workspace_id: &fx.ws,
        post_id: &fx.post_id,
        platform: Platform::Sandbox,
        outcome,
        metrics,
        raw: Some(json!({"data": []})),
        note,
        metrics_id,
    };
    insights::record(
        store,
        conn,
        t0 + 1,
        fetch(Outcome::NotYet, json!({}), Some("no data yet"), None),
    )
    .await?;
    insights::record(
        store,
        conn,
        t0 + 2,
        fetch(
            Outcome::Measured,
            json!({"views": 10}),
            None,
            Some("7678907398077074696"),
        ),
    )
    .await?;
    insights::record(
        store,
        conn,
        t0 + 3,
        fetch(
            Outcome::Measured,
            json!({"views": 25, "likes": 0}),
            None,
            None,
        ),
    )
    .await?;

    let series = insights::series(conn, &fx.ws, &fx.post_id).await?;
    assert_eq!(
        series
            .iter()
            .map(|r| r.outcome.as_str())
            .collect::<Vec<_>>(),
        ["not_yet", "measured", "measured"]
    );
    assert!(
        insights::series(conn, &other.ws, &fx.post_id)
            .await?
            .is_empty()
    );
    assert_eq!(
        insights::metrics_id(conn, &fx.ws, &fx.post_id)
            .await?
            .as_deref(),
        Some("7678907398077074696")
    );

    let rows = insights::published_between(store, conn, &fx.ws, t0, t0 + 1, 100).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].campaign_name, "spring");
    assert_eq!(rows[0].rendition_path, "renditions/cd34.jpg");
    assert!(
        insights::published_between(store, conn, &fx.ws, t0 + 1, t0 + 10, 100)
            .await?
            .is_empty()
    );
    let ids = vec![fx.post_id.clone()];
    let latest = insights::latest(store, conn, &fx.ws, &ids).await?;
    let newest = latest.get(&fx.post_id).and_then(|l| l.measured.clone());
    let newest: Option<serde_json::Value> = newest
        .map(|r| serde_json::from_str(&r.metrics))
        .transpose()?;
    assert_eq!(newest, Some(json!({"views": 25, "likes": 0})));
    assert!(!latest[&fx.post_id].gone);

    // Deleted on the platform: marked, and the numbers stay.
    insights::record(
        store,
        conn,
        t0 + 4,
        fetch(Outcome::Gone, json!({}), None, None),
    )
    .await?;
    let latest = insights::latest(store, conn, &fx.ws, &ids).await?;
    assert!(latest[&fx.post_id].gone);
    assert!(latest[&fx.post_id].measured.is_some());

    let tx = store.begin().await?;
    let erased = erase::erase_workspace(store, &tx, &fx.ws).await?;
    tx.commit().await?;
    assert_eq!(erased.post_metrics, 4);
    assert!(
        insights::series(conn, &fx.ws, &fx.post_id)
            .await?
            .is_empty()
    );
    Ok(())
}

async fn an_insights_problem_is_recorded_once_and_cleared_by_a_reconnect(
    ctx: Ctx,
) -> anyhow::Result<()> {
    let fx = fixture(&ctx, "acme").await?;
    let store = &ctx.store;
    let conn = store.conn();
    let why = Some("reconnect the Facebook Page and grant read_insights");
    assert!(accounts::set_insights_problem(store, conn, &fx.ws, &fx.account_id, why).await?);
    assert!(!accounts::set_insights_problem(store, conn, &fx.ws, &fx.account_id, why).await?);
    let account = accounts::get(conn, &fx.ws, &fx.account_id).await?;
    assert_eq!(account.insights_problem.as_deref(), why);
    assert!(accounts::set_insights_problem(store, conn, &fx.ws, &fx.account_id, None).await?);
    assert!(!accounts::set_insights_problem(store, conn, &fx.ws, &fx.account_id, None).await?);
    accounts::set_insights_problem(store, conn, &fx.ws, &fx.account_id, why).await?;
    let now = store.now_ms().await?;
    accounts::upsert(
        conn,
        now,
        crate::harness::account_input(&fx.ws, "main", Some("r2")),
    )
    .await?;
    let account = accounts::get(conn, &fx.ws, &fx.account_id).await?;
    assert_eq!(account.insights_problem, None, "a reconnect clears it");
    Ok(())
}
