//! pressroom-crypto: everything that touches secret material, kept in one small crate so it can
//! be read in one sitting.
//!
//! - [`Keyring`] + [`Keyring::seal`] / [`Keyring::open`]: OAuth tokens encrypted at rest with
//!   XChaCha20-Poly1305 (random 24-byte nonces, so no nonce bookkeeping), a key id in every
//!   record, and associated data ([`Aad`]) binding the ciphertext to workspace, table, column and
//!   row so a value copied elsewhere fails to decrypt. One active key; older keys decrypt only.
//!   [`KeyringFile`]: the daemon's keyring, re-read when the file changes under it.
//! - [`apikey`]: `prk_` API keys; only a SHA-256 hash is stored; verified in constant time.
//! - [`webhook`]: Standard Webhooks HMAC-SHA256 signing and verification with a replay window.
//! - [`password`]: argon2id password hashes, and session and invitation tokens stored as SHA-256.
//! - [`urlsign`]: short-lived unguessable URLs for media that platforms fetch (Instagram).

pub mod apikey;
mod error;
mod keyring;
mod keyring_file;
pub mod password;
mod seal;
pub mod urlsign;
pub mod webhook;

pub use error::CryptoError;
pub use keyring::{KeyId, Keyring};
pub use keyring_file::KeyringFile;
pub use seal::{Aad, SealedToken};

/// A fresh unguessable token (32 random bytes, hex) for one-time bindings, such as the cookie
/// that ties an OAuth connect to the browser that started it.
pub fn random_token() -> String {
    hex::encode(random_bytes::<32>())
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}

/// Fills a buffer from the thread-local CSPRNG (ChaCha, seeded from the OS).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    use rand::RngCore;
    let mut buf = [0u8; N];
    rand::rng().fill_bytes(&mut buf);
    buf
}
