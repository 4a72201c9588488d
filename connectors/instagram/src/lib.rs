//! Instagram professional accounts through the Content Publishing API (PLATFORMS.md §2, §6.3):
//! `POST /{ig-user-id}/media` (container from a public image URL) → poll the container's
//! `status_code` → check `content_publishing_limit` → `POST /{ig-user-id}/media_publish`.
//! See README.md.
//!
//! At most once: the container id is the attempt's checkpoint, so a restarted `prepare` reuses
//! it, and `reconcile` asks the container itself — `PUBLISHED` means the post exists (found among
//! recent media), `FINISHED` means `media_publish` never took effect.
//!
//! Credentials layout:
//! - login `facebook` (default, host graph.facebook.com): `access_token` = Page token,
//!   `refresh_token` = long-lived user token (re-derives the Page token), `extra` =
//!   `{"ig_user_id", "page_id"}`;
//! - login `instagram` (host graph.instagram.com): `access_token` = long-lived IG token,
//!   refreshed with `ig_refresh_token` before it expires; `extra` = `{"ig_user_id"}`.

mod carousel;
mod client;
mod comments;
mod config;
mod connect;
pub mod errors;
mod insights;
mod publish;
mod status;
mod validate;

#[cfg(feature = "fake")]
pub mod fake;

use chrono::{DateTime, Utc};
use pressroom_connector::{
    Capabilities, Connector, ConnectorError, Credentials, MetricsCtx, MetricsQuery, MetricsReport,
    OAuthSpec, PostDraft, Prepared, PublishCtx, Published, Reconciled, ValidationIssue,
};
use secrecy::SecretString;
use serde_json::json;

use crate::client::GraphClient;

pub use config::{ConfigError, InstagramConfig, Login};
pub use connect::ConnectedInstagram;
pub use status::ContainerStatus;

/// Stable kind stored in the database.
pub const KIND: &str = "instagram";

/// Seconds a container may take to show PUBLISHED after `media_publish` answered.
const STATUS_LAG_SECS: u64 = 5;

/// Instagram, registered as kind `"instagram"`. Build with [`InstagramConnector::new`].
pub struct InstagramConnector {
    cfg: InstagramConfig,
    client: GraphClient,
    caps: Capabilities,
    /// Facebook Login: the same Meta app's Pages flow, which hands out the Page tokens
    /// Instagram publishing uses (connect only). `None` with Instagram Login.
    facebook: Option<connector_facebook::FacebookConnector>,
}

impl InstagramConnector {
    /// Builds the connector from its configuration (checked first).
    pub fn new(cfg: InstagramConfig) -> Result<Self, ConfigError> {
        cfg.check()?;
        let client = GraphClient::new(&cfg)?;
        let facebook = match cfg.login {
            Login::Facebook => Some(connector_facebook::FacebookConnector::new(
                connect::facebook_config(&cfg),
            )?),
            Login::Instagram => None,
        };
        Ok(Self {
            cfg,
            client,
            caps: capabilities(),
            facebook,
        })
    }

    pub fn config(&self) -> &InstagramConfig {
        &self.cfg
    }

    pub(crate) fn client(&self) -> &GraphClient {
        &self.client
    }

    /// Credentials for an Instagram account reached through a Facebook Page (Facebook Login):
    /// the Page token publishes, the long-lived user token re-derives it.
    pub fn credentials_for_page(
        ig_user_id: &str,
        page_id: &str,
        page_token: SecretString,
        user_token: SecretString,
    ) -> Credentials {
        Credentials {
            access_token: page_token,
            refresh_token: Some(user_token),
            expires_at: None,
            extra: json!({"ig_user_id": ig_user_id, "page_id": page_id}),
        }
    }

    /// Authorize and token endpoints of the configured login.
    pub fn oauth_spec(&self) -> OAuthSpec {
        match self.cfg.login {
            Login::Facebook => OAuthSpec {
                authorize_url: format!(
                    "{}/{}/dialog/oauth",
                    self.cfg.dialog_base_url.trim_end_matches('/'),
                    self.cfg.api_version
                ),
                token_url: self.client.graph.url("oauth/access_token"),
                scopes: [
                    "instagram_basic",
                    "instagram_content_publish",
                    // Media insights (fetch-back, PLATFORMS.md §9.2).
                    "instagram_manage_insights",
                    "pages_read_engagement",
                    "pages_show_list",
                ]
                .map(String::from)
                .to_vec(),
                pkce: false,
            },
            Login::Instagram => OAuthSpec {
                authorize_url: "https://www.instagram.com/oauth/authorize".into(),
                token_url: format!(
                    "{}/oauth/access_token",
                    self.cfg.instagram_api_base_url.trim_end_matches('/')
                ),
                scopes: [
                    "instagram_business_basic",
                    "instagram_business_content_publish",
                    "instagram_business_manage_insights",
                ]
                .map(String::from)
                .to_vec(),
                pkce: false,
            },
        }
    }
}

/// Instagram's limits: a caption of up to 2,200 characters; one JPEG of up to 8 MiB with an
/// aspect ratio from 4:5 to 1.91:1.
fn capabilities() -> Capabilities {
    Capabilities {
        max_caption_chars: 2200,
        media_types: vec!["image/jpeg"],
        max_media_bytes: 8 * 1024 * 1024,
        aspect_range: (0.8, 1.91),
        // Documented as 50 (reference) to 100 (guide); the live value is read from
        // content_publishing_limit before every publish.
        daily_cap: Some(50),
        two_phase: true,
        needs_public_url: true,
    }
}

#[async_trait::async_trait]
impl Connector for InstagramConnector {
    fn platform(&self) -> pressroom_connector::Platform {
        pressroom_connector::Platform::Instagram
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate(&self, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
        validate::validate(&self.cfg, &self.caps, draft)
    }

    fn oauth(&self) -> Option<OAuthSpec> {
        Some(self.oauth_spec())
    }

    fn connect_flow(&self) -> Option<&dyn pressroom_connector::oauth::OAuthFlow> {
        Some(self)
    }

    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, ConnectorError> {
        connect::refresh(self, creds).await
    }

    /// `refresh_before_days` (Instagram-Login tokens live 60 days); Facebook Login keeps the
    /// default margin.
    fn refresh_before(&self) -> std::time::Duration {
        match self.cfg.login {
            Login::Facebook => std::time::Duration::from_secs(300),
            Login::Instagram => {
                std::time::Duration::from_secs(self.cfg.refresh_before_days.saturating_mul(86_400))
            }
        }
    }

    /// Instagram Login stores no refresh token: the long-lived token renews itself once it is
    /// 24 h old and while it is unexpired.
    fn can_refresh(&self, creds: &Credentials, now: DateTime<Utc>) -> bool {
        match self.cfg.login {
            Login::Facebook => creds.refresh_token.is_some(),
            Login::Instagram => connect::ig_login_refreshable(creds, now),
        }
    }

    async fn prepare(
        &self,
        ctx: &PublishCtx,
        draft: &PostDraft,
    ) -> Result<Prepared, ConnectorError> {
        publish::prepare(self, ctx, draft).await
    }

    async fn commit(
        &self,
        ctx: &PublishCtx,
        prepared: &Prepared,
    ) -> Result<Published, ConnectorError> {
        publish::commit(self, ctx, prepared).await
    }

    /// The container's status is exact, but a `media_publish` still in flight (its answer
    /// not yet lost) may turn it PUBLISHED later: not before the request timeout has passed,
    /// plus a margin for the status to follow.
    fn absent_final_after(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.cfg.request_timeout_secs + STATUS_LAG_SECS)
    }

    async fn reconcile(
        &self,
        ctx: &PublishCtx,
        prepared: Option<&Prepared>,
    ) -> Result<Reconciled, ConnectorError> {
        publish::reconcile(self, ctx, prepared).await
    }

    async fn comment(
        &self,
        ctx: &PublishCtx,
        remote_id: &str,
        text: &str,
    ) -> Result<String, ConnectorError> {
        comments::post(self, ctx, remote_id, text).await
    }

    async fn find_comment(
        &self,
        ctx: &PublishCtx,
        remote_id: &str,
        text: &str,
    ) -> Result<Option<String>, ConnectorError> {
        comments::find(self, ctx, remote_id, text).await
    }

    /// Each media is its own insights request (`src/insights.rs`).
    fn metrics_batch(&self) -> usize {
        insights::BATCH
    }

    /// Media insights with the names of the media's product type (README "Insights").
    async fn fetch_metrics(
        &self,
        ctx: &MetricsCtx,
        posts: &[MetricsQuery],
    ) -> Result<MetricsReport, ConnectorError> {
        insights::fetch(self, ctx, posts).await
    }
}
