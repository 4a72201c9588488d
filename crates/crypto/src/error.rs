/// Crypto failures. Messages never contain key material or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// No key is configured; the daemon must not start (outside demo mode).
    #[error("no encryption key configured")]
    NoKey,
    #[error("malformed key material: {0}")]
    BadKey(String),
    /// The record names a key this keyring does not hold (removed too early?).
    #[error("unknown key id {0:?}")]
    UnknownKey(String),
    #[error("malformed sealed token: {0}")]
    Malformed(&'static str),
    /// Wrong key, tampered ciphertext, or associated data of another row/workspace.
    #[error("decryption failed (wrong key, tampered data, or copied from another row)")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
    #[error("key file: {0}")]
    Io(#[from] std::io::Error),
}
