//! Signed public media links. Instagram and TikTok fetch images from a URL instead of taking
//! an upload, so the daemon serves renditions at `{public_base_url}/media/{rendition_id}`
//! with an expiry and an HMAC signature: short-lived, unguessable, and checkable by any
//! instance that shares the keyring (the signing key is derived from it).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pressroom_crypto::urlsign::{UrlSignError, UrlSigner};
use pressroom_scheduler::PublicMedia;

/// Mints and checks media links.
pub struct MediaLinks {
    signer: UrlSigner,
    base_url: String,
    ttl: Duration,
    /// Rendition paths in the store are relative to this directory.
    pub(crate) data_dir: PathBuf,
}

impl std::fmt::Debug for MediaLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaLinks")
            .field("base_url", &self.base_url)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// The path a rendition is served under (relative to the public base URL).
fn link_path(rendition_id: &str) -> String {
    format!("media/{rendition_id}")
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl MediaLinks {
    /// `key` signs the links (derive it from the keyring: `Keyring::derive_key("media-links")`).
    pub fn new(key: [u8; 32], base_url: &str, ttl: Duration, data_dir: PathBuf) -> Self {
        Self {
            signer: UrlSigner::new(key),
            base_url: base_url.trim_end_matches('/').to_string(),
            ttl,
            data_dir,
        }
    }

    /// Checks the `exp` and `sig` of a request for a rendition.
    pub fn verify(&self, rendition_id: &str, expires: i64, sig: &str) -> Result<(), UrlSignError> {
        self.signer
            .verify(&link_path(rendition_id), expires, sig, unix_now())
    }
}

impl PublicMedia for MediaLinks {
    fn url_for(&self, rendition_id: &str) -> String {
        let expires = unix_now() + self.ttl.as_secs() as i64;
        self.signer
            .sign_url(&self.base_url, &link_path(rendition_id), expires)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_for_their_rendition_only() {
        let links = MediaLinks::new(
            [7; 32],
            "https://press.example.com/",
            Duration::from_secs(60),
            PathBuf::new(),
        );
        let url = links.url_for("r1");
        assert!(
            url.starts_with("https://press.example.com/media/r1?exp="),
            "{url}"
        );
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let mut exp = 0;
        let mut sig = "";
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("exp", v)) => exp = v.parse().unwrap_or(0),
                Some(("sig", v)) => sig = v,
                _ => {}
            }
        }
        assert_eq!(links.verify("r1", exp, sig), Ok(()));
        assert_eq!(
            links.verify("r2", exp, sig),
            Err(UrlSignError::BadSignature)
        );
        assert_eq!(
            links.verify("r1", exp + 1, sig),
            Err(UrlSignError::BadSignature)
        );
    }
}
