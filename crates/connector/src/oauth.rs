//! OAuth2 authorization-code flow on the `oauth2` crate, shared by every connector and by both
//! front doors: the CLI (`pressroom accounts connect`: loopback receiver or pasted redirect URL)
//! and the control API's callback route (which calls [`parse_redirect`] / [`exchange_code`]).
//!
//! State is always checked; PKCE is used where the platform's [`OAuthSpec`] says it works.
//! Platforms with non-standard token steps (Meta's long-lived exchange, page tokens) do those
//! in their connector after [`exchange_code`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

use crate::{ConnectorError, Credentials, OAuthSpec, http};

/// One account a consent granted, ready to store.
#[derive(Clone, Debug)]
pub struct GrantedAccount {
    pub external_id: String,
    /// What a person recognises it by (the Page's name, the profile's handle).
    pub display: String,
    pub credentials: Credentials,
}

/// A platform's connect flow, offered by its connector ([`crate::Connector::connect_flow`]) so
/// the CLI and the control API run the same steps without knowing the platform: the
/// authorize URL's endpoints and client settings, then the code exchange and whatever the
/// platform needs after it to find the accounts (Meta: long-lived token, one Page token per
/// Page).
#[async_trait::async_trait]
pub trait OAuthFlow: Send + Sync {
    /// The endpoints and our app, for the authorize URL and the code exchange.
    fn oauth_client(&self, redirect_uri: &str) -> (OAuthSpec, OAuthApp);

    /// Exchanges `code` (with the PKCE verifier where the spec asked for one) and returns the
    /// accounts the consent granted; empty when it granted none we can publish to.
    async fn finish(
        &self,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: Option<&SecretString>,
    ) -> Result<Vec<GrantedAccount>, ConnectorError>;

    /// The authorize URL with a fresh state (and PKCE challenge where supported).
    fn authorize(&self, redirect_uri: &str) -> Result<PendingAuthorization, OAuthError> {
        let (spec, app) = self.oauth_client(redirect_uri);
        authorize(&spec, &app)
    }
}

/// Our registered app at the platform. The secret comes from config as a `SecretString`.
#[derive(Clone, Debug)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub redirect_uri: String,
    /// How the platform joins scopes in the authorize URL (`" "` per RFC 6749, `","` for Meta).
    pub scope_delimiter: String,
    /// Send `client_id`/`client_secret` in the token request body instead of HTTP Basic auth
    /// (Meta, TikTok and LinkedIn expect the body form).
    pub credentials_in_body: bool,
}

impl OAuthApp {
    pub fn new(
        client_id: impl Into<String>,
        client_secret: Option<SecretString>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
            redirect_uri: redirect_uri.into(),
            scope_delimiter: " ".into(),
            credentials_in_body: false,
        }
    }
}

/// Why an OAuth step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    #[error("bad OAuth configuration: {0}")]
    Config(String),
    #[error("the redirect's state does not match this authorization (possible CSRF)")]
    StateMismatch,
    #[error("the user or platform denied the authorization: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied {
        error: String,
        description: Option<String>,
    },
    #[error("the redirect carries no authorization code")]
    MissingCode,
    /// The token endpoint refused the grant (`invalid_grant`: code used/expired, refresh revoked).
    #[error("the platform refused the grant: {0}")]
    InvalidGrant(String),
    #[error("token endpoint error: {0}")]
    Token(String),
    #[error("cannot reach the token endpoint: {0}")]
    Transport(String),
    #[error("no callback arrived in time")]
    Timeout,
    #[error("loopback receiver: {0}")]
    Io(#[from] std::io::Error),
}

impl From<OAuthError> for ConnectorError {
    /// A refused grant means a person must reconnect; transport trouble is retried.
    fn from(e: OAuthError) -> Self {
        match e {
            OAuthError::InvalidGrant(why) => ConnectorError::Disconnected(why),
            OAuthError::Transport(_) | OAuthError::Io(_) | OAuthError::Timeout => {
                ConnectorError::transient(e)
            }
            other => ConnectorError::Rejected(other.to_string()),
        }
    }
}

/// An authorization in progress: send the user to `url`, keep `state` and the PKCE verifier
/// (server side, e.g. in the DB) until the callback arrives.
pub struct PendingAuthorization {
    pub url: Url,
    pub state: String,
    pub pkce_verifier: Option<SecretString>,
}

impl std::fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("url", &self.url.as_str())
            .field(
                "pkce_verifier",
                &self.pkce_verifier.as_ref().map(|_| "[REDACTED]"),
            )
            .finish_non_exhaustive()
    }
}

/// Tokens from a code exchange or refresh.
#[derive(Clone, Debug)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_in: Option<Duration>,
    pub scopes: Vec<String>,
}

impl TokenSet {
    /// Credentials as stored, expiry computed from `now` (the platform's `expires_in`, never a
    /// hard-coded lifetime).
    pub fn into_credentials(self, now: DateTime<Utc>, extra: serde_json::Value) -> Credentials {
        let expires_at = self
            .expires_in
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| now + d);
        Credentials {
            access_token: self.access_token,
            refresh_token: self.refresh_token,
            expires_at,
            extra,
        }
    }
}

/// `BasicClient` with the authorize and token endpoints set.
type ConfiguredClient = BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn oauth_client(spec: &OAuthSpec, app: &OAuthApp) -> Result<ConfiguredClient, OAuthError> {
    let cfg = |what: &str, e: url::ParseError| OAuthError::Config(format!("{what}: {e}"));
    let mut client = BasicClient::new(ClientId::new(app.client_id.clone()))
        .set_auth_uri(
            AuthUrl::new(spec.authorize_url.clone()).map_err(|e| cfg("authorize_url", e))?,
        )
        .set_token_uri(TokenUrl::new(spec.token_url.clone()).map_err(|e| cfg("token_url", e))?)
        .set_redirect_uri(
            RedirectUrl::new(app.redirect_uri.clone()).map_err(|e| cfg("redirect_uri", e))?,
        );
    if app.credentials_in_body {
        client = client.set_auth_type(oauth2::AuthType::RequestBody);
    }
    if let Some(secret) = &app.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
    }
    Ok(client)
}

/// Builds the authorize URL with a fresh random state and, where supported, a PKCE S256 challenge.
pub fn authorize(spec: &OAuthSpec, app: &OAuthApp) -> Result<PendingAuthorization, OAuthError> {
    let client = oauth_client(spec, app)?;
    let mut req = client.authorize_url(CsrfToken::new_random);
    if !spec.scopes.is_empty() {
        req = req.add_scope(Scope::new(spec.scopes.join(&app.scope_delimiter)));
    }
    let mut verifier = None;
    if spec.pkce {
        let (challenge, v) = PkceCodeChallenge::new_random_sha256();
        req = req.set_pkce_challenge(challenge);
        verifier = Some(SecretString::from(v.secret().to_owned()));
    }
    let (url, state) = req.url();
    Ok(PendingAuthorization {
        url,
        state: state.secret().to_owned(),
        pkce_verifier: verifier,
    })
}

fn token_set(resp: &oauth2::basic::BasicTokenResponse) -> TokenSet {
    TokenSet {
        access_token: SecretString::from(resp.access_token().secret().to_owned()),
        refresh_token: resp
            .refresh_token()
            .filter(|t| !t.secret().is_empty())
            .map(|t| SecretString::from(t.secret().to_owned())),
        expires_in: resp.expires_in(),
        scopes: resp
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
    }
}

fn classify<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
) -> OAuthError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let detail = r.error_description().cloned().unwrap_or_default();
            match r.error() {
                BasicErrorResponseType::InvalidGrant => {
                    OAuthError::InvalidGrant(format!("invalid_grant {detail}"))
                }
                other => OAuthError::Token(format!("{} {detail}", other.as_ref())),
            }
        }
        RequestTokenError::Request(e) => OAuthError::Transport(e.to_string()),
        // Never echo the body: it may hold tokens.
        RequestTokenError::Parse(e, _) => {
            OAuthError::Token(format!("unreadable token response: {e}"))
        }
        RequestTokenError::Other(s) => OAuthError::Token(s),
    }
}

fn http_client() -> Result<reqwest::Client, OAuthError> {
    http::client(http::HttpTimeouts {
        connect: Duration::from_secs(10),
        request: Duration::from_secs(30),
    })
    .map_err(|e| OAuthError::Config(e.to_string()))
}

/// Exchanges an authorization code (with the PKCE verifier kept from [`authorize`]).
pub async fn exchange_code(
    spec: &OAuthSpec,
    app: &OAuthApp,
    code: &str,
    pkce_verifier: Option<&SecretString>,
) -> Result<TokenSet, OAuthError> {
    let client = oauth_client(spec, app)?;
    let http = http_client()?;
    let mut req = client.exchange_code(AuthorizationCode::new(code.to_owned()));
    if let Some(v) = pkce_verifier {
        req = req.set_pkce_verifier(PkceCodeVerifier::new(v.expose_secret().to_owned()));
    }
    let resp = req.request_async(&http).await.map_err(classify)?;
    Ok(token_set(&resp))
}

/// Standard refresh-token grant. A response without a refresh token means "keep the stored one"
/// (see `Credentials::merge_refreshed`).
pub async fn refresh(
    spec: &OAuthSpec,
    app: &OAuthApp,
    refresh_token: &SecretString,
) -> Result<TokenSet, OAuthError> {
    let client = oauth_client(spec, app)?;
    let http = http_client()?;
    let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
    let resp = client
        .exchange_refresh_token(&token)
        .request_async(&http)
        .await
        .map_err(classify)?;
    Ok(token_set(&resp))
}

/// Reads the code from a redirect URL (pasted by a user on a headless server, or the request
/// target the loopback receiver or the API callback got), checking state.
pub fn parse_redirect(redirect: &str, expected_state: &str) -> Result<String, OAuthError> {
    let url = Url::parse(redirect)
        .or_else(|_| Url::parse("http://localhost/").and_then(|base| base.join(redirect)))
        .map_err(|e| OAuthError::Config(format!("not a redirect URL: {e}")))?;
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            _ => {}
        }
    }
    // Meta appends `#_=_` to redirects; fragments are ignored by design.
    if let Some(error) = error {
        return Err(OAuthError::Denied { error, description });
    }
    if state.as_deref() != Some(expected_state) {
        return Err(OAuthError::StateMismatch);
    }
    code.filter(|c| !c.is_empty())
        .ok_or(OAuthError::MissingCode)
}

/// Receives one OAuth callback on 127.0.0.1, for `pressroom accounts connect` on a machine with
/// a browser. Register `redirect_uri()` with the platform (most allow any loopback port).
pub struct LoopbackReceiver {
    listener: tokio::net::TcpListener,
    redirect_uri: String,
}

impl LoopbackReceiver {
    /// Binds `127.0.0.1:port` (0 = any free port); the callback path is `path`.
    pub async fn bind(port: u16, path: &str) -> Result<Self, OAuthError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        Ok(Self {
            listener,
            redirect_uri: format!("http://{addr}{path}"),
        })
    }

    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for the browser's redirect, answers it with a short page, and returns the code.
    /// Requests for other paths (favicon) are answered 404 and ignored.
    pub async fn wait(self, expected_state: &str, timeout: Duration) -> Result<String, OAuthError> {
        let path = Url::parse(&self.redirect_uri)
            .map(|u| u.path().to_owned())
            .unwrap_or_default();
        tokio::time::timeout(timeout, async {
            loop {
                let (mut sock, _) = self.listener.accept().await?;
                let mut buf = vec![0u8; 8192];
                let mut len = 0;
                while len < buf.len() {
                    let n = sock.read(&mut buf[len..]).await?;
                    len += n;
                    if n == 0 || buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buf[..len]);
                let target = head.lines().next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("");
                if !target.starts_with(&path) {
                    sock.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await?;
                    continue;
                }
                let result = parse_redirect(target, expected_state);
                let body = match &result {
                    Ok(_) => "Pressroom: account connected. You can close this tab.",
                    Err(_) => "Pressroom: the authorization failed; see the terminal.",
                };
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                sock.write_all(reply.as_bytes()).await?;
                return result;
            }
        })
        .await
        .map_err(|_| OAuthError::Timeout)?
    }
}

#[cfg(test)]
mod tests;
