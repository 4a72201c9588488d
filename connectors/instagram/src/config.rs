//! Configuration: hosts, Graph version, polling and caption limits. Limits Meta documents
//! inconsistently (hashtags, mentions) are configurable, per PLATFORMS.md §2.4.

use std::time::Duration;

use connector_meta_graph::{is_http_url, is_version};
use secrecy::SecretString;
use serde::Deserialize;

/// Which Instagram login the accounts use; decides the host and how tokens refresh.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Login {
    /// Instagram API with Facebook Login: graph.facebook.com, Page tokens.
    #[default]
    Facebook,
    /// Instagram API with Instagram Login: graph.instagram.com, `ig_refresh_token`.
    Instagram,
}

/// `[connectors.instagram]` in the daemon's config.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstagramConfig {
    #[serde(default)]
    pub login: Login,
    /// Graph host for Facebook Login (`https://graph.facebook.com`).
    #[serde(default = "default_fb_graph")]
    pub facebook_graph_base_url: String,
    /// Graph host for Instagram Login (`https://graph.instagram.com`).
    #[serde(default = "default_ig_graph")]
    pub instagram_graph_base_url: String,
    /// Host of Meta's login dialog (Facebook Login).
    #[serde(default = "default_dialog")]
    pub dialog_base_url: String,
    /// Host of Instagram Login's code exchange (`https://api.instagram.com`).
    #[serde(default = "default_ig_api")]
    pub instagram_api_base_url: String,
    #[serde(default = "default_version")]
    pub api_version: String,
    pub app_id: String,
    pub app_secret: SecretString,
    #[serde(default = "default_timeout")]
    pub request_timeout_secs: u64,
    /// Pause between container status polls (Meta suggests about once a minute, 5 minutes max).
    #[serde(default = "default_poll_ms")]
    pub status_poll_interval_ms: u64,
    /// Status polls per phase before giving up for now.
    #[serde(default = "default_poll_max")]
    pub status_poll_max: u32,
    #[serde(default = "default_hashtags")]
    pub max_hashtags: usize,
    #[serde(default = "default_mentions")]
    pub max_mentions: usize,
    /// How long to defer when the 24 h publishing quota is used up (the window is rolling and
    /// Meta does not say when a slot frees).
    #[serde(default = "default_quota_wait")]
    pub quota_retry_minutes: u64,
    /// Refresh Instagram-Login tokens when they expire within this many days.
    #[serde(default = "default_refresh_days")]
    pub refresh_before_days: u64,
}

fn default_fb_graph() -> String {
    "https://graph.facebook.com".into()
}
fn default_ig_graph() -> String {
    "https://graph.instagram.com".into()
}
fn default_dialog() -> String {
    "https://www.facebook.com".into()
}
fn default_ig_api() -> String {
    "https://api.instagram.com".into()
}
fn default_version() -> String {
    "v25.0".into()
}
fn default_timeout() -> u64 {
    60
}
fn default_poll_ms() -> u64 {
    10_000
}
fn default_poll_max() -> u32 {
    30
}
fn default_hashtags() -> usize {
    30
}
fn default_mentions() -> usize {
    20
}
fn default_quota_wait() -> u64 {
    60
}
fn default_refresh_days() -> u64 {
    7
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("instagram: api_version must look like v25.0, got {0:?}")]
    Version(String),
    #[error("instagram: {0} is not an http(s) URL")]
    Url(String),
    #[error("instagram: {0}")]
    Http(#[from] pressroom_connector::http::ClientBuildError),
    /// Facebook Login connects through the same app's Pages flow.
    #[error("instagram (Facebook Login): {0}")]
    Facebook(#[from] connector_facebook::ConfigError),
}

impl InstagramConfig {
    pub fn new(app_id: impl Into<String>, app_secret: SecretString) -> Self {
        Self {
            login: Login::default(),
            facebook_graph_base_url: default_fb_graph(),
            instagram_graph_base_url: default_ig_graph(),
            dialog_base_url: default_dialog(),
            instagram_api_base_url: default_ig_api(),
            api_version: default_version(),
            app_id: app_id.into(),
            app_secret,
            request_timeout_secs: default_timeout(),
            status_poll_interval_ms: default_poll_ms(),
            status_poll_max: default_poll_max(),
            max_hashtags: default_hashtags(),
            max_mentions: default_mentions(),
            quota_retry_minutes: default_quota_wait(),
            refresh_before_days: default_refresh_days(),
        }
    }

    /// The Graph host the accounts' tokens belong to.
    pub fn graph_base_url(&self) -> &str {
        match self.login {
            Login::Facebook => &self.facebook_graph_base_url,
            Login::Instagram => &self.instagram_graph_base_url,
        }
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.status_poll_interval_ms)
    }

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if !is_version(&self.api_version) {
            return Err(ConfigError::Version(self.api_version.clone()));
        }
        for u in [
            &self.facebook_graph_base_url,
            &self.instagram_graph_base_url,
            &self.dialog_base_url,
            &self.instagram_api_base_url,
        ] {
            if !is_http_url(u) {
                return Err(ConfigError::Url(u.clone()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_refuses_unknown_fields() {
        let cfg: InstagramConfig =
            toml::from_str("app_id = \"1\"\napp_secret = \"s\"\nlogin = \"instagram\"\n")
                .expect("parse");
        assert_eq!(cfg.login, Login::Instagram);
        assert_eq!(cfg.graph_base_url(), "https://graph.instagram.com");
        assert_eq!(cfg.max_hashtags, 30);
        assert!(cfg.check().is_ok());
        assert!(
            toml::from_str::<InstagramConfig>("app_id = \"1\"\napp_secret = \"s\"\nhost = \"x\"\n")
                .is_err()
        );
        let mut bad = cfg.clone();
        bad.api_version = "latest".into();
        assert!(matches!(bad.check(), Err(ConfigError::Version(_))));
    }
}
