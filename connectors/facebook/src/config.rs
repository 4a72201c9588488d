//! Connector configuration: every host and the Graph version come from here, so tests point the
//! connector at the fake and an upgrade of the Graph version is a config change.

use std::time::Duration;

use connector_meta_graph::{is_http_url, is_version};
use secrecy::SecretString;
use serde::Deserialize;

/// `[connectors.facebook]` in the daemon's config.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacebookConfig {
    /// Graph API host (`https://graph.facebook.com`).
    #[serde(default = "default_graph")]
    pub graph_base_url: String,
    /// Host of the browser login dialog (`https://www.facebook.com`).
    #[serde(default = "default_dialog")]
    pub dialog_base_url: String,
    /// Graph API version path prefix, `vNN.0`.
    #[serde(default = "default_version")]
    pub api_version: String,
    pub app_id: String,
    pub app_secret: SecretString,
    /// Permissions requested when connecting.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Whole-request timeout; a publish call that outlives it becomes "outcome unknown".
    #[serde(default = "default_timeout")]
    pub request_timeout_secs: u64,
    /// Usage percentage (any of call_count / total_cputime / total_time) at which we stop
    /// calling and defer, before Meta starts refusing (Mixpost uses 90).
    #[serde(default = "default_threshold")]
    pub usage_threshold_percent: u32,
    /// Deferral when usage is over the threshold but Meta names no time (minutes).
    #[serde(default = "default_backoff")]
    pub usage_backoff_minutes: u64,
    /// How long a new post may take to show in `/published_posts`. Reconcile takes "not listed"
    /// as proof of absence only after the request timeout plus this lag since the commit began.
    #[serde(default = "default_listing_lag")]
    pub listing_lag_secs: u64,
}

fn default_graph() -> String {
    "https://graph.facebook.com".into()
}
fn default_dialog() -> String {
    "https://www.facebook.com".into()
}
fn default_version() -> String {
    "v25.0".into()
}
fn default_scopes() -> Vec<String> {
    [
        "pages_show_list",
        "pages_manage_posts",
        "pages_read_engagement",
        "business_management",
        // Post insights (fetch-back, PLATFORMS.md §9.1).
        "read_insights",
    ]
    .map(String::from)
    .to_vec()
}
fn default_timeout() -> u64 {
    60
}
fn default_threshold() -> u32 {
    90
}
fn default_backoff() -> u64 {
    60
}
fn default_listing_lag() -> u64 {
    60
}

/// A configuration the connector cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("facebook: api_version must look like v25.0, got {0:?}")]
    Version(String),
    #[error("facebook: {0} is not an http(s) URL")]
    Url(String),
    #[error("facebook: {0}")]
    Http(#[from] pressroom_connector::http::ClientBuildError),
}

impl FacebookConfig {
    /// A config with defaults for everything but the app credentials.
    pub fn new(app_id: impl Into<String>, app_secret: SecretString) -> Self {
        Self {
            graph_base_url: default_graph(),
            dialog_base_url: default_dialog(),
            api_version: default_version(),
            app_id: app_id.into(),
            app_secret,
            scopes: default_scopes(),
            request_timeout_secs: default_timeout(),
            usage_threshold_percent: default_threshold(),
            usage_backoff_minutes: default_backoff(),
            listing_lag_secs: default_listing_lag(),
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// When a listing without the post proves it absent (see `listing_lag_secs`).
    pub fn absent_final_after(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs + self.listing_lag_secs)
    }

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if !is_version(&self.api_version) {
            return Err(ConfigError::Version(self.api_version.clone()));
        }
        for u in [&self.graph_base_url, &self.dialog_base_url] {
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
        let cfg: FacebookConfig =
            toml::from_str("app_id = \"1\"\napp_secret = \"s\"\n").expect("parse");
        assert_eq!(cfg.api_version, "v25.0");
        assert!(cfg.check().is_ok());
        assert!(!format!("{cfg:?}").contains("\"s\""), "secret in Debug");
        assert!(
            toml::from_str::<FacebookConfig>(
                "app_id = \"1\"\napp_secret = \"s\"\nversion = \"v1\"\n"
            )
            .is_err()
        );
        let mut bad = cfg.clone();
        bad.api_version = "25".into();
        assert!(matches!(bad.check(), Err(ConfigError::Version(_))));
        bad.api_version = "v20.0".into();
        bad.graph_base_url = "ftp://x".into();
        assert!(matches!(bad.check(), Err(ConfigError::Url(_))));
    }
}
