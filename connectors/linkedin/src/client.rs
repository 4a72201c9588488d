//! The HTTP side: LinkedIn's mandatory `/rest` headers on every call, status mapping through
//! `errors`, and the token endpoint. Tokens travel as `SecretString` and are exposed only to
//! build the `Authorization` header.

use chrono::Utc;
use pressroom_connector::ConnectorError;
use pressroom_connector::http::{self, HttpTimeouts};
use reqwest::{RequestBuilder, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::config::LinkedInConfig;
use crate::errors::{self, Phase, Throttle};

/// A thin wrapper over `reqwest::Client` that knows LinkedIn's headers and errors.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    pub(crate) cfg: LinkedInConfig,
}

/// A complete non-2xx answer: LinkedIn refused, definitely (what it means is `classify`'s call).
#[derive(Debug)]
pub struct ErrorAnswer {
    pub status: reqwest::StatusCode,
    pub retry_after: Option<std::time::Duration>,
    pub body: Vec<u8>,
}

/// Why a call did not succeed: no answer at all, or an answer that is not 2xx.
#[derive(Debug)]
pub enum Failure {
    /// Already classified by phase (`transient` or, on the create, `OutcomeUnknown`).
    Transport(ConnectorError),
    Answer(ErrorAnswer),
}

/// `POST /oauth/v2/accessToken` success body.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: SecretString,
    pub expires_in: i64,
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    #[serde(default)]
    pub refresh_token_expires_in: Option<i64>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl Client {
    /// Builds the client with the SDK's defaults (user agent, no redirects, so a bearer token
    /// never follows a redirect to another host); fails only if TLS cannot be initialised.
    pub fn new(cfg: LinkedInConfig) -> Result<Self, http::ClientBuildError> {
        let http = http::client(HttpTimeouts {
            request: cfg.timeout(),
            ..HttpTimeouts::default()
        })?;
        Ok(Self { http, cfg })
    }

    /// A `/rest` request with the version headers LinkedIn requires.
    pub fn rest(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &SecretString,
    ) -> RequestBuilder {
        self.http
            .request(method, self.cfg.api(path))
            .bearer_auth(token.expose_secret())
            .header("LinkedIn-Version", &self.cfg.linkedin_version)
            .header(
                "X-Restli-Protocol-Version",
                &self.cfg.restli_protocol_version,
            )
    }

    /// A request to an absolute URL LinkedIn handed us (the upload URL).
    pub fn absolute(
        &self,
        method: reqwest::Method,
        url: &str,
        token: &SecretString,
    ) -> RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(token.expose_secret())
    }

    /// Sends and maps any non-2xx answer or transport failure to a `ConnectorError`.
    pub async fn send(
        &self,
        req: RequestBuilder,
        phase: Phase,
    ) -> Result<Response, ConnectorError> {
        match self.try_send(req, phase).await {
            Ok(resp) => Ok(resp),
            Err(Failure::Transport(e)) => Err(e),
            Err(Failure::Answer(a)) => Err(self.classify(&a, phase)),
        }
    }

    /// Sends; a non-2xx answer comes back whole, for callers that recognise one particular
    /// refusal before the general mapping (the create refused while its image is processing).
    pub async fn try_send(&self, req: RequestBuilder, phase: Phase) -> Result<Response, Failure> {
        let resp = req
            .send()
            .await
            .map_err(|e| Failure::Transport(errors::transport(e, phase)))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let retry_after = http::retry_after(resp.headers(), Utc::now());
        // A body cut off mid-read still leaves a complete status line: classify on that.
        let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        Err(Failure::Answer(ErrorAnswer {
            status,
            retry_after,
            body,
        }))
    }

    /// The taxonomy for a non-2xx answer, with this connector's throttle settings.
    pub fn classify(&self, answer: &ErrorAnswer, phase: Phase) -> ConnectorError {
        errors::classify(
            answer.status,
            self.throttle(answer.retry_after),
            &answer.body,
            phase,
            Utc::now(),
        )
    }

    fn throttle(&self, retry_after: Option<std::time::Duration>) -> Throttle {
        Throttle {
            retry_after,
            short_backoff: self.cfg.throttle_backoff(),
        }
    }

    /// Reads a JSON body; a body that does not parse after a 2xx is transient (a proxy or a
    /// truncated response), except in `Commit` where it may hide a created post.
    pub async fn json<T: serde::de::DeserializeOwned>(
        resp: Response,
        phase: Phase,
    ) -> Result<T, ConnectorError> {
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| errors::transport(e, phase))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            let msg = format!("LinkedIn answered 2xx with an unreadable body: {e}");
            match phase {
                Phase::Safe => ConnectorError::transient(msg),
                Phase::Commit => ConnectorError::OutcomeUnknown(msg),
            }
        })
    }

    /// Exchanges a refresh token (programmatic refresh tokens: MDP/Community Management apps).
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
            .post(self.cfg.oauth("/oauth/v2/accessToken"))
            .form(&form)
            .send()
            .await
            .map_err(|e| errors::transport(e, Phase::Safe))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| errors::transport(e, Phase::Safe))?;
        if !status.is_success() {
            let retry_after = http::retry_after(&headers, Utc::now());
            return Err(errors::classify_oauth(
                status,
                self.throttle(retry_after),
                &body,
                Utc::now(),
            ));
        }
        serde_json::from_slice(&body).map_err(|e| {
            ConnectorError::transient(format!("LinkedIn token response unreadable: {e}"))
        })
    }
}
