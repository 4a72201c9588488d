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
        Err(self.refusal(resp).await)
    }

    /// Maps a non-2xx answer, telling an expired bearer token (renewable when a token
    /// endpoint is configured) from a refused signature.
    async fn refusal(&self, resp: Response) -> ConnectorError {
        let status = resp.status();
        let retry_after = http::retry_after(resp.headers(), Utc::now());
        let expired = self.cfg.token_url.is_some() && errors::bearer_token_invalid(resp.headers());
        let bytes = resp.bytes().await.unwrap_or_default();
        errors::classify(status, retry_after, &bytes, expired)
    }

    /// `GET {status_url}?webhook_id={id}`: `Some(receipt body)` when the receiver has the
    /// delivery, `None` on 404; the outer `None` when no status URL is configured.
    pub async fn status(
        &self,
        msg_id: &str,
        token: &SecretString,
    ) -> Option<Result<Option<Vec<u8>>, ConnectorError>> {
        let url = self.cfg.status_url.clone()?;
        let mut req = self.http.get(url).query(&[("webhook_id", msg_id)]);
        if !token.expose_secret().is_empty() {
            req = req.bearer_auth(token.expose_secret());
        }
        Some(self.status_answer(req).await)
    }

    async fn status_answer(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<Option<Vec<u8>>, ConnectorError> {
        let resp = req.send().await.map_err(ConnectorError::transient)?;
        match resp.status().as_u16() {
            200..=299 => {
                let bytes = resp.bytes().await.map_err(ConnectorError::transient)?;
                Ok(Some(bytes.to_vec()))
            }
            404 => Ok(None),
            _ => Err(self.refusal(resp).await),
        }
    }

    /// Refresh grant at the receiver's token endpoint (RFC 6749 §6).
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, ConnectorError> {
        let Some(url) = self.cfg.token_url.clone() else {
            return Err(ConnectorError::Disconnected(
                "the webhook receiver refused the account's token and no token_url is configured to renew it; update the account".into(),
            ));
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        let resp = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(ConnectorError::transient)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(ConnectorError::transient)?;
        if !status.is_success() {
            return Err(errors::classify_token(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            ConnectorError::transient(format!("webhook token response unreadable: {e}"))
        })
    }
}

/// A token endpoint's answer (RFC 6749 §5.1).
#[derive(Debug, serde::Deserialize)]
pub struct TokenResponse {
    pub access_token: SecretString,
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// Absent when the endpoint does not rotate: keep the stored one.
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
}
