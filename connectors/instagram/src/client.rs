//! Graph client for Instagram: versioned URLs on the configured host, bearer auth (never tokens
//! in URLs), error mapping with the Business-Use-Case header's regain estimate.

use std::time::Duration;

use chrono::Utc;
use pressroom_connector::{ConnectorError, http};
use reqwest::RequestBuilder;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::config::{ConfigError, InstagramConfig};
use crate::errors::map_error;

pub(crate) struct GraphClient {
    pub(crate) http: reqwest::Client,
    base: String,
    version: String,
    fallback: Duration,
}

/// Largest `estimated_time_to_regain_access` (minutes) in `X-Business-Use-Case-Usage`.
pub(crate) fn regain_after(headers: &HeaderMap) -> Option<Duration> {
    let v: Value =
        serde_json::from_slice(headers.get("x-business-use-case-usage")?.as_bytes()).ok()?;
    v.as_object()?
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|e| {
            e.get("estimated_time_to_regain_access")
                .and_then(Value::as_u64)
        })
        .filter(|m| *m > 0)
        .max()
        .map(|m| Duration::from_secs(m.saturating_mul(60)))
}

impl GraphClient {
    pub(crate) fn new(cfg: &InstagramConfig) -> Result<Self, ConfigError> {
        let http = http::client(http::HttpTimeouts {
            request: Duration::from_secs(cfg.request_timeout_secs),
            ..Default::default()
        })?;
        Ok(Self {
            http,
            base: cfg.graph_base_url().trim_end_matches('/').to_owned(),
            version: cfg.api_version.clone(),
            fallback: Duration::from_secs(cfg.quota_retry_minutes.saturating_mul(60)),
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.base,
            self.version,
            path.trim_start_matches('/')
        )
    }

    /// Unversioned URL on the same host (`/refresh_access_token` on graph.instagram.com).
    pub(crate) fn root_url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
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

    /// Sends and maps failures; `irreversible` marks `media_publish`.
    pub(crate) async fn call(
        &self,
        req: RequestBuilder,
        irreversible: bool,
    ) -> Result<Value, ConnectorError> {
        let resp = req
            .send()
            .await
            .map_err(|e| http::classify_send_error(e, irreversible))?;
        let status = resp.status();
        let headers = resp.headers().clone();
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
            regain_after(&headers),
            self.fallback,
            irreversible,
        );
        tracing::debug!(
            status = status.as_u16(),
            class = err.code(),
            "instagram graph call failed"
        );
        Err(err)
    }
}
