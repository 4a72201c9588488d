//! Connector settings. Every host is configurable so tests (and proxies) can point the
//! connector at a fake; the API version is configuration because LinkedIn sunsets versions
//! after about a year (HTTP 426) and the latest is never implied.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// `[connectors.linkedin]` in the daemon's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkedInConfig {
    /// REST host: `https://api.linkedin.com` (Images API, Posts API, userinfo).
    #[serde(default = "default_api_base")]
    pub api_base: Url,
    /// OAuth host: `https://www.linkedin.com` (authorize, accessToken, introspectToken).
    #[serde(default = "default_oauth_base")]
    pub oauth_base: Url,
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret; never logged.
    pub client_secret: SecretString,
    /// `LinkedIn-Version` header (YYYYMM). Mandatory on `/rest`; a sunset version answers 426.
    #[serde(default = "default_version")]
    pub linkedin_version: String,
    /// `X-Restli-Protocol-Version` header; LinkedIn requires `2.0.0`.
    #[serde(default = "default_restli")]
    pub restli_protocol_version: String,
    /// OAuth scopes asked for when an account is connected.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Post visibility (`PUBLIC` or `CONNECTIONS`).
    #[serde(default = "default_visibility")]
    pub visibility: String,
    /// Per-request timeout in seconds. A timeout on the post create is "outcome unknown".
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// How long `prepare` waits for an organization's image to become AVAILABLE.
    #[serde(default = "default_image_wait")]
    pub image_ready_timeout_secs: u64,
    /// Pause between image status polls, in milliseconds.
    #[serde(default = "default_poll")]
    pub image_poll_interval_ms: u64,
    /// How many of the author's recent posts reconcile reads per page (`count`).
    #[serde(default = "default_page")]
    pub reconcile_page_size: u32,
    /// How many pages reconcile reads at most (`start` = page x size) before it calls the
    /// outcome unknown: an account posting faster than a page per commit window needs more
    /// than one.
    #[serde(default = "default_pages")]
    pub reconcile_max_pages: u32,
    /// Largest image we hand to LinkedIn, in bytes (LinkedIn publishes a pixel limit only).
    #[serde(default = "default_max_bytes")]
    pub max_media_bytes: u64,
    /// Wait after a 429 that names no daily window (a short throttle or LinkedIn's
    /// infrastructure protection), in seconds. A 429 naming a `DAY` limit waits until 00:00 UTC.
    #[serde(default = "default_throttle")]
    pub throttle_backoff_secs: u64,
    /// How long after a create a post may still be missing from the author's post listing
    /// (`GET /rest/posts?q=author`), in seconds. LinkedIn publishes no figure; 60 is a guess
    /// kept configurable. Reconcile calls a post absent only after
    /// `image_ready_timeout_secs + timeout_secs + listing_lag_secs`.
    #[serde(default = "default_listing_lag")]
    pub listing_lag_secs: u64,
}

fn default_api_base() -> Url {
    Url::parse("https://api.linkedin.com").expect("static URL")
}
fn default_oauth_base() -> Url {
    Url::parse("https://www.linkedin.com").expect("static URL")
}
fn default_version() -> String {
    "202601".into()
}
fn default_restli() -> String {
    "2.0.0".into()
}
fn default_scopes() -> Vec<String> {
    [
        "openid",
        "profile",
        "w_member_social",
        "w_organization_social",
    ]
    .map(String::from)
    .to_vec()
}
fn default_visibility() -> String {
    "PUBLIC".into()
}
fn default_timeout() -> u64 {
    30
}
fn default_image_wait() -> u64 {
    30
}
fn default_poll() -> u64 {
    500
}
fn default_page() -> u32 {
    20
}
fn default_pages() -> u32 {
    10
}
fn default_max_bytes() -> u64 {
    20 * 1024 * 1024
}
fn default_throttle() -> u64 {
    60
}
fn default_listing_lag() -> u64 {
    60
}

impl LinkedInConfig {
    /// A config with every default, for the given app credentials.
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        Self {
            api_base: default_api_base(),
            oauth_base: default_oauth_base(),
            client_id: client_id.into(),
            client_secret,
            linkedin_version: default_version(),
            restli_protocol_version: default_restli(),
            scopes: default_scopes(),
            visibility: default_visibility(),
            timeout_secs: default_timeout(),
            image_ready_timeout_secs: default_image_wait(),
            image_poll_interval_ms: default_poll(),
            reconcile_page_size: default_page(),
            reconcile_max_pages: default_pages(),
            max_media_bytes: default_max_bytes(),
            throttle_backoff_secs: default_throttle(),
            listing_lag_secs: default_listing_lag(),
        }
    }

    /// Points both hosts at one base URL (a fake serves both).
    pub fn with_base(mut self, base: &Url) -> Self {
        self.api_base = base.clone();
        self.oauth_base = base.clone();
        self
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// How long after a commit started a listing without the post proves it absent: the commit
    /// may send its last create up to `image_ready_timeout_secs` in (it retries while the image
    /// is processing), that create may run `timeout_secs`, and the post may then take
    /// `listing_lag_secs` to show in the listing.
    pub fn absent_final_after(&self) -> Duration {
        Duration::from_secs(
            self.image_ready_timeout_secs
                .saturating_add(self.timeout_secs)
                .saturating_add(self.listing_lag_secs),
        )
    }

    pub(crate) fn throttle_backoff(&self) -> Duration {
        Duration::from_secs(self.throttle_backoff_secs)
    }

    /// `base` + `path`, keeping any path prefix the base carries (a proxy mount point).
    pub(crate) fn api(&self, path: &str) -> String {
        join(&self.api_base, path)
    }

    pub(crate) fn oauth(&self, path: &str) -> String {
        join(&self.oauth_base, path)
    }
}

fn join(base: &Url, path: &str) -> String {
    format!("{}{}", base.as_str().trim_end_matches('/'), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused_and_defaults_fill_in() {
        let ok: LinkedInConfig =
            serde_json::from_str(r#"{"client_id":"c","client_secret":"s"}"#).expect("parses");
        assert_eq!(ok.linkedin_version, "202601");
        assert_eq!(ok.api("/rest/posts"), "https://api.linkedin.com/rest/posts");
        let bad = serde_json::from_str::<LinkedInConfig>(
            r#"{"client_id":"c","client_secret":"s","linkedin_versoin":"1"}"#,
        );
        assert!(bad.is_err());
    }

    #[test]
    fn absence_is_final_after_the_image_wait_the_timeout_and_the_listing_lag() {
        let cfg: LinkedInConfig = serde_json::from_str(
            r#"{"client_id":"c","client_secret":"s","timeout_secs":7,"image_ready_timeout_secs":3,"listing_lag_secs":11}"#,
        )
        .expect("parses");
        assert_eq!(cfg.absent_final_after(), Duration::from_secs(21));
        let defaults = LinkedInConfig::new("c", SecretString::from("s"));
        assert_eq!(defaults.absent_final_after(), Duration::from_secs(120));
        assert_eq!(defaults.throttle_backoff_secs, 60);
    }
}
