//! Connector settings. Snapchat's organic path, the Public Profile API, is open only to
//! allowlisted apps (send the OAuth client id to a Snap contact); `allowlisted` records that
//! the operator has done so, and every host is configurable so tests point at the fake.

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// What the image becomes on the Public Profile.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PostAs {
    /// A 24-hour Story. Stories have no caption field: the caption is not sent (burn it into
    /// the image in the campaign's template if it matters).
    #[default]
    Story,
    /// A Saved Story on the profile; the caption becomes its title (≤ 45 characters).
    SavedStory,
}

/// `[connectors.snapchat]` in the daemon's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapchatConfig {
    /// `https://businessapi.snapchat.com` (Public Profile API).
    #[serde(default = "default_api_base")]
    pub api_base: Url,
    /// `https://accounts.snapchat.com` (OAuth).
    #[serde(default = "default_accounts_base")]
    pub accounts_base: Url,
    pub client_id: String,
    /// Never logged.
    pub client_secret: SecretString,
    /// Must be true: the Public Profile API refuses (403) apps Snap has not allowlisted.
    /// Start-up fails while it is false, so nobody discovers it at publish time.
    #[serde(default)]
    pub allowlisted: bool,
    #[serde(default)]
    pub post_as: PostAs,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Accepted deviation from 9:16 (0.5625), as a fraction.
    #[serde(default = "default_tolerance")]
    pub aspect_tolerance: f32,
    /// How long a story just posted may take to show in the profile's story list. Reconcile
    /// answers by that list, so its "not there" proves the post absent only `timeout_secs +
    /// listing_lag_secs` after the commit started. Snap documents no lag; 60 s is our margin.
    #[serde(default = "default_listing_lag")]
    pub listing_lag_secs: u64,
    /// Calls a second this instance makes with one access token. Snap allows about 10 a
    /// second per token and answers 429 above it; the default leaves a margin. With several
    /// instances sharing accounts, give each its share (e.g. 4 each for two). 0: no pacing.
    #[serde(default = "default_requests_per_second_per_token")]
    pub requests_per_second_per_token: u32,
}

fn default_api_base() -> Url {
    Url::parse("https://businessapi.snapchat.com").expect("static URL")
}
fn default_accounts_base() -> Url {
    Url::parse("https://accounts.snapchat.com").expect("static URL")
}
fn default_scopes() -> Vec<String> {
    vec!["snapchat-profile-api".into()]
}
fn default_timeout() -> u64 {
    30
}
fn default_tolerance() -> f32 {
    0.02
}
fn default_listing_lag() -> u64 {
    60
}
fn default_requests_per_second_per_token() -> u32 {
    8
}

impl SnapchatConfig {
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        Self {
            api_base: default_api_base(),
            accounts_base: default_accounts_base(),
            client_id: client_id.into(),
            client_secret,
            allowlisted: false,
            post_as: PostAs::default(),
            scopes: default_scopes(),
            timeout_secs: default_timeout(),
            aspect_tolerance: default_tolerance(),
            listing_lag_secs: default_listing_lag(),
            requests_per_second_per_token: default_requests_per_second_per_token(),
        }
    }

    /// When a story list that lacks the post proves it absent (see `listing_lag_secs`).
    pub fn absent_final_after(&self) -> Duration {
        self.timeout() + Duration::from_secs(self.listing_lag_secs)
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    pub(crate) fn api(&self, path: &str) -> String {
        format!("{}{}", self.api_base.as_str().trim_end_matches('/'), path)
    }

    pub(crate) fn accounts(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.accounts_base.as_str().trim_end_matches('/'),
            path
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_unknown_fields() {
        let c: SnapchatConfig = serde_json::from_str(
            r#"{"client_id":"c","client_secret":"s","allowlisted":true,"post_as":"saved_story"}"#,
        )
        .expect("parses");
        assert_eq!(c.post_as, PostAs::SavedStory);
        assert_eq!(c.absent_final_after(), Duration::from_secs(30 + 60));
        assert!(
            serde_json::from_str::<SnapchatConfig>(
                r#"{"client_id":"c","client_secret":"s","ads":1}"#
            )
            .is_err()
        );
    }
}
