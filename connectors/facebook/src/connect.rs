//! Connecting Pages: code → short-lived user token (the shared OAuth helper) → long-lived user
//! token (`fb_exchange_token`) → one Page token per Page the user manages (`/me/accounts`).
//! Used by `pressroom accounts connect facebook` and the API's OAuth callback.

use chrono::Utc;
use pressroom_connector::oauth::{self, GrantedAccount, OAuthApp, OAuthFlow, TokenSet};
use pressroom_connector::{ConnectorError, Credentials, OAuthSpec};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::FacebookConnector;
use crate::client::strip_token;

/// One Page as `/me/accounts` lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct PageAccount {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub access_token: SecretString,
    #[serde(default)]
    pub tasks: Vec<String>,
    #[serde(default)]
    pub instagram_business_account: Option<IgAccount>,
}

/// The Instagram professional account linked to a Page, if any.
#[derive(Clone, Debug, Deserialize)]
pub struct IgAccount {
    pub id: String,
}

/// A Page ready to store as an account: external id, display name, credentials.
#[derive(Clone, Debug)]
pub struct ConnectedPage {
    pub page_id: String,
    pub name: String,
    pub instagram_business_account: Option<String>,
    pub credentials: Credentials,
}

#[derive(Deserialize)]
struct PageList {
    data: Vec<PageAccount>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    next: Option<String>,
}

/// Most pages we walk through `paging.next`; a user with more Pages than this is unusual.
const MAX_PAGES: usize = 20;

impl FacebookConnector {
    /// Our app as the OAuth helper needs it (Meta joins scopes with commas).
    pub fn oauth_app(&self, redirect_uri: &str) -> OAuthApp {
        let mut app = OAuthApp::new(
            self.config().app_id.clone(),
            Some(self.config().app_secret.clone()),
            redirect_uri,
        );
        app.scope_delimiter = ",".into();
        app.credentials_in_body = true;
        app
    }

    /// Short-lived user token → long-lived (~60 days; `expires_in` from Meta, never assumed).
    pub async fn exchange_long_lived(
        &self,
        user_token: &SecretString,
    ) -> Result<TokenSet, ConnectorError> {
        let cfg = self.config();
        let req = self
            .client()
            .graph
            .http
            .get(self.client().graph.url("oauth/access_token"))
            .query(&[
                ("grant_type", "fb_exchange_token"),
                ("client_id", cfg.app_id.as_str()),
                ("client_secret", cfg.app_secret.expose_secret()),
                ("fb_exchange_token", user_token.expose_secret()),
            ]);
        let v = self.client().call("oauth", req, false).await?;
        let token = v
            .get("access_token")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty());
        let token = token
            .ok_or_else(|| ConnectorError::Rejected("no access_token in exchange answer".into()))?;
        Ok(TokenSet {
            access_token: SecretString::from(token.to_owned()),
            refresh_token: None,
            expires_in: v
                .get("expires_in")
                .and_then(|e| e.as_u64())
                .map(std::time::Duration::from_secs),
            scopes: Vec::new(),
        })
    }

    /// Every Page the user token can manage, walking `paging.next`.
    pub async fn list_pages(
        &self,
        user_token: &SecretString,
    ) -> Result<Vec<PageAccount>, ConnectorError> {
        let mut out = Vec::new();
        let mut req = self.client().graph.get("me/accounts", user_token).query(&[(
            "fields",
            "id,name,access_token,tasks,instagram_business_account",
        )]);
        for _ in 0..MAX_PAGES {
            let v = self.client().call("me", req, false).await?;
            let page: PageList = serde_json::from_value(v)
                .map_err(|e| ConnectorError::transient(format!("bad /me/accounts answer: {e}")))?;
            out.extend(page.data);
            match page.paging.and_then(|p| p.next) {
                // `next` is absolute and may embed the token; we re-send it as a header instead.
                Some(next) => {
                    req = self
                        .client()
                        .graph
                        .http
                        .get(strip_token(&next))
                        .bearer_auth(user_token.expose_secret())
                }
                None => break,
            }
        }
        Ok(out)
    }

    /// The whole connect flow after the browser came back with `code`: returns one account per
    /// Page, each holding the Page token and (as refresh credential) the long-lived user token.
    pub async fn connect(
        &self,
        redirect_uri: &str,
        code: &str,
    ) -> Result<Vec<ConnectedPage>, ConnectorError> {
        let spec = self.oauth_spec();
        let short = oauth::exchange_code(&spec, &self.oauth_app(redirect_uri), code, None).await?;
        let long = self.exchange_long_lived(&short.access_token).await?;
        let pages = self.list_pages(&long.access_token).await?;
        let user_expiry = long
            .expires_in
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| Utc::now() + d);
        Ok(pages
            .into_iter()
            .map(|p| ConnectedPage {
                credentials: Credentials {
                    access_token: p.access_token,
                    refresh_token: Some(long.access_token.clone()),
                    // Page tokens from a long-lived user token do not expire; the user token
                    // does, and `user_token_expires_at` tells the UI when to ask for a reconnect.
                    expires_at: None,
                    extra: serde_json::json!({
                        "page_id": p.id,
                        "page_name": p.name,
                        "user_token_expires_at": user_expiry,
                    }),
                },
                instagram_business_account: p.instagram_business_account.map(|a| a.id),
                page_id: p.id,
                name: p.name,
            })
            .collect())
    }
}

/// `pressroom accounts connect facebook` and the API's connect: one account per Page.
#[async_trait::async_trait]
impl OAuthFlow for FacebookConnector {
    fn oauth_client(&self, redirect_uri: &str) -> (OAuthSpec, OAuthApp) {
        (self.oauth_spec(), self.oauth_app(redirect_uri))
    }

    /// Meta's flow takes no PKCE verifier.
    async fn finish(
        &self,
        redirect_uri: &str,
        code: &str,
        _pkce_verifier: Option<&SecretString>,
    ) -> Result<Vec<GrantedAccount>, ConnectorError> {
        Ok(self
            .connect(redirect_uri, code)
            .await?
            .into_iter()
            .map(|p| GrantedAccount {
                display: p.name,
                external_id: p.page_id,
                credentials: p.credentials,
            })
            .collect())
    }
}
