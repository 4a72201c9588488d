//! API keys: `prk_` + 32 random bytes (base64url). Only SHA-256 of the whole key is stored
//! (enough for 256-bit random secrets; no slow hash needed). The prefix lets secret scanners
//! find leaked keys — never change it, it would implicitly revoke every key.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::random_bytes;

/// Fixed prefix of every API key.
pub const PREFIX: &str = "prk_";
/// Characters of the key shown in listings to tell keys apart (`prk_` + 6).
const DISPLAY_LEN: usize = 10;

/// SHA-256 of a key, hex. Not secret, but redacted in Debug anyway so logs stay boring.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiKeyHash(String);

impl ApiKeyHash {
    /// Wraps a hash read from the database.
    pub fn from_hex(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeyHash(..)")
    }
}

/// A freshly minted key: show `plaintext` to the user once, store `hash` and `display_prefix`.
#[derive(Debug)]
pub struct NewApiKey {
    pub plaintext: SecretString,
    pub hash: ApiKeyHash,
    /// First characters (`prk_Ab12cd`), safe to list.
    pub display_prefix: String,
}

/// Mints a new random key.
pub fn generate() -> NewApiKey {
    let key = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()));
    let hash = hash(&key);
    let display_prefix = key.chars().take(DISPLAY_LEN).collect();
    NewApiKey {
        plaintext: SecretString::from(key),
        hash,
        display_prefix,
    }
}

/// The stored form of a presented key (also the lookup key in the database).
pub fn hash(presented: &str) -> ApiKeyHash {
    ApiKeyHash(hex::encode(Sha256::digest(presented.as_bytes())))
}

/// True when `presented` is the key whose hash is `stored`; compares in constant time.
pub fn verify(presented: &SecretString, stored: &ApiKeyHash) -> bool {
    let presented = presented.expose_secret();
    if !looks_like_key(presented) {
        return false;
    }
    hash(presented)
        .0
        .as_bytes()
        .ct_eq(stored.0.as_bytes())
        .into()
}

/// Cheap shape check before hashing (prefix and length), to refuse obvious garbage early.
pub fn looks_like_key(s: &str) -> bool {
    s.len() == PREFIX.len() + 43 && s.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_hash_verify() {
        let k = generate();
        let plain = k.plaintext.expose_secret().to_owned();
        assert!(plain.starts_with("prk_") && looks_like_key(&plain));
        assert!(plain.starts_with(&k.display_prefix));
        assert!(verify(&k.plaintext, &k.hash));
        assert!(verify(
            &SecretString::from(plain.clone()),
            &ApiKeyHash::from_hex(k.hash.as_str())
        ));
        let other = generate();
        assert!(!verify(&other.plaintext, &k.hash));
        assert!(!verify(&SecretString::from("prk_short"), &k.hash));
        assert_ne!(k.hash.as_str(), plain);
        assert_eq!(k.hash.as_str().len(), 64);
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&plain) && !dbg.contains(k.hash.as_str()));
    }
}
