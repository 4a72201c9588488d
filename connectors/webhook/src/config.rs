//! Where deliveries go and how they are shaped. One webhook connector per binary; the
//! receiver tells its destinations apart by the account's external id in the payload.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// How the rendition travels in the payload.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MediaMode {
    /// `media[].url`: our signed public URL (the receiver downloads it).
    #[default]
    Url,
    /// `media[].data_base64`: the bytes inline (no public URL needed; bigger requests).
    Base64,
}

/// `[connectors.webhook]` in the daemon's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where each post is POSTed.
    pub url: Url,
    /// Standard Webhooks secret, `whsec_<base64>` (≥ 16 bytes); never logged.
    pub secret: SecretString,
    #[serde(default)]
    pub media: MediaMode,
    /// Optional read-only status endpoint: `GET {status_url}?webhook_id={id}` answers
    /// 200 `{"id","url"}` when the receiver has the post and 404 when it does not. Without
    /// it, reconcile cannot ask a generic receiver and answers "unknown".
    #[serde(default)]
    pub status_url: Option<Url>,
    /// Set when the receiver dedupes on `webhook-id` (Standard Webhooks asks receivers to):
    /// then a delivery whose answer was lost is simply sent again instead of reconciled.
    #[serde(default)]
    pub receiver_dedupes: bool,
    /// How long a delivery the receiver accepted may take to show at `status_url` (receivers
    /// that queue before they store). A 404 there proves the post absent only
    /// `timeout_secs + listing_lag_secs` after the commit started. Default 30.
    #[serde(default = "default_listing_lag")]
    pub listing_lag_secs: u64,
    /// Optional OAuth 2.0 token endpoint of the receiver (RFC 6749 §6). When set, an account
    /// whose credentials carry a refresh token gets a new bearer token there when the receiver
    /// answers 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1: the
    /// token expired). Without it, bearer tokens are static and a 401 parks the account.
    #[serde(default)]
    pub token_url: Option<Url>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Caption limit the receiver accepts, checked in `validate`.
    #[serde(default = "default_caption")]
    pub max_caption_chars: usize,
    #[serde(default = "default_bytes")]
    pub max_media_bytes: u64,
}

fn default_timeout() -> u64 {
    30
}
fn default_listing_lag() -> u64 {
    30
}
fn default_caption() -> usize {
    10_000
}
fn default_bytes() -> u64 {
    20 * 1024 * 1024
}

impl WebhookConfig {
    pub fn new(url: Url, secret: SecretString) -> Self {
        Self {
            url,
            secret,
            media: MediaMode::default(),
            status_url: None,
            receiver_dedupes: false,
            listing_lag_secs: default_listing_lag(),
            token_url: None,
            timeout_secs: default_timeout(),
            max_caption_chars: default_caption(),
            max_media_bytes: default_bytes(),
        }
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// When a 404 from `status_url` proves the delivery absent (see `listing_lag_secs`).
    pub fn absent_final_after(&self) -> Duration {
        self.timeout() + Duration::from_secs(self.listing_lag_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_unknown_fields() {
        let c: WebhookConfig = serde_json::from_str(
            r#"{"url":"https://hooks.example/p","secret":"whsec_AAAAAAAAAAAAAAAAAAAAAA==","media":"base64"}"#,
        )
        .expect("parses");
        assert_eq!(c.media, MediaMode::Base64);
        assert!(c.status_url.is_none());
        assert!(c.token_url.is_none());
        assert_eq!(c.absent_final_after(), Duration::from_secs(30 + 30));
        assert!(
            serde_json::from_str::<WebhookConfig>(
                r#"{"url":"https://h.example","secret":"s","retries":3}"#
            )
            .is_err()
        );
    }
}
