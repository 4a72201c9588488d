//! Connecting with Instagram Login (no Facebook Page needed): code → short-lived token and
//! `user_id` (form POST to api.instagram.com) → long-lived token (`ig_exchange_token`, 60 days,
//! `expires_in` read, never assumed). The `oauth2` crate's token type drops `user_id`, hence the
//! direct calls. Facebook Login connects through `connector_facebook`'s Pages flow (same Meta
//! app) and builds each account with [`InstagramConnector::credentials_for_page`]. Both are
//! this connector's [`OAuthFlow`]. Token refresh for both logins is here too.

use chrono::{DateTime, Utc};
use pressroom_connector::oauth::{GrantedAccount, OAuthApp, OAuthFlow};
use pressroom_connector::{ConnectorError, Credentials, OAuthSpec};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::config::Login;
use crate::publish::str_field;
use crate::{InstagramConfig, InstagramConnector};

/// Where an Instagram-Login token's issue time (Unix seconds) is kept in `extra`: the refresh
/// endpoint refuses a token younger than 24 h (PLATFORMS.md §2.1).
pub(crate) const ISSUED_AT: &str = "token_issued_at";

/// A long-lived token's documented lifetime, for tokens stored without their issue time.
const LONG_LIVED: chrono::Duration = chrono::Duration::days(60);

/// The minimum age `ig_refresh_token` accepts.
const REFRESHABLE_AFTER: chrono::Duration = chrono::Duration::hours(24);

/// When the stored token was issued: the recorded time, else its expiry less the documented
/// 60 days (accounts connected before the time was recorded).
fn issued_at(creds: &Credentials) -> Option<DateTime<Utc>> {
    creds
        .extra
        .get(ISSUED_AT)
        .and_then(Value::as_i64)
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .or_else(|| creds.expires_at.map(|e| e - LONG_LIVED))
}

/// Whether `ig_refresh_token` accepts this token at `now`: at least 24 h old and unexpired.
/// An unknown age or expiry is tried (the platform's answer decides).
pub(crate) fn ig_login_refreshable(creds: &Credentials, now: DateTime<Utc>) -> bool {
    let old_enough = issued_at(creds).is_none_or(|t| now - t >= REFRESHABLE_AFTER);
    let unexpired = creds.expires_at.is_none_or(|e| e > now);
    !creds.access_token.expose_secret().is_empty() && old_enough && unexpired
}

/// An Instagram-Login account ready to store.
#[derive(Clone, Debug)]
pub struct ConnectedInstagram {
    pub ig_user_id: String,
    pub credentials: Credentials,
}

fn token_of(v: &Value) -> Option<(&str, Option<String>)> {
    // Older answers are flat; newer ones wrap the same fields in `data[0]`.
    let v = v.pointer("/data/0").unwrap_or(v);
    let token = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())?;
    let user = v.get("user_id").map(|u| {
        u.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| u.to_string())
    });
    Some((token, user))
}

impl InstagramConnector {
    pub async fn connect_instagram_login(
        &self,
        redirect_uri: &str,
        code: &str,
    ) -> Result<ConnectedInstagram, ConnectorError> {
        let cfg = self.config();
        let http = &self.client().graph.http;
        let exchange = http
            .post(format!(
                "{}/oauth/access_token",
                cfg.instagram_api_base_url.trim_end_matches('/')
            ))
            .form(&[
                ("client_id", cfg.app_id.as_str()),
                ("client_secret", cfg.app_secret.expose_secret()),
                ("grant_type", "authorization_code"),
                ("redirect_uri", redirect_uri),
                ("code", code),
            ]);
        let v = self.client().call(exchange, false).await?;
        let (short, user) = token_of(&v).ok_or_else(|| {
            ConnectorError::Rejected("no access_token in the code exchange answer".into())
        })?;
        let ig_user_id = user.ok_or_else(|| {
            ConnectorError::Rejected("no user_id in the code exchange answer".into())
        })?;
        let long = http
            .get(format!(
                "{}/access_token",
                cfg.instagram_graph_base_url.trim_end_matches('/')
            ))
            .query(&[
                ("grant_type", "ig_exchange_token"),
                ("client_secret", cfg.app_secret.expose_secret()),
                ("access_token", short),
            ]);
        let v = self.client().call(long, false).await?;
        let (token, _) = token_of(&v).ok_or_else(|| {
            ConnectorError::Rejected("no access_token in the long-lived exchange answer".into())
        })?;
        let expires_at = v
            .get("expires_in")
            .and_then(Value::as_i64)
            .map(|s| Utc::now() + chrono::Duration::seconds(s));
        Ok(ConnectedInstagram {
            credentials: Credentials {
                access_token: SecretString::from(token.to_owned()),
                refresh_token: None,
                expires_at,
                extra: json!({ "ig_user_id": ig_user_id, ISSUED_AT: Utc::now().timestamp() }),
            },
            ig_user_id,
        })
    }
}

/// Facebook Login: re-derive the Page token from the user token. Instagram Login: exchange
/// the (unexpired) long-lived token for a new one with `ig_refresh_token`.
pub(crate) async fn refresh(
    ig: &InstagramConnector,
    creds: &Credentials,
) -> Result<Credentials, ConnectorError> {
    let reconnect =
        |why: &str| ConnectorError::Disconnected(format!("{why}; reconnect the Instagram account"));
    let v = match ig.cfg.login {
        Login::Facebook => {
            let user = creds
                .refresh_token
                .as_ref()
                .ok_or_else(|| reconnect("no user token stored"))?;
            let page =
                str_field(&creds.extra, "page_id").ok_or_else(|| reconnect("no page_id stored"))?;
            let req = ig
                .client
                .graph
                .get(page, user)
                .query(&[("fields", "id,access_token")]);
            ig.client.call(req, false).await
        }
        Login::Instagram => {
            // This endpoint takes the token as a query parameter (documented form).
            let req = ig
                .client
                .graph
                .http
                .get(ig.client.graph.root_url("refresh_access_token"))
                .query(&[
                    ("grant_type", "ig_refresh_token"),
                    ("access_token", creds.access_token.expose_secret()),
                ]);
            ig.client.call(req, false).await
        }
    };
    let v = match v {
        Ok(v) => v,
        Err(ConnectorError::AuthExpired) => {
            return Err(reconnect("the token expired or was revoked"));
        }
        Err(e) => return Err(e),
    };
    let token =
        str_field(&v, "access_token").ok_or_else(|| reconnect("no token in the refresh answer"))?;
    let expires_at = v
        .get("expires_in")
        .and_then(Value::as_i64)
        .map(|s| Utc::now() + chrono::Duration::seconds(s));
    let mut extra = creds.extra.clone();
    if ig.cfg.login == Login::Instagram
        && let Some(map) = extra.as_object_mut()
    {
        map.insert(ISSUED_AT.into(), Value::from(Utc::now().timestamp()));
    }
    Ok(Credentials {
        access_token: SecretString::from(token.to_owned()),
        refresh_token: None,
        expires_at,
        extra,
    })
}

/// The Facebook connector Facebook Login connects through: the same app on the same Graph host
/// and version.
pub(crate) fn facebook_config(cfg: &InstagramConfig) -> connector_facebook::FacebookConfig {
    let mut fb =
        connector_facebook::FacebookConfig::new(cfg.app_id.clone(), cfg.app_secret.clone());
    fb.graph_base_url = cfg.facebook_graph_base_url.clone();
    fb.dialog_base_url = cfg.dialog_base_url.clone();
    fb.api_version = cfg.api_version.clone();
    fb
}

/// `pressroom accounts connect instagram` and the API's connect, for either login.
#[async_trait::async_trait]
impl OAuthFlow for InstagramConnector {
    fn oauth_client(&self, redirect_uri: &str) -> (OAuthSpec, OAuthApp) {
        let app = match &self.facebook {
            Some(fb) => fb.oauth_app(redirect_uri),
            None => {
                let cfg = self.config();
                let mut app = OAuthApp::new(
                    cfg.app_id.clone(),
                    Some(cfg.app_secret.clone()),
                    redirect_uri,
                );
                app.scope_delimiter = ",".into();
                app.credentials_in_body = true;
                app
            }
        };
        (self.oauth_spec(), app)
    }

    /// Facebook Login: one account per Page with a linked Instagram professional account.
    /// Instagram Login: the one account that logged in. Meta's flows take no PKCE verifier.
    async fn finish(
        &self,
        redirect_uri: &str,
        code: &str,
        _pkce_verifier: Option<&SecretString>,
    ) -> Result<Vec<GrantedAccount>, ConnectorError> {
        let Some(fb) = &self.facebook else {
            let got = self.connect_instagram_login(redirect_uri, code).await?;
            return Ok(vec![GrantedAccount {
                display: format!("Instagram {}", got.ig_user_id),
                external_id: got.ig_user_id,
                credentials: got.credentials,
            }]);
        };
        Ok(fb
            .connect(redirect_uri, code)
            .await?
            .into_iter()
            .filter_map(|p| {
                let ig = p.instagram_business_account?;
                let user_token = p.credentials.refresh_token.clone()?;
                Some(GrantedAccount {
                    credentials: InstagramConnector::credentials_for_page(
                        &ig,
                        &p.page_id,
                        p.credentials.access_token,
                        user_token,
                    ),
                    display: format!("Instagram of {}", p.name),
                    external_id: ig,
                })
            })
            .collect())
    }
}
