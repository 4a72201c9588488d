//! Sealing: XChaCha20-Poly1305 with a fresh random 24-byte nonce per record and associated data
//! naming where the record lives. Stored form: `v1.<key_id>.<base64url(nonce || ciphertext+tag)>`
//! (one text column), or the parts separately via the struct fields.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};

use crate::{CryptoError, Keyring, random_bytes};

const NONCE_LEN: usize = 24;
const FORMAT: &str = "v1";

/// Where a sealed value lives. Bound into the AEAD so a ciphertext copied to another row,
/// column or workspace does not decrypt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aad<'a> {
    pub workspace_id: &'a str,
    pub table: &'a str,
    pub column: &'a str,
    pub row_id: &'a str,
}

impl Aad<'_> {
    /// Length-prefixed fields, so `("a|b","c")` and `("a","b|c")` cannot collide.
    fn bytes(&self) -> Vec<u8> {
        let mut out = b"pressroom/v1".to_vec();
        for part in [self.workspace_id, self.table, self.column, self.row_id] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// A sealed secret: key id, nonce, ciphertext with tag. Not secret itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedToken {
    pub key_id: String,
    pub nonce: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
}

impl SealedToken {
    /// `v1.<key_id>.<base64url(nonce||ct)>`, for one text column.
    pub fn encode(&self) -> String {
        let mut blob = self.nonce.to_vec();
        blob.extend_from_slice(&self.ciphertext);
        format!("{FORMAT}.{}.{}", self.key_id, URL_SAFE_NO_PAD.encode(blob))
    }

    pub fn decode(s: &str) -> Result<Self, CryptoError> {
        let mut parts = s.splitn(3, '.');
        let (Some(FORMAT), Some(key_id), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::Malformed("expected v1.<key_id>.<data>"));
        };
        let blob = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| CryptoError::Malformed("data is not base64url"))?;
        if blob.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Malformed("too short"));
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(nonce);
        Ok(Self {
            key_id: key_id.to_owned(),
            nonce: n,
            ciphertext: ct.to_vec(),
        })
    }
}

impl Keyring {
    /// Encrypts `plaintext` with the active key, bound to `aad`.
    pub fn seal(
        &self,
        plaintext: &SecretString,
        aad: &Aad<'_>,
    ) -> Result<SealedToken, CryptoError> {
        let key = self.active_key()?;
        let cipher = XChaCha20Poly1305::new(key.expose_secret().into());
        let nonce = random_bytes::<NONCE_LEN>();
        let aad = aad.bytes();
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        Ok(SealedToken {
            key_id: self.active_id().to_string(),
            nonce,
            ciphertext,
        })
    }

    /// Decrypts a record sealed by this keyring (active or decrypt-only key) for the same `aad`.
    pub fn open(&self, sealed: &SealedToken, aad: &Aad<'_>) -> Result<SecretString, CryptoError> {
        let key = self
            .key(&sealed.key_id)
            .ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        let cipher = XChaCha20Poly1305::new(key.expose_secret().into());
        let aad = aad.bytes();
        let plain = cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        let text = String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)?;
        Ok(SecretString::from(text))
    }

    /// `seal` + `encode`.
    pub fn seal_str(&self, plaintext: &SecretString, aad: &Aad<'_>) -> Result<String, CryptoError> {
        Ok(self.seal(plaintext, aad)?.encode())
    }

    /// `decode` + `open`.
    pub fn open_str(&self, sealed: &str, aad: &Aad<'_>) -> Result<SecretString, CryptoError> {
        self.open(&SealedToken::decode(sealed)?, aad)
    }

    /// Lazy rotation: opens the record and, if it was sealed with an older key, returns it
    /// re-sealed with the active key for the caller to store (in the same transaction as the read
    /// or refresh that prompted it).
    pub fn reseal_if_needed(
        &self,
        sealed: &SealedToken,
        aad: &Aad<'_>,
    ) -> Result<Option<SealedToken>, CryptoError> {
        if !self.needs_rotation(&sealed.key_id) {
            return Ok(None);
        }
        let plain = self.open(sealed, aad)?;
        Ok(Some(self.seal(&plain, aad)?))
    }
}

#[cfg(test)]
mod tests;
