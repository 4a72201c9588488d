//! Connector settings. The host is configurable so tests point at the fake; post mode and
//! privacy are per deployment because TikTok's audit status decides what an app may do
//! (unaudited apps may only post SELF_ONLY).

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// Where a photo post goes.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum PostMode {
    /// Published on the profile (`video.publish` scope).
    #[default]
    #[serde(rename = "DIRECT_POST")]
    DirectPost,
    /// Sent to the creator's TikTok inbox as a draft to finish in the app (`video.upload`).
    #[serde(rename = "MEDIA_UPLOAD")]
    MediaUpload,
}

/// `[connectors.tiktok]` in the daemon's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TikTokConfig {
    /// `https://open.tiktokapis.com` (OAuth token, Content Posting API).
    #[serde(default = "default_api_base")]
    pub api_base: Url,
    /// Browser authorize host, only used to build the URL: `https://www.tiktok.com`.
    #[serde(default = "default_auth_base")]
    pub auth_base: Url,
    /// The app's client key.
    pub client_key: String,
    /// The app's client secret; never logged.
    pub client_secret: SecretString,
    /// `DIRECT_POST` or `MEDIA_UPLOAD`.
    #[serde(default)]
    pub post_mode: PostMode,
    /// Privacy for direct posts; must be one of the creator's `privacy_level_options`.
    #[serde(default = "default_privacy")]
    pub privacy_level: String,
    #[serde(default)]
    pub disable_comment: bool,
    #[serde(default = "yes")]
    pub auto_add_music: bool,
    /// OAuth scopes asked for when an account is connected.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Per-request timeout in seconds; a timeout on content init is "outcome unknown".
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Pause between status polls in milliseconds (status/fetch allows 30 calls a minute).
    #[serde(default = "default_poll")]
    pub status_poll_interval_ms: u64,
    /// How long `commit` polls for a final state before handing over to reconcile.
    #[serde(default = "default_wait")]
    pub status_max_wait_secs: u64,
    /// Seconds to wait after a 429, which TikTok sends without `Retry-After`: its limits are
    /// sliding one-minute windows (PLATFORMS.md §4.3), so the documented default is 60.
    #[serde(default = "default_rate_wait")]
    pub rate_limit_wait_secs: u64,
}

fn default_api_base() -> Url {
    Url::parse("https://open.tiktokapis.com").expect("static URL")
}
fn default_auth_base() -> Url {
    Url::parse("https://www.tiktok.com").expect("static URL")
}
fn default_privacy() -> String {
    "PUBLIC_TO_EVERYONE".into()
}
fn yes() -> bool {
    true
}
fn default_scopes() -> Vec<String> {
    // video.list: finding a post whose init answer was lost (and reading metrics back).
    [
        "user.info.basic",
        "video.publish",
        "video.upload",
        "video.list",
    ]
    .map(String::from)
    .to_vec()
}
fn default_timeout() -> u64 {
    30
}
fn default_poll() -> u64 {
    3000
}
fn default_wait() -> u64 {
    120
}
fn default_rate_wait() -> u64 {
    crate::errors::WINDOW.as_secs()
}

impl TikTokConfig {
    /// A config with every default, for the given app credentials.
    pub fn new(client_key: impl Into<String>, client_secret: SecretString) -> Self {
        Self {
            api_base: default_api_base(),
            auth_base: default_auth_base(),
            client_key: client_key.into(),
            client_secret,
            post_mode: PostMode::default(),
            privacy_level: default_privacy(),
            disable_comment: false,
            auto_add_music: true,
            scopes: default_scopes(),
            timeout_secs: default_timeout(),
            status_poll_interval_ms: default_poll(),
            status_max_wait_secs: default_wait(),
            rate_limit_wait_secs: default_rate_wait(),
        }
    }

    /// The wait after a 429 that names none (see `rate_limit_wait_secs`).
    pub fn rate_limit_wait(&self) -> Duration {
        Duration::from_secs(self.rate_limit_wait_secs)
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    pub(crate) fn api(&self, path: &str) -> String {
        format!("{}{}", self.api_base.as_str().trim_end_matches('/'), path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_post_mode_and_refuses_unknown_fields() {
        let c: TikTokConfig = serde_json::from_str(
            r#"{"client_key":"k","client_secret":"s","post_mode":"MEDIA_UPLOAD"}"#,
        )
        .expect("parses");
        assert_eq!(c.post_mode, PostMode::MediaUpload);
        assert_eq!(
            c.api("/v2/oauth/token/"),
            "https://open.tiktokapis.com/v2/oauth/token/"
        );
        assert!(
            serde_json::from_str::<TikTokConfig>(
                r#"{"client_key":"k","client_secret":"s","mode":"x"}"#
            )
            .is_err()
        );
    }
}
