//! Signed media URLs: Instagram (and TikTok) fetch images from a public URL, so the daemon serves
//! renditions under a configurable public base URL at `…/{path}?exp={unix}&sig={hmac}`.
//! Short-lived (the expiry is signed) and unguessable (HMAC-SHA256 with a server key).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::random_bytes;

/// Why a signed URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlSignError {
    #[error("link expired")]
    Expired,
    #[error("bad link signature")]
    BadSignature,
}

/// Signs and checks media URLs with a server-side key.
pub struct UrlSigner(SecretBox<[u8; 32]>);

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner([REDACTED])")
    }
}

impl UrlSigner {
    pub fn new(key: [u8; 32]) -> Self {
        Self(SecretBox::new(Box::new(key)))
    }

    /// Whether this signer signs with `key` (compared in constant time).
    pub fn has_key(&self, key: &[u8; 32]) -> bool {
        bool::from(self.0.expose_secret().ct_eq(key))
    }

    pub fn generate() -> Self {
        Self::new(random_bytes::<32>())
    }

    fn mac(&self, path: &str, expires: i64) -> Vec<u8> {
        // A 32-byte key is always a valid HMAC key.
        let mut mac = match Hmac::<Sha256>::new_from_slice(self.0.expose_secret()) {
            Ok(m) => m,
            Err(_) => return Vec::new(),
        };
        mac.update(b"pressroom-media/v1\n");
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// `{base}/{path}?exp={expires}&sig={sig}`; `path` without a leading slash.
    pub fn sign_url(&self, base: &str, path: &str, expires: i64) -> String {
        let path = path.trim_start_matches('/');
        let sig = URL_SAFE_NO_PAD.encode(self.mac(path, expires));
        format!(
            "{}/{path}?exp={expires}&sig={sig}",
            base.trim_end_matches('/')
        )
    }

    /// Checks a request for `path` carrying `exp` and `sig`, at unix time `now`.
    pub fn verify(
        &self,
        path: &str,
        expires: i64,
        sig: &str,
        now: i64,
    ) -> Result<(), UrlSignError> {
        let path = path.trim_start_matches('/');
        let raw = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| UrlSignError::BadSignature)?;
        let expected = self.mac(path, expires);
        if expected.is_empty() || !bool::from(raw.ct_eq(&expected)) {
            return Err(UrlSignError::BadSignature);
        }
        if now > expires {
            return Err(UrlSignError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let s = UrlSigner::generate();
        let url = s.sign_url("https://media.example.com/", "/m/abc.jpg", 2000);
        assert!(url.starts_with("https://media.example.com/m/abc.jpg?exp=2000&sig="));
        let sig = url.rsplit("sig=").next().expect("sig");
        assert_eq!(s.verify("m/abc.jpg", 2000, sig, 1999), Ok(()));
        assert_eq!(s.verify("/m/abc.jpg", 2000, sig, 2000), Ok(()));
        assert_eq!(
            s.verify("m/abc.jpg", 2000, sig, 2001),
            Err(UrlSignError::Expired)
        );
        assert_eq!(
            s.verify("m/abd.jpg", 2000, sig, 1999),
            Err(UrlSignError::BadSignature)
        );
        assert_eq!(
            s.verify("m/abc.jpg", 3000, sig, 1999),
            Err(UrlSignError::BadSignature)
        );
        assert_eq!(
            UrlSigner::generate().verify("m/abc.jpg", 2000, sig, 1999),
            Err(UrlSignError::BadSignature)
        );
    }
}
