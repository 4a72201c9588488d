//! Signed public media links. Instagram and TikTok fetch images from a URL instead of taking
//! an upload, so the daemon serves renditions at `{public_base_url}/media/{rendition_id}`
//! with an expiry and an HMAC signature: short-lived, unguessable, and checkable by any
//! instance that shares the keyring (the signing key is derived from it). Images answered by
//! `POST /v1/images/generations` with `response_format: "url"` are served the same way at
//! `{public_base_url}/media/assets/{asset_id}`, like OpenAI's expiring image URLs.
//!
//! The two kinds sign different paths (`media/{id}` and `media/assets/{id}`) and an id is one
//! path segment, so a rendition's signature never opens an asset and the other way round.

use pressroom_core::RenditionId;

use std::sync::{PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pressroom_crypto::urlsign::{UrlSignError, UrlSigner};
use pressroom_runtime::PublicMedia;

/// Mints and checks media links.
pub struct MediaLinks {
    keys: RwLock<LinkKeys>,
    base_url: String,
    ttl: Duration,
}

impl std::fmt::Debug for MediaLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaLinks")
            .field("base_url", &self.base_url)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// The key links are signed with, and the one it replaced ([`MediaLinks::rekey`]), still
/// accepted for one link lifetime: links minted before a keyring rotation (by this instance or
/// one not yet signalled) stay good until they would have expired anyway.
struct LinkKeys {
    current: UrlSigner,
    previous: Option<(UrlSigner, i64)>,
}

/// What a link opens; each kind signs its own path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// A rendition: `media/{id}`.
    Rendition,
    /// A generated image (an `assets` row): `media/assets/{id}`.
    Asset,
}

/// The path a link is signed for and served under (relative to the public base URL).
fn link_path(kind: LinkKind, id: &str) -> String {
    match kind {
        LinkKind::Rendition => format!("media/{id}"),
        LinkKind::Asset => format!("media/assets/{id}"),
    }
}

/// Ids are one path segment; anything else (a percent-encoded `/`) could make one kind's
/// path equal the other's, so it never verifies.
fn plain_id(id: &str) -> bool {
    !id.is_empty() && !id.contains(['/', '\\', '?', '#'])
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl MediaLinks {
    /// `key` signs the links (derive it from the keyring: `Keyring::derive_key("media-links")`).
    pub fn new(key: [u8; 32], base_url: &str, ttl: Duration) -> Self {
        Self {
            keys: RwLock::new(LinkKeys {
                current: UrlSigner::new(key),
                previous: None,
            }),
            base_url: base_url.trim_end_matches('/').to_string(),
            ttl,
        }
    }

    /// Signs new links with `key` from now on (SIGHUP after `keyring rotate`: the key is
    /// derived from the keyring's active key). The key it replaces still verifies links for
    /// one [`MediaLinks::ttl`], the longest any link it signed can live. The same key again
    /// changes nothing.
    pub fn rekey(&self, key: [u8; 32]) {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        if keys.current.has_key(&key) {
            return;
        }
        let until = unix_now() + self.ttl.as_secs() as i64;
        let old = std::mem::replace(&mut keys.current, UrlSigner::new(key));
        keys.previous = Some((old, until));
    }

    /// How long a freshly minted link stays valid (config `media.link_ttl_secs`).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A signed, expiring link to one rendition or asset, valid for [`MediaLinks::ttl`].
    pub fn url(&self, kind: LinkKind, id: &str) -> String {
        let expires = unix_now() + self.ttl.as_secs() as i64;
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .current
            .sign_url(&self.base_url, &link_path(kind, id), expires)
    }

    /// Checks the `exp` and `sig` of a request for a rendition or an asset.
    pub fn verify(
        &self,
        kind: LinkKind,
        id: &str,
        expires: i64,
        sig: &str,
    ) -> Result<(), UrlSignError> {
        self.verify_at(kind, id, expires, sig, unix_now())
    }

    fn verify_at(
        &self,
        kind: LinkKind,
        id: &str,
        expires: i64,
        sig: &str,
        now: i64,
    ) -> Result<(), UrlSignError> {
        if !plain_id(id) {
            return Err(UrlSignError::BadSignature);
        }
        let path = link_path(kind, id);
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        match keys.current.verify(&path, expires, sig, now) {
            Err(UrlSignError::BadSignature) => match &keys.previous {
                Some((old, until)) if now <= *until => old.verify(&path, expires, sig, now),
                _ => Err(UrlSignError::BadSignature),
            },
            other => other,
        }
    }
}

impl PublicMedia for MediaLinks {
    fn url_for(&self, rendition_id: &RenditionId) -> String {
        self.url(LinkKind::Rendition, rendition_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> MediaLinks {
        MediaLinks::new(
            [7; 32],
            "https://press.example.com/",
            Duration::from_secs(60),
        )
    }

    /// (exp, sig) from a minted URL.
    fn exp_sig(url: &str) -> (i64, String) {
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
        (exp, sig.to_string())
    }

    #[test]
    fn links_verify_for_their_rendition_only() {
        let links = links();
        let url = links.url_for(&"r1".into());
        assert!(
            url.starts_with("https://press.example.com/media/r1?exp="),
            "{url}"
        );
        let (exp, sig) = exp_sig(&url);
        assert_eq!(links.verify(LinkKind::Rendition, "r1", exp, &sig), Ok(()));
        assert_eq!(
            links.verify(LinkKind::Rendition, "r2", exp, &sig),
            Err(UrlSignError::BadSignature)
        );
        assert_eq!(
            links.verify(LinkKind::Rendition, "r1", exp + 1, &sig),
            Err(UrlSignError::BadSignature)
        );
    }

    /// SIGHUP after `keyring rotate`: new links are signed with the new key; links signed
    /// with the old one keep working for one link lifetime, then no longer.
    #[test]
    fn rekey_signs_with_the_new_key_and_honours_old_links_for_one_ttl() {
        let links = links();
        let (old_exp, old_sig) = exp_sig(&links.url_for(&"r1".into()));
        links.rekey([8; 32]);
        let (new_exp, new_sig) = exp_sig(&links.url_for(&"r1".into()));
        assert_ne!(old_sig, new_sig);
        let with_new_key_only = MediaLinks::new(
            [8; 32],
            "https://press.example.com/",
            Duration::from_secs(60),
        );
        assert_eq!(
            with_new_key_only.verify(LinkKind::Rendition, "r1", new_exp, &new_sig),
            Ok(())
        );
        assert_eq!(
            links.verify(LinkKind::Rendition, "r1", old_exp, &old_sig),
            Ok(())
        );
        // Once a link lifetime has passed, the old key opens nothing, even a link it signed
        // with an expiry further out.
        let later = unix_now() + 61;
        let far =
            UrlSigner::new([7; 32]).sign_url("https://press.example.com", "media/r1", later + 100);
        let (far_exp, far_sig) = exp_sig(&far);
        assert_eq!(
            links.verify_at(LinkKind::Rendition, "r1", far_exp, &far_sig, later - 2),
            Ok(())
        );
        assert_eq!(
            links.verify_at(LinkKind::Rendition, "r1", far_exp, &far_sig, later),
            Err(UrlSignError::BadSignature)
        );
        // The same key again keeps the old one accepted.
        links.rekey([8; 32]);
        assert_eq!(
            links.verify(LinkKind::Rendition, "r1", old_exp, &old_sig),
            Ok(())
        );
    }

    #[test]
    fn rendition_and_asset_links_never_open_each_other() {
        let links = links();
        let url = links.url(LinkKind::Asset, "a1");
        assert!(
            url.starts_with("https://press.example.com/media/assets/a1?exp="),
            "{url}"
        );
        let (exp, sig) = exp_sig(&url);
        assert_eq!(links.verify(LinkKind::Asset, "a1", exp, &sig), Ok(()));
        assert_eq!(
            links.verify(LinkKind::Rendition, "a1", exp, &sig),
            Err(UrlSignError::BadSignature)
        );
        // `/media/assets%2Fa1` reaches the rendition route with the id "assets/a1", whose
        // path would be the asset's: refused before the signature is even checked.
        assert_eq!(
            links.verify(LinkKind::Rendition, "assets/a1", exp, &sig),
            Err(UrlSignError::BadSignature)
        );
        let (exp, sig) = exp_sig(&links.url_for(&"r1".into()));
        assert_eq!(
            links.verify(LinkKind::Asset, "r1", exp, &sig),
            Err(UrlSignError::BadSignature)
        );
    }
}
