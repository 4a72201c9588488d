//! `keyring rotate` on a live deployment: the re-seal is a compare-and-swap per account, so a
//! token refresh that lands between its read and its write is re-sealed, never overwritten
//! with the stale tokens it read.

use super::*;

/// [`TestCipher`]'s format under a chosen key id: seals with `key`, opens any key's records.
struct KeyedCipher(&'static str);

impl TokenCipher for KeyedCipher {
    fn seal(
        &self,
        plaintext: &SecretString,
        slot: TokenSlot<'_>,
    ) -> anyhow::Result<(String, String)> {
        let (_, sealed) = TestCipher.seal(plaintext, slot)?;
        Ok((self.0.into(), format!("{}:{sealed}", self.0)))
    }

    fn open(&self, sealed: &str, slot: TokenSlot<'_>) -> anyhow::Result<SecretString> {
        let inner = sealed.split_once(':').map_or(sealed, |(_, s)| s);
        TestCipher.open(inner, slot)
    }
}

async fn reseal_keeps_a_concurrent_refresh(db: &TestDb) {
    let (ws, account_id) = fixture(&db.store, false, 0).await;
    // The rotation reads the row...
    let (read, old) = stored(&db.store, &ws, &account_id).await;
    // ...a daemon refreshes meanwhile (TikTok-style: the refresh token rotates; the old
    // one is dead from now on)...
    let now = db.store.now_ms().await.expect("now");
    let refreshed = Credentials {
        access_token: SecretString::from("at-new"),
        refresh_token: Some(SecretString::from("rt-new")),
        expires_at: Some(Utc::now() + chrono::Duration::hours(24)),
        extra: json!({"page": "p1"}),
    };
    pressroom_runtime::tokens::store_refreshed(&db.store, &TestCipher, &read, &old, refreshed, now)
        .await
        .expect("refresh stored");
    // ...then the rotation writes, starting from what it read.
    let done = pressroom_runtime::tokens::reseal_account(&db.store, &KeyedCipher("k2"), read)
        .await
        .expect("re-sealed");
    assert_eq!(done, pressroom_runtime::tokens::Resealed::Done);
    let row = accounts::get(db.store.conn(), &ws, &account_id)
        .await
        .expect("account");
    assert_eq!(row.key_id.as_deref(), Some("k2"));
    let open = |sealed: &Option<String>, slot| {
        KeyedCipher("k2")
            .open(sealed.as_deref().expect("sealed"), slot)
            .expect("opens")
    };
    assert!(
        row.access_token_sealed
            .as_deref()
            .is_some_and(|s| s.starts_with("k2:"))
    );
    assert_eq!(
        open(
            &row.access_token_sealed,
            TokenSlot::access(&ws, &account_id)
        )
        .expose_secret(),
        "at-new"
    );
    assert_eq!(
        open(
            &row.refresh_token_sealed,
            TokenSlot::refresh(&ws, &account_id)
        )
        .expose_secret(),
        "rt-new",
        "the refresh token rotated during the re-seal is kept"
    );
}

#[tokio::test]
async fn reseal_keeps_a_concurrent_refresh_sqlite() {
    let db = TestDb::sqlite().await;
    reseal_keeps_a_concurrent_refresh(&db).await;
    db.drop_db().await;
}

#[tokio::test]
async fn reseal_keeps_a_concurrent_refresh_postgres() {
    let db = TestDb::postgres("pressroom_runtime").await;
    reseal_keeps_a_concurrent_refresh(&db).await;
    db.drop_db().await;
}
