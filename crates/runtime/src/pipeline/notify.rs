//! Notify: delivers one post event to one outbound webhook endpoint, signed with the
//! endpoint's secret (Standard Webhooks headers). A 2xx completes the job; 410 Gone disables
//! the endpoint; any other answer or a network error is retried through the queue's backoff
//! (the same `webhook-id` every time, so the receiver can dedupe).

use pressroom_crypto::webhook::WebhookSecret;
use pressroom_store::ClaimedJob;
use pressroom_store::repo::webhook_endpoints;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use secrecy::SecretString;
use serde::Deserialize;
use tracing::{info, warn};

use super::{JobError, Pipeline, complete};
use crate::outbound::check_url;

#[derive(Deserialize)]
struct Payload {
    endpoint_id: String,
    event_id: String,
    body: serde_json::Value,
}

pub(super) async fn handle(p: &Pipeline, job: &ClaimedJob) -> Result<(), JobError> {
    let Payload {
        endpoint_id,
        event_id,
        body,
    } = job.payload()?;
    let ws = &job.workspace_id;
    let endpoint = match webhook_endpoints::get(p.store.conn(), ws, &endpoint_id).await {
        Ok(e) => e,
        Err(pressroom_store::StoreError::NotFound { .. }) => {
            info!(endpoint = %endpoint_id, "notify: the endpoint was deleted; nothing to send");
            return complete(p, job).await;
        }
        Err(e) => return Err(e.into()),
    };
    if !endpoint.is_enabled() {
        info!(endpoint = %endpoint.id, "notify: the endpoint is disabled; nothing to send");
        return complete(p, job).await;
    }
    let Some(outbound) = p.outbound.as_ref() else {
        return Err(JobError::retry("no HTTP client for webhook deliveries"));
    };
    // Checked again at delivery: the setting may have changed since the endpoint was saved.
    let url = check_url(&endpoint.url, outbound.config.allow_private)
        .map_err(|e| JobError::Permanent(format!("webhook endpoint {}: url {e}", endpoint.id)))?;
    let secret = endpoint
        .signing_secret(&crate::tokens::RowSealer(p.tokens.as_ref()))
        .map_err(|e| JobError::Permanent(format!("webhook endpoint {}: {e}", endpoint.id)))?;
    let secret = WebhookSecret::parse(&SecretString::from(secret)).map_err(|e| {
        JobError::Permanent(format!("webhook endpoint {}: secret: {e}", endpoint.id))
    })?;
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| JobError::Permanent(format!("notify payload: {e}")))?;
    let timestamp = chrono::Utc::now().timestamp();
    let headers = secret
        .headers(&event_id, timestamp, &bytes)
        .map_err(|e| JobError::Permanent(format!("signing the delivery: {e}")))?;
    let mut req = outbound
        .client
        .post(url)
        .header(CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let resp = match req.body(bytes).send().await {
        Ok(r) => r,
        Err(e) => return Err(JobError::retry(describe(e))),
    };
    let status = resp.status();
    if status.is_success() {
        info!(endpoint = %endpoint.id, event = %event_id, %status, "notify: delivered");
        return complete(p, job).await;
    }
    if status == StatusCode::GONE {
        return gone(p, job, &endpoint.id).await;
    }
    // Honoured as a floor, but never past the policy's cap: a receiver cannot park a job.
    let retry_after = pressroom_connector::http::retry_after(resp.headers(), chrono::Utc::now())
        .map(|d| d.min(p.retry.cap));
    warn!(endpoint = %endpoint.id, event = %event_id, %status, "notify: the receiver refused the delivery; will retry");
    Err(JobError::Retry {
        error: format!("the receiver answered HTTP {}", status.as_u16()),
        retry_after,
    })
}

/// 410 Gone: the receiver says this endpoint no longer exists, so stop sending to it.
async fn gone(p: &Pipeline, job: &ClaimedJob, endpoint_id: &str) -> Result<(), JobError> {
    let now = p.store.now_ms().await?;
    let tx = p.store.begin().await?;
    webhook_endpoints::disable(
        &p.store,
        &tx,
        now,
        &job.workspace_id,
        endpoint_id,
        "the receiver answered 410 Gone",
    )
    .await?;
    p.queue.complete(&tx, job).await?;
    tx.commit().await?;
    warn!(endpoint = %endpoint_id, "notify: the receiver answered 410 Gone; endpoint disabled");
    Ok(())
}

/// A transport error with its causes (the resolver's refusal is in the chain), without the URL.
fn describe(e: reqwest::Error) -> String {
    use std::error::Error as _;
    let e = e.without_url();
    let mut text = format!("delivery failed: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
