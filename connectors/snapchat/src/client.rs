//! The HTTP side: bearer calls to the Public Profile API with Snap's envelope checked, and the
//! token endpoint on accounts.snapchat.com.

use std::sync::Arc;

use chrono::Utc;
use pressroom_connector::ConnectorError;
use pressroom_connector::http::{self, HttpTimeouts};
use reqwest::{Method, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::SnapchatConfig;
use crate::errors::{self, Phase, SnapError};
use crate::pace::Pacer;

#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    pub(crate) cfg: SnapchatConfig,
    /// Shared by the clones: one bucket per access token for the whole connector.
    pace: Arc<Pacer>,
}

/// An answer before any mapping: see [`Client::send_raw`].
#[derive(Debug)]
pub struct RawAnswer {
    pub status: reqwest::StatusCode,
    pub retry_after: Option<std::time::Duration>,
    pub body: Vec<u8>,
}

#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: SecretString,
    pub expires_in: i64,
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl Client {
    pub fn new(cfg: SnapchatConfig) -> Result<Self, http::ClientBuildError> {
        let http = http::client(HttpTimeouts {
            request: cfg.timeout(),
            ..HttpTimeouts::default()
        })?;
        let pace = Arc::new(Pacer::new(cfg.requests_per_second_per_token));
        Ok(Self { http, cfg, pace })
    }

    pub fn request(&self, method: Method, path: &str, token: &SecretString) -> RequestBuilder {
        self.http
            .request(method, self.cfg.api(path))
            .bearer_auth(token.expose_secret())
    }

    /// Sends, maps non-2xx, and parses the JSON body; a 2xx whose `request_status` is ERROR
    /// is a refusal.
    pub async fn send<T: DeserializeOwned>(
        &self,
        req: RequestBuilder,
        phase: Phase,
    ) -> Result<T, ConnectorError> {
        let irreversible = phase == Phase::Commit;
        let answer = self.send_raw(req, phase).await?;
        let (status, bytes) = (answer.status, &answer.body);
        if !status.is_success() {
            return Err(errors::classify(status, answer.retry_after, bytes, phase));
        }
        let env: SnapError = serde_json::from_slice(bytes).unwrap_or_default();
        if env.request_status.as_deref() == Some("ERROR") {
            return Err(errors::refused(&env));
        }
        serde_json::from_slice(bytes).map_err(|e| {
            let msg = format!("Snapchat answered {status} with an unreadable body: {e}");
            if irreversible {
                ConnectorError::OutcomeUnknown(msg)
            } else {
                ConnectorError::transient(msg)
            }
        })
    }

    /// Paces and sends; the answer as it came, for a caller that reads Snap's refusals itself
    /// (the stats call drops a refused field and asks again). Only a call that got no answer
    /// is an error here.
    pub async fn send_raw(
        &self,
        req: RequestBuilder,
        phase: Phase,
    ) -> Result<RawAnswer, ConnectorError> {
        let irreversible = phase == Phase::Commit;
        // Built here so the pacer can read the token; nothing has been sent yet.
        let req = req.build().map_err(|e| {
            ConnectorError::transient(format!("Snapchat: building the request: {e}"))
        })?;
        let token = req
            .headers()
            .get(reqwest::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if let Err(wait) = self.pace.admit(token).await {
            // Nothing was sent: safe in every phase, the publishing call included.
            return Err(ConnectorError::RateLimited {
                retry_after: Some(wait),
            });
        }
        let resp = self
            .http
            .execute(req)
            .await
            .map_err(|e| http::classify_send_error(e, irreversible))?;
        let status = resp.status();
        let retry_after = http::retry_after(resp.headers(), Utc::now());
        let body = resp
            .bytes()
            .await
            .map_err(|e| http::classify_send_error(e, irreversible))?;
        Ok(RawAnswer {
            status,
            retry_after,
            body: body.to_vec(),
        })
    }

    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, ConnectorError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
            ("client_id", self.cfg.client_id.as_str()),
            ("client_secret", self.cfg.client_secret.expose_secret()),
        ];
        let resp = self
            .http
            .post(self.cfg.accounts("/login/oauth2/access_token"))
            .form(&form)
            .send()
            .await
            .map_err(ConnectorError::transient)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(ConnectorError::transient)?;
        if !status.is_success() {
            return Err(errors::classify_oauth(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            ConnectorError::transient(format!("Snapchat token response unreadable: {e}"))
        })
    }
}
