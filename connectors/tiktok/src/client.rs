//! The HTTP side: JSON calls with TikTok's envelope (`data` + `error`, checked on every answer,
//! 200s included) and the OAuth token endpoint, whose errors may arrive with HTTP 200.

use chrono::Utc;
use pressroom_connector::ConnectorError;
use pressroom_connector::http::{self, HttpTimeouts};
use reqwest::header::CONTENT_TYPE;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::TikTokConfig;
use crate::errors::{self, CallKind, Envelope, OAuthError};

#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    pub(crate) cfg: TikTokConfig,
}

/// `POST /v2/oauth/token/` success body.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: SecretString,
    pub expires_in: i64,
    pub refresh_token: SecretString,
    #[serde(default)]
    pub refresh_expires_in: Option<i64>,
    #[serde(default)]
    pub open_id: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl Client {
    pub fn new(cfg: TikTokConfig) -> Result<Self, http::ClientBuildError> {
        let http = http::client(HttpTimeouts {
            request: cfg.timeout(),
            ..HttpTimeouts::default()
        })?;
        Ok(Self { http, cfg })
    }

    /// POSTs JSON to a Content Posting endpoint and returns `data`. `irreversible` marks content
    /// init: once the request may have reached TikTok, a lost or unreadable answer is
    /// "outcome unknown", never "try again".
    pub async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        token: &SecretString,
        body: Option<&serde_json::Value>,
        irreversible: bool,
    ) -> Result<T, ConnectorError> {
        let mut req = self
            .http
            .post(self.cfg.api(path))
            .bearer_auth(token.expose_secret())
            .header(CONTENT_TYPE, "application/json; charset=UTF-8");
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| http::classify_send_error(e, irreversible))?;
        let status = resp.status();
        // TikTok documents no Retry-After; honoured should a proxy add one.
        let retry_after = http::retry_after(resp.headers(), Utc::now());
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| http::classify_send_error(e, irreversible))?;
        let kind = CallKind {
            irreversible,
            rate_window: self.cfg.rate_limit_wait(),
        };
        let unreadable = |what: String| {
            if irreversible {
                ConnectorError::OutcomeUnknown(format!("TikTok {path} answered {status}: {what}"))
            } else {
                ConnectorError::transient(format!("TikTok {path} answered {status}: {what}"))
            }
        };
        // The error object decides first: error answers carry `"data": {}`.
        let env: Envelope<serde_json::Value> = match serde_json::from_slice(&bytes) {
            Ok(env) => env,
            Err(e) => {
                let what = format!("unreadable body ({e})");
                return Err(errors::classify_status(status, &what, kind)
                    .unwrap_or_else(|| unreadable(what)));
            }
        };
        if !env.error.is_ok() {
            return Err(errors::classify(status, &env.error, retry_after, kind));
        }
        let data = env.data.ok_or_else(|| unreadable("no data".into()))?;
        serde_json::from_value(data).map_err(|e| unreadable(format!("unexpected data ({e})")))
    }

    /// Refresh grant. TikTok rotates: the answer carries a new refresh token and the old one
    /// stops working, so the caller must store it before using the new access token.
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, ConnectorError> {
        let form = [
            ("client_key", self.cfg.client_key.as_str()),
            ("client_secret", self.cfg.client_secret.expose_secret()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        let resp = self
            .http
            .post(self.cfg.api("/v2/oauth/token/"))
            .form(&form)
            .send()
            .await
            .map_err(ConnectorError::transient)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(ConnectorError::transient)?;
        let oauth_err: OAuthError = serde_json::from_slice(&bytes).unwrap_or_default();
        if !status.is_success() || !oauth_err.error.is_empty() {
            return Err(errors::classify_oauth(status, &oauth_err));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            ConnectorError::transient(format!("TikTok token response unreadable: {e}"))
        })
    }
}
