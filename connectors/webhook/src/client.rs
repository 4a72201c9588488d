//! Signed delivery: Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256>`) over the exact bytes sent.

use chrono::Utc;
use pressroom_connector::ConnectorError;
use pressroom_connector::http::{self, HttpTimeouts};
use pressroom_crypto::webhook::WebhookSecret;
use reqwest::Response;
use reqwest::header::CONTENT_TYPE;
use secrecy::{ExposeSecret, SecretString};

use crate::config::WebhookConfig;
use crate::errors;

#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    secret: WebhookSecret,
    pub(crate) cfg: WebhookConfig,
}

/// Why a webhook connector could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Http(#[from] http::ClientBuildError),
    #[error("webhook secret: {0}")]
    Secret(#[from] pressroom_crypto::webhook::WebhookError),
}

impl Client {
    pub fn new(cfg: WebhookConfig) -> Result<Self, BuildError> {
        let secret = WebhookSecret::parse(&cfg.secret)?;
        let http = http::client(HttpTimeouts {
            request: cfg.timeout(),
            ..HttpTimeouts::default()
        })?;
        Ok(Self { http, secret, cfg })
    }

    /// POSTs `body` signed with `msg_id`. A lost answer is "outcome unknown" unless the
    /// receiver dedupes on `webhook-id`, in which case sending again is safe.
    pub async fn deliver(
        &self,
        msg_id: &str,
        body: Vec<u8>,
        token: &SecretString,
    ) -> Result<Response, ConnectorError> {
        let ts = Utc::now().timestamp();
        let headers = self
            .secret
            .headers(msg_id, ts, &body)
            .map_err(|e| ConnectorError::Rejected(format!("signing the webhook: {e}")))?;
        let mut req = self
            .http
            .post(self.cfg.url.clone())
            .header(CONTENT_TYPE, "application/json");
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if !token.expose_secret().is_empty() {
            req = req.bearer_auth(token.expose_secret());
        }
        let irreversible = !self.cfg.receiver_dedupes;
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| http::classify_send_error(e, irreversible))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let retry_after = http::retry_after(resp.headers(), Utc::now());
        let bytes = resp.bytes().await.unwrap_or_default();
        Err(errors::classify(status, retry_after, &bytes))
    }

    /// `GET {status_url}?webhook_id={id}`; `None` when no status URL is configured.
    pub async fn status(
        &self,
        msg_id: &str,
        token: &SecretString,
    ) -> Option<Result<Response, ConnectorError>> {
        let url = self.cfg.status_url.clone()?;
        let mut req = self.http.get(url).query(&[("webhook_id", msg_id)]);
        if !token.expose_secret().is_empty() {
            req = req.bearer_auth(token.expose_secret());
        }
        Some(req.send().await.map_err(ConnectorError::transient))
    }
}
