//! Graph client for Instagram: the shared [`Endpoint`] (versioned URLs on the configured host,
//! bearer auth, never tokens in URLs), error mapping with the Business-Use-Case header's regain
//! estimate.

use std::time::Duration;

use connector_meta_graph::insights::Refusal;
use connector_meta_graph::{Answer, Endpoint};
use pressroom_connector::ConnectorError;
use reqwest::RequestBuilder;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::config::{ConfigError, InstagramConfig};
use crate::errors::classify_code;

pub(crate) struct GraphClient {
    pub(crate) graph: Endpoint,
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
        Ok(Self {
            graph: Endpoint::new(
                cfg.graph_base_url(),
                &cfg.api_version,
                Duration::from_secs(cfg.request_timeout_secs),
            )?,
            fallback: Duration::from_secs(cfg.quota_retry_minutes.saturating_mul(60)),
        })
    }

    /// Sends and maps failures; `irreversible` marks `media_publish`.
    pub(crate) async fn call(
        &self,
        req: RequestBuilder,
        irreversible: bool,
    ) -> Result<Value, ConnectorError> {
        let answer = Answer::fetch(req, irreversible).await?;
        if answer.status.is_success() {
            return answer.json(irreversible);
        }
        let err = answer.error(
            regain_after(&answer.headers),
            self.fallback,
            irreversible,
            classify_code,
        );
        tracing::debug!(
            status = answer.status.as_u16(),
            class = err.code(),
            "instagram graph call failed"
        );
        Err(err)
    }

    /// A read for fetch-back: as [`Self::call`], with the Graph error body kept beside the
    /// mapped error (an unknown metric, too few viewers and a missing permission are told
    /// apart by it).
    pub(crate) async fn read(&self, req: RequestBuilder) -> Result<Value, Refusal> {
        let answer = Answer::fetch(req, false).await?;
        if answer.status.is_success() {
            return Ok(answer.json(false)?);
        }
        let refusal = answer.refusal(regain_after(&answer.headers), self.fallback, classify_code);
        tracing::debug!(
            status = answer.status.as_u16(),
            class = refusal.error.code(),
            "instagram graph read failed"
        );
        Err(refusal)
    }
}
