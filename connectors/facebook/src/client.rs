//! The Graph API client: the shared [`Endpoint`] (URLs with the configured version, bearer auth
//! so tokens never reach access logs), usage-header bookkeeping and error mapping.

use std::time::Duration;

use chrono::Utc;
use connector_meta_graph::insights::Refusal;
use connector_meta_graph::{Answer, Endpoint};
use pressroom_connector::ConnectorError;
use reqwest::RequestBuilder;
use serde_json::Value;

use crate::config::{ConfigError, FacebookConfig};
use crate::errors::classify_code;
use crate::usage::{Throttle, Usage};

pub(crate) struct GraphClient {
    pub(crate) graph: Endpoint,
    threshold: u32,
    fallback: Duration,
    throttle: Throttle,
}

impl GraphClient {
    pub(crate) fn new(cfg: &FacebookConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            graph: Endpoint::new(&cfg.graph_base_url, &cfg.api_version, cfg.request_timeout())?,
            threshold: cfg.usage_threshold_percent,
            fallback: Duration::from_secs(cfg.usage_backoff_minutes.saturating_mul(60)),
            throttle: Throttle::default(),
        })
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
        let answer = Answer::fetch(req, irreversible).await?;
        let usage = Usage::from_headers(&answer.headers);
        if answer.status.is_success() {
            self.throttle
                .note(key, &usage, self.threshold, self.fallback, Utc::now());
            return answer.json(irreversible);
        }
        let err = answer.error(
            usage.regain_after,
            self.fallback,
            irreversible,
            classify_code,
        );
        tracing::debug!(
            status = answer.status.as_u16(),
            class = err.code(),
            "graph call failed"
        );
        Err(err)
    }
}

impl GraphClient {
    /// A read for fetch-back: as [`Self::call`], with the Graph error body kept beside the
    /// mapped error (an unknown metric and a deleted post are told apart by it).
    pub(crate) async fn read(&self, key: &str, req: RequestBuilder) -> Result<Value, Refusal> {
        let answer = Answer::fetch(req, false).await?;
        let usage = Usage::from_headers(&answer.headers);
        if answer.status.is_success() {
            self.throttle
                .note(key, &usage, self.threshold, self.fallback, Utc::now());
            return Ok(answer.json(false)?);
        }
        let refusal = answer.refusal(usage.regain_after, self.fallback, classify_code);
        tracing::debug!(
            status = answer.status.as_u16(),
            class = refusal.error.code(),
            "graph read failed"
        );
        Err(refusal)
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
