//! Secrets kept in a row — inbound hook signing secrets, outbound `whsec_` endpoint secrets —
//! are stored sealed, like account tokens: the caller's keyring seals them with associated
//! data naming the workspace, the column and the row, so a sealed value copied to another row
//! does not open. The store knows no keys; it takes a [`SecretSealer`].

/// Where a sealed secret lives: the associated data it is bound to.
#[derive(Clone, Copy, Debug)]
pub struct SecretAt<'a> {
    pub workspace_id: &'a str,
    /// `table.column`, e.g. `hooks.secrets`.
    pub column: &'static str,
    pub row_id: &'a str,
}

/// Seals and opens a row's secret (implemented over the daemon's token keyring).
pub trait SecretSealer: Send + Sync {
    fn seal(&self, plaintext: &str, at: SecretAt<'_>) -> Result<String, String>;
    fn open(&self, sealed: &str, at: SecretAt<'_>) -> Result<String, String>;
}

/// Values written before secrets were sealed: a hook's JSON array, an endpoint's `whsec_…`.
/// Read as they are, and sealed by [`crate::repo::hooks::seal_plaintext`] and
/// [`crate::repo::webhook_endpoints::seal_plaintext`] at start-up.
pub fn is_plaintext(stored: &str) -> bool {
    stored.starts_with('[') || stored.starts_with("whsec_")
}

pub(crate) fn seal(
    sealer: &dyn SecretSealer,
    plain: &str,
    at: SecretAt<'_>,
) -> crate::Result<String> {
    sealer
        .seal(plain, at)
        .map_err(|e| crate::StoreError::Sealing(format!("{} of {}: {e}", at.column, at.row_id)))
}

/// The plaintext of a stored value, sealed or (from before sealing) not.
pub(crate) fn open(
    sealer: &dyn SecretSealer,
    stored: &str,
    at: SecretAt<'_>,
) -> crate::Result<String> {
    if is_plaintext(stored) {
        return Ok(stored.to_owned());
    }
    sealer
        .open(stored, at)
        .map_err(|e| crate::StoreError::Sealing(format!("{} of {}: {e}", at.column, at.row_id)))
}
