//! Idempotency-Key records: scoped by API key (another key of the workspace never sees them),
//! a secret-carrying response is stored without its body, and a record past its retention is
//! neither honoured nor kept.

use pressroom_store::repo::idempotency::{self, Claim, ClaimClock, Owner, status};

use crate::harness::Ctx;

on_both_backends!(
    records_belong_to_the_api_key_not_the_workspace,
    expired_records_are_replaced_and_purged,
);

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn clock(now_ms: i64) -> ClaimClock {
    ClaimClock {
        now_ms,
        stale_ms: 300_000,
        retention_ms: DAY_MS,
    }
}

async fn records_belong_to_the_api_key_not_the_workspace(ctx: Ctx) -> anyhow::Result<()> {
    let store = &ctx.store;
    let owner = Owner {
        api_key_id: "key-owner",
        workspace_id: &pressroom_core::WorkspaceId::from("ws-1"),
    };
    let admin = Owner {
        api_key_id: "key-admin",
        workspace_id: &pressroom_core::WorkspaceId::from("ws-1"),
    };
    let now = store.now_ms().await?;
    let first = idempotency::claim(store, owner, "k", "hash-owner", clock(now)).await?;
    assert_eq!(first, Claim::Claimed);
    idempotency::finish(store, owner.api_key_id, "k", 201, None).await?;
    // The same Idempotency-Key from another key of the same workspace is a new claim.
    let other = idempotency::claim(store, admin, "k", "hash-admin", clock(now)).await?;
    assert_eq!(other, Claim::Claimed);
    idempotency::finish(store, admin.api_key_id, "k", 200, Some("{\"ok\":true}")).await?;
    // The owner's record kept its status and no body (it carried a secret).
    let Claim::Existing(row) =
        idempotency::claim(store, owner, "k", "hash-owner", clock(now)).await?
    else {
        anyhow::bail!("the owner's record is gone");
    };
    assert_eq!(row.status, status::DONE);
    assert_eq!(row.response_status, Some(201));
    assert_eq!(row.response_body, None);
    assert_eq!(row.workspace_id, "ws-1");
    let Claim::Existing(row) =
        idempotency::claim(store, admin, "k", "hash-admin", clock(now)).await?
    else {
        anyhow::bail!("the admin's record is gone");
    };
    assert_eq!(row.response_body.as_deref(), Some("{\"ok\":true}"));
    Ok(())
}

async fn expired_records_are_replaced_and_purged(ctx: Ctx) -> anyhow::Result<()> {
    let store = &ctx.store;
    let owner = Owner {
        api_key_id: "key-1",
        workspace_id: &pressroom_core::WorkspaceId::from("ws-1"),
    };
    let t0 = store.now_ms().await?;
    assert_eq!(
        idempotency::claim(store, owner, "old", "h1", clock(t0)).await?,
        Claim::Claimed
    );
    idempotency::finish(store, owner.api_key_id, "old", 200, Some("{}")).await?;
    assert_eq!(
        idempotency::claim(store, owner, "young", "h2", clock(t0 + DAY_MS)).await?,
        Claim::Claimed
    );
    // Within the retention the record answers; past it, a claim takes the key afresh, even
    // for another request.
    assert!(matches!(
        idempotency::claim(store, owner, "old", "h1", clock(t0 + DAY_MS)).await?,
        Claim::Existing(_)
    ));
    let later = t0 + DAY_MS + 1;
    assert_eq!(
        idempotency::claim(store, owner, "old", "other", clock(later)).await?,
        Claim::Claimed
    );
    // The purge deletes what was created before the cut and keeps the rest.
    idempotency::release(store, owner.api_key_id, "old").await?;
    assert_eq!(
        idempotency::claim(store, owner, "stale", "h3", clock(t0)).await?,
        Claim::Claimed
    );
    let purged = idempotency::purge(store, t0 + 1).await?;
    assert_eq!(purged, 1, "only the record created at t0");
    let left = ctx
        .count("SELECT COUNT(*) AS n FROM idempotency_keys", vec![])
        .await?;
    assert_eq!(left, 1, "the young record stays");
    Ok(())
}
