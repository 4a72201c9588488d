//! How the runtime opens and seals account tokens without knowing the key material: the
//! binary plugs in the keyring from `pressroom-crypto`.

use pressroom_connector::Credentials;
use pressroom_core::{AccountId, Platform, WorkspaceId};
use pressroom_store::entity::account;
use pressroom_store::repo::accounts::TokenSwap;
use pressroom_store::repo::{accounts, audit};
use pressroom_store::sealed::{SecretAt, SecretSealer};
use pressroom_store::{Store, StoreError, Tx};
use secrecy::SecretString;

/// Where a sealed token lives; bound into the AEAD so a sealed value copied to another row,
/// column or workspace does not open.
#[derive(Clone, Copy, Debug)]
pub struct TokenSlot<'a> {
    pub workspace_id: &'a str,
    /// The row the secret is sealed for (an account; a webhook endpoint for row secrets).
    pub account_id: &'a str,
    /// "access_token_sealed" or "refresh_token_sealed".
    pub column: &'static str,
}

impl<'a> TokenSlot<'a> {
    pub fn access(workspace_id: &'a str, account_id: &'a str) -> Self {
        Self {
            workspace_id,
            account_id,
            column: "access_token_sealed",
        }
    }

    pub fn refresh(workspace_id: &'a str, account_id: &'a str) -> Self {
        Self {
            workspace_id,
            account_id,
            column: "refresh_token_sealed",
        }
    }
}

/// Seals and opens tokens.
pub trait TokenCipher: Send + Sync {
    /// Returns `(key_id, sealed)`.
    fn seal(
        &self,
        plaintext: &SecretString,
        slot: TokenSlot<'_>,
    ) -> anyhow::Result<(String, String)>;
    fn open(&self, sealed: &str, slot: TokenSlot<'_>) -> anyhow::Result<SecretString>;

    /// Re-reads the keys from where they came from (the daemon on SIGHUP, after `keyring
    /// rotate`). Ciphers with nothing to re-read do nothing.
    fn reload(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A cipher for deployments with no token-bearing accounts (the sandbox only): it refuses to
/// store any token rather than store it in the clear.
pub struct PlaintextForbidden;

impl TokenCipher for PlaintextForbidden {
    fn seal(&self, _: &SecretString, _: TokenSlot<'_>) -> anyhow::Result<(String, String)> {
        anyhow::bail!("no token key is configured; refusing to store a token unencrypted")
    }

    fn open(&self, _: &str, _: TokenSlot<'_>) -> anyhow::Result<SecretString> {
        anyhow::bail!("no token key is configured; cannot open a stored token")
    }
}

/// An account about to be stored with its tokens.
pub struct NewAccount<'a> {
    pub platform: Platform,
    pub name: &'a str,
    pub external_id: &'a str,
    pub credentials: &'a Credentials,
}

/// Creates or updates an account and stores its tokens sealed with the keyring (the row id is
/// part of the seal's associated data, so the row comes first), with an audit record — all in
/// the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub async fn save_account(
    store: &Store,
    tx: &Tx,
    cipher: &dyn TokenCipher,
    workspace_id: &WorkspaceId,
    now: i64,
    new: &NewAccount<'_>,
    actor: &str,
    action: &str,
) -> anyhow::Result<AccountId> {
    let row = accounts::upsert(
        tx,
        now,
        accounts::AccountInput {
            workspace_id,
            platform: new.platform,
            name: new.name,
            external_id: new.external_id,
            access_token_sealed: None,
            refresh_token_sealed: None,
            key_id: None,
            expires_at: None,
            extra: new.credentials.extra.clone(),
        },
    )
    .await?;
    let creds = new.credentials;
    let (key_id, access) = cipher.seal(
        &creds.access_token,
        TokenSlot::access(workspace_id, &row.id),
    )?;
    let refresh = match &creds.refresh_token {
        Some(r) => Some(cipher.seal(r, TokenSlot::refresh(workspace_id, &row.id))?.1),
        None => None,
    };
    accounts::update_tokens(
        store,
        tx,
        now,
        workspace_id,
        &row.id,
        &access,
        refresh.as_deref(),
        &key_id,
        creds.expires_at.map(|t| t.timestamp_millis()),
    )
    .await?;
    audit::record(
        tx,
        now,
        workspace_id,
        actor,
        action,
        &row.id,
        serde_json::json!({ "platform": new.platform, "name": new.name }),
    )
    .await?;
    Ok(row.id)
}

/// Stores what a refresh returned, merged with the stored credentials
/// ([`Credentials::merge_refreshed`]: a missing or empty refresh token never overwrites ours),
/// in one transaction: the access token, a rotated refresh token (TikTok's old one is dead the
/// moment the new one is issued, so both land together or not at all) and the account's
/// `extra`. Returns the credentials now stored.
pub async fn store_refreshed(
    store: &Store,
    cipher: &dyn TokenCipher,
    account: &account::Model,
    stored: &Credentials,
    fresh: Credentials,
    now: i64,
) -> anyhow::Result<Credentials> {
    let rotated = fresh.rotates_refresh_token();
    let merged = stored.merge_refreshed(fresh);
    let (key_id, access) = cipher.seal(
        &merged.access_token,
        TokenSlot::access(&account.workspace_id, &account.id),
    )?;
    // Only a new refresh token is sealed; `None` keeps the stored column (COALESCE).
    let refresh = match (&merged.refresh_token, rotated) {
        (Some(r), true) => Some(
            cipher
                .seal(r, TokenSlot::refresh(&account.workspace_id, &account.id))?
                .1,
        ),
        _ => None,
    };
    let tx = store.begin().await?;
    accounts::update_tokens(
        store,
        &tx,
        now,
        &account.workspace_id,
        &account.id,
        &access,
        refresh.as_deref(),
        &key_id,
        merged.expires_at.map(|t| t.timestamp_millis()),
    )
    .await?;
    if merged.extra != stored.extra {
        accounts::set_extra(&tx, &account.workspace_id, &account.id, &merged.extra).await?;
    }
    tx.commit().await?;
    Ok(merged)
}

/// Held while one instance decides on and runs an account's refresh, so instances sharing a
/// PostgreSQL database refresh an account one at a time: with rotating refresh tokens a second,
/// concurrent refresh would present a token the first just killed (`invalid_grant`) and park
/// the account. On SQLite (one instance) the caller's in-process lock is enough. Released when
/// dropped.
pub type RefreshLock = accounts::RefreshLock;

/// Takes the account's refresh lock; re-read the account after this returns.
pub async fn lock_refresh(store: &Store, account_id: &AccountId) -> anyhow::Result<RefreshLock> {
    Ok(accounts::lock_refresh(store, account_id).await?)
}

/// What [`reseal_account`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resealed {
    /// The tokens are now sealed with the cipher's active key.
    Done,
    /// The account has no stored token (or is gone).
    Nothing,
}

/// How often a re-seal re-reads a row that keeps changing under it before giving up.
const RESEAL_TRIES: usize = 10;

/// Re-seals an account's tokens with the cipher's active key (`keyring rotate`), starting
/// from the row as the caller read it. The write is a compare-and-swap on the sealed values
/// read: if a running daemon refreshed the tokens in between (a rotated refresh token is then
/// the only valid one), the row is re-read and the fresh tokens re-sealed instead of the stale
/// ones written back.
pub async fn reseal_account(
    store: &Store,
    cipher: &dyn TokenCipher,
    read: account::Model,
) -> anyhow::Result<Resealed> {
    let mut row = read;
    for _ in 0..RESEAL_TRIES {
        let Some(old_access) = row.access_token_sealed.as_deref() else {
            return Ok(Resealed::Nothing);
        };
        let access_slot = TokenSlot::access(&row.workspace_id, &row.id);
        let (key_id, access) = cipher.seal(&cipher.open(old_access, access_slot)?, access_slot)?;
        let refresh = match row.refresh_token_sealed.as_deref() {
            Some(r) => {
                let slot = TokenSlot::refresh(&row.workspace_id, &row.id);
                Some(cipher.seal(&cipher.open(r, slot)?, slot)?.1)
            }
            None => None,
        };
        let now = store.now_ms().await?;
        let swap = TokenSwap {
            old_access,
            old_refresh: row.refresh_token_sealed.as_deref(),
            new_access: &access,
            new_refresh: refresh.as_deref(),
            key_id: &key_id,
        };
        if accounts::swap_tokens(store, store.conn(), now, &row.workspace_id, &row.id, swap).await?
        {
            return Ok(Resealed::Done);
        }
        match accounts::get(store.conn(), &row.workspace_id, &row.id).await {
            Ok(fresh) => row = fresh,
            Err(StoreError::NotFound { .. }) => return Ok(Resealed::Nothing),
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!(
        "account {} ({}): its tokens kept changing during the re-seal; run the rotation again",
        row.name,
        row.id
    )
}

/// The token keyring as a [`SecretSealer`] for secrets kept in rows (webhook signing
/// secrets): the same keys and sealing as account tokens, bound to the row's `table.column`.
pub struct RowSealer<'a>(pub &'a dyn TokenCipher);

impl SecretSealer for RowSealer<'_> {
    fn seal(&self, plaintext: &str, at: SecretAt<'_>) -> Result<String, String> {
        self.0
            .seal(&SecretString::from(plaintext.to_owned()), row_slot(at))
            .map(|(_, sealed)| sealed)
            .map_err(|e| format!("{e:#}"))
    }

    fn open(&self, sealed: &str, at: SecretAt<'_>) -> Result<String, String> {
        self.0
            .open(sealed, row_slot(at))
            .map(|s| secrecy::ExposeSecret::expose_secret(&s).to_owned())
            .map_err(|e| format!("{e:#}"))
    }
}

fn row_slot(at: SecretAt<'_>) -> TokenSlot<'_> {
    TokenSlot {
        workspace_id: at.workspace_id,
        account_id: at.row_id,
        column: at.column,
    }
}
