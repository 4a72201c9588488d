//! Outbound webhook endpoints: every call is scoped by workspace, the event filter and the
//! enabled flag decide who hears an event, and a disable happens once.

use pressroom_core::PostEvent;
use pressroom_store::StoreError;
use pressroom_store::repo::webhook_endpoints::{self, NewEndpoint};
use pressroom_store::repo::workspaces;

use crate::harness::Ctx;

on_both_backends!(endpoints_are_scoped_filtered_and_disabled_once);

fn new<'a>(workspace_id: &'a str, events: &'a [PostEvent]) -> NewEndpoint<'a> {
    NewEndpoint {
        workspace_id,
        url: "https://hooks.example.com/in",
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        events,
        description: "",
    }
}

async fn endpoints_are_scoped_filtered_and_disabled_once(ctx: Ctx) -> anyhow::Result<()> {
    let store = &ctx.store;
    let a = workspaces::ensure(store, "wh-a", "A").await?;
    let b = workspaces::ensure(store, "wh-b", "B").await?;
    let now = store.now_ms().await?;
    let all =
        webhook_endpoints::insert(store, store.conn(), now, new(&a.id, &PostEvent::ALL)).await?;
    let failed =
        webhook_endpoints::insert(store, store.conn(), now, new(&a.id, &[PostEvent::Failed]))
            .await?;
    let other =
        webhook_endpoints::insert(store, store.conn(), now, new(&b.id, &PostEvent::ALL)).await?;
    assert!(all.is_enabled());
    assert_eq!(failed.event_types()?, vec![PostEvent::Failed]);

    // Another workspace's id answers not found, for reads and deletes alike.
    let err = webhook_endpoints::get(store.conn(), &b.id, &all.id).await;
    assert!(matches!(err, Err(StoreError::NotFound { .. })), "{err:?}");
    let err = webhook_endpoints::delete(store, store.conn(), &b.id, &all.id).await;
    assert!(matches!(err, Err(StoreError::NotFound { .. })), "{err:?}");
    let listed = webhook_endpoints::list(store, &a.id, None, 10).await?;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|e| e.workspace_id == a.id));

    let ids = |rows: Vec<pressroom_store::entity::webhook_endpoint::Model>| {
        rows.into_iter().map(|e| e.id).collect::<Vec<_>>()
    };
    let published =
        webhook_endpoints::subscribed(store.conn(), &a.id, PostEvent::Published).await?;
    assert_eq!(ids(published), vec![all.id.clone()]);
    let mut on_failure =
        ids(webhook_endpoints::subscribed(store.conn(), &a.id, PostEvent::Failed).await?);
    on_failure.sort();
    let mut want = vec![all.id.clone(), failed.id.clone()];
    want.sort();
    assert_eq!(on_failure, want);

    // Disabled endpoints hear nothing; disabling twice reports the second as a no-op, and
    // another workspace cannot disable it at all.
    assert!(!webhook_endpoints::disable(store, store.conn(), now, &b.id, &all.id, "x").await?);
    assert!(webhook_endpoints::disable(store, store.conn(), now, &a.id, &all.id, "410").await?);
    assert!(!webhook_endpoints::disable(store, store.conn(), now, &a.id, &all.id, "410").await?);
    let row = webhook_endpoints::get(store.conn(), &a.id, &all.id).await?;
    assert!(!row.is_enabled());
    assert_eq!(row.disabled_reason.as_deref(), Some("410"));
    let published =
        webhook_endpoints::subscribed(store.conn(), &a.id, PostEvent::Published).await?;
    assert!(published.is_empty());
    let b_hears = webhook_endpoints::subscribed(store.conn(), &b.id, PostEvent::Published).await?;
    assert_eq!(ids(b_hears), vec![other.id.clone()]);

    webhook_endpoints::delete(store, store.conn(), &a.id, &failed.id).await?;
    assert_eq!(
        webhook_endpoints::list(store, &a.id, None, 10).await?.len(),
        1
    );
    Ok(())
}
