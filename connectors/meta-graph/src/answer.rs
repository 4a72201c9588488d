//! The tail every Graph call shares: read the whole answer, then JSON on success or the
//! platform's classification of the error. What a platform does around it (usage bookkeeping,
//! logging) stays in its client.

use std::time::Duration;

use chrono::Utc;
use pressroom_connector::{ConnectorError, http};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

use crate::errors::{Classify, GraphError, map_error};
use crate::insights::Refusal;

/// A Graph answer read whole: status, headers (usage, `Retry-After`) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// Sends `req` and reads the whole answer. `irreversible` marks the publish call: once the
    /// request may have reached Meta, a lost or cut-off answer is "outcome unknown", not a
    /// reason to send again.
    pub async fn fetch(req: RequestBuilder, irreversible: bool) -> Result<Self, ConnectorError> {
        let resp = req
            .send()
            .await
            .map_err(|e| http::classify_send_error(e, irreversible))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = match resp.bytes().await {
            Ok(b) => b,
            // Only a complete 4xx is a refusal; a success or a 5xx cut off mid-body may be
            // either.
            Err(e) if irreversible && !status.is_client_error() => {
                return Err(ConnectorError::OutcomeUnknown(format!(
                    "publish answer (HTTP {}) cut off: {e}",
                    status.as_u16()
                )));
            }
            Err(e) => return Err(ConnectorError::transient(e)),
        };
        Ok(Self {
            status,
            headers,
            body: body.into(),
        })
    }

    /// A success body as JSON. Unreadable is "outcome unknown" for the publish call (Meta said
    /// yes, we cannot tell to what) and transient elsewhere.
    pub fn json(&self, irreversible: bool) -> Result<Value, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            if irreversible {
                ConnectorError::OutcomeUnknown(format!("unreadable publish answer: {e}"))
            } else {
                ConnectorError::transient(format!("unreadable Graph answer: {e}"))
            }
        })
    }

    /// A failed answer in the taxonomy: [`map_error`] with the answer's `Retry-After` and the
    /// platform's code table.
    pub fn error(
        &self,
        throttle_wait: Option<Duration>,
        fallback_wait: Duration,
        irreversible: bool,
        classify: Classify,
    ) -> ConnectorError {
        map_error(
            self.status.as_u16(),
            &self.body,
            http::retry_after(&self.headers, Utc::now()),
            throttle_wait,
            fallback_wait,
            irreversible,
            classify,
        )
    }

    /// [`Self::error`] for a read, with the Graph error body kept beside it: fetch-back tells
    /// an unknown metric, a deleted post and a missing permission apart by code and message.
    pub fn refusal(
        &self,
        throttle_wait: Option<Duration>,
        fallback_wait: Duration,
        classify: Classify,
    ) -> Refusal {
        Refusal {
            graph: GraphError::parse(&self.body),
            error: self.error(throttle_wait, fallback_wait, false, classify),
        }
    }
}
