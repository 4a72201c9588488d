//! Outbound webhook endpoints: every call is scoped by workspace, the event filter and the
//! enabled flag decide who hears an event, and a disable happens once.

use pressroom_core::PostEvent;
use pressroom_store::StoreError;
use pressroom_store::repo::webhook_endpoints::{self, NewEndpoint};
use pressroom_store::repo::workspaces;

use crate::harness::{Ctx, TestSealer};

on_both_backends!(
    endpoints_are_scoped_filtered_and_disabled_once,
    webhook_secrets_are_stored_sealed_and_old_plaintext_is_sealed_at_start
);

fn new<'a>(
    workspace_id: &'a pressroom_core::WorkspaceId,
    events: &'a [PostEvent],
) -> NewEndpoint<'a> {
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
    let all = webhook_endpoints::insert(
        store,
        store.conn(),
        now,
        new(&a.id, &PostEvent::ALL),
        &TestSealer,
    )
    .await?;
    let failed = webhook_endpoints::insert(
        store,
        store.conn(),
        now,
        new(&a.id, &[PostEvent::Failed]),
        &TestSealer,
    )
    .await?;
    let other = webhook_endpoints::insert(
        store,
        store.conn(),
        now,
        new(&b.id, &PostEvent::ALL),
        &TestSealer,
    )
    .await?;
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

/// Issue 11, finding 8: no `whsec_` reaches the table. Hook and endpoint secrets are written
/// sealed for their row (a value moved to another row does not open), read back in the clear
/// through the sealer, and rows written in the clear before sealing existed are still read
/// and then sealed, once, by the start-up pass.
async fn webhook_secrets_are_stored_sealed_and_old_plaintext_is_sealed_at_start(
    ctx: Ctx,
) -> anyhow::Result<()> {
    use pressroom_store::repo::hooks;
    use sea_orm::{ConnectionTrait, Statement};

    let f = crate::harness::fixture(&ctx, "seal").await?;
    let store = &ctx.store;
    let now = store.now_ms().await?;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string();
    let endpoint = webhook_endpoints::insert(
        store,
        store.conn(),
        now,
        new(&f.ws, &PostEvent::ALL),
        &TestSealer,
    )
    .await?;
    assert!(!endpoint.secret.contains("whsec_"), "{}", endpoint.secret);
    assert_eq!(endpoint.signing_secret(&TestSealer)?, secret);
    let mut moved = endpoint.clone();
    moved.id = "another-row".into();
    assert!(matches!(
        moved.signing_secret(&TestSealer),
        Err(StoreError::Sealing(_))
    ));

    let hook = hooks::insert(
        store,
        store.conn(),
        now,
        hooks::NewHook {
            workspace_id: &f.ws,
            campaign_id: &f.campaign_id,
            secrets: std::slice::from_ref(&secret),
            adapter: "generic",
            mapping: &serde_json::json!({}),
        },
        &TestSealer,
    )
    .await?;
    assert!(!hook.secrets.contains("whsec_"), "{}", hook.secrets);
    assert_eq!(hook.secrets(&TestSealer)?, vec![secret.clone()]);

    // Rows from before sealing: plaintext, still read, then sealed by the start-up pass.
    let backend = store.conn().get_database_backend();
    let raw = |sql: String| Statement::from_string(backend, sql);
    store
        .conn()
        .execute_raw(raw(format!(
            "UPDATE hooks SET secrets = '[\"{secret}\"]' WHERE id = '{}'",
            hook.id
        )))
        .await?;
    store
        .conn()
        .execute_raw(raw(format!(
            "UPDATE webhook_endpoints SET secret = '{secret}' WHERE id = '{}'",
            endpoint.id
        )))
        .await?;
    let old_hook = hooks::get(store, &f.ws, &hook.id).await?;
    assert_eq!(old_hook.secrets(&TestSealer)?, vec![secret.clone()]);
    assert_eq!(hooks::seal_plaintext(store, &TestSealer).await?, 1);
    assert_eq!(
        webhook_endpoints::seal_plaintext(store, &TestSealer).await?,
        1
    );
    assert_eq!(hooks::seal_plaintext(store, &TestSealer).await?, 0);
    for (table, column) in [("hooks", "secrets"), ("webhook_endpoints", "secret")] {
        let rows = store
            .conn()
            .query_all_raw(raw(format!("SELECT {column} AS v FROM {table}")))
            .await?;
        for r in rows {
            let v: String = r.try_get("", "v")?;
            assert!(!v.contains("whsec_"), "{table}.{column} holds {v}");
        }
    }
    let sealed_hook = hooks::get(store, &f.ws, &hook.id).await?;
    assert_eq!(sealed_hook.secrets(&TestSealer)?, vec![secret.clone()]);
    let sealed_endpoint = webhook_endpoints::get(store.conn(), &f.ws, &endpoint.id).await?;
    assert_eq!(sealed_endpoint.signing_secret(&TestSealer)?, secret);
    Ok(())
}
