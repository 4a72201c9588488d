//! How the runtime opens and seals account tokens without knowing the key material: the
//! binary plugs in the keyring from `pressroom-crypto`.

use secrecy::SecretString;

/// Where a sealed token lives; bound into the AEAD so a sealed value copied to another row,
/// column or workspace does not open.
#[derive(Clone, Copy, Debug)]
pub struct TokenSlot<'a> {
    pub workspace_id: &'a str,
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
