//! The Graph API client: URL building with the configured version, bearer auth (tokens never in
//! URLs, so they never reach access logs), usage-header bookkeeping and error mapping.

use std::time::Duration;

use chrono::Utc;
use pressroom_connector::{ConnectorError, http};
use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::config::{ConfigError, FacebookConfig};
use crate::errors::map_error;
use crate::usage::{Throttle, Usage};

pub(crate) struct GraphClient {
    pub(crate) http: reqwest::Client,
    base: String,
    version: String,
    threshold: u32,
    fallback: Duration,
    throttle: Throttle,
}

impl GraphClient {
    pub(crate) fn new(cfg: &FacebookConfig) -> Result<Self, ConfigError> {
        let http = http::client(http::HttpTimeouts {
            request: cfg.request_timeout(),
            ..Default::default()
        })?;
        Ok(Self {
            http,
            base: cfg.graph_base_url.trim_end_matches('/').to_owned(),
            version: cfg.api_version.clone(),
            threshold: cfg.usage_threshold_percent,
            fallback: Duration::from_secs(cfg.usage_backoff_minutes.saturating_mul(60)),
            throttle: Throttle::default(),
        })
    }

    /// `{base}/{version}/{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.base,
            self.version,
            path.trim_start_matches('/')
        )
    }

    pub(crate) fn get(&self, path: &str, token: &SecretString) -> RequestBuilder {
        self.http
            .get(self.url(path))
            .bearer_auth(token.expose_secret())
    }

    pub(crate) fn post(&self, path: &str, token: &SecretString) -> RequestBuilder {
        self.http
            .post(self.url(path))
            .bearer_auth(token.expose_secret())
    }

    /// Refuses early when `key`'s usage is over the threshold (defer before Meta refuses).
    pub(crate) fn check_throttle(&self, key: &str) -> Result<(), ConnectorError> {
        match self.throttle.wait(key, Utc::now()) {
            Some(wait) => Err(ConnectorError::RateLimited {
                retry_after: Some(wait),
            }),
            None => Ok(()),
        }
    }

    /// Sends, records usage for `key`, and maps failures. `irreversible` marks the publish call.
    pub(crate) async fn call(
        &self,
        key: &str,
        req: RequestBuilder,
        irreversible: bool,
    ) -> Result<Value, ConnectorError> {
        let resp = req
            .send()
            .await
            .map_err(|e| http::classify_send_error(e, irreversible))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let usage = Usage::from_headers(&headers);
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) if irreversible && status.is_success() => {
                return Err(ConnectorError::OutcomeUnknown(format!(
                    "publish answer cut off: {e}"
                )));
            }
            Err(e) => return Err(ConnectorError::transient(e)),
        };
        if status.is_success() {
            self.throttle
                .note(key, &usage, self.threshold, self.fallback, Utc::now());
            return serde_json::from_slice(&body).map_err(|e| {
                if irreversible {
                    ConnectorError::OutcomeUnknown(format!("unreadable publish answer: {e}"))
                } else {
                    ConnectorError::transient(format!("unreadable Graph answer: {e}"))
                }
            });
        }
        let err = map_error(
            status.as_u16(),
            &body,
            http::retry_after(&headers, Utc::now()),
            usage.regain_after,
            self.fallback,
            irreversible,
        );
        tracing::debug!(
            status = status.as_u16(),
            class = err.code(),
            "graph call failed"
        );
        Err(err)
    }
}

/// Graph `paging.next` URLs embed `access_token`; we drop it and send the token as a header, so
/// it can never surface in an error message or a log line that prints the URL.
pub(crate) fn strip_token(next: &str) -> String {
    match url::Url::parse(next) {
        Ok(mut u) => {
            let kept: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| k != "access_token")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            u.query_pairs_mut().clear().extend_pairs(kept);
            u.to_string()
        }
        Err(_) => next.to_owned(),
    }
}
