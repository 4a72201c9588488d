//! Facebook Pages connector: one photo with caption per post (`POST /{page-id}/photos`), page
//! tokens derived from the user's long-lived token, the Graph API version from config, and the
//! usage headers (`X-App-Usage`, `X-Business-Use-Case-Usage`) read to defer work before Meta
//! throttles us. See README.md, and PLATFORMS.md §1 and §6.2.
//!
//! Credentials layout (what the store keeps for a Facebook account):
//! - `access_token`: the Page token (no expiry when derived from a long-lived user token);
//! - `refresh_token`: the long-lived user token, used by `refresh` to re-derive the Page token
//!   (Meta has no OAuth refresh token; this is the closest honest equivalent);
//! - `extra`: `{"page_id": "...", "page_name": "..."}`.

mod client;
mod config;
mod connect;
pub mod errors;
mod insights;
mod publish;
mod usage;
mod validate;

#[cfg(feature = "fake")]
pub mod fake;

use pressroom_connector::{
    Capabilities, Connector, ConnectorError, Credentials, MetricsCtx, MetricsQuery, MetricsReport,
    OAuthSpec, PostDraft, Prepared, PublishCtx, Published, Reconciled, ValidationIssue,
};

use pressroom_connector::oauth::OAuthFlow;

use crate::client::GraphClient;

pub use config::{ConfigError, FacebookConfig};
pub use connect::{ConnectedPage, PageAccount};
pub use usage::Usage;

/// Stable kind stored in the database.
pub const KIND: &str = "facebook";

/// Facebook Pages, registered as kind `"facebook"`. Build with [`FacebookConnector::new`].
pub struct FacebookConnector {
    cfg: FacebookConfig,
    client: GraphClient,
    caps: Capabilities,
}

impl FacebookConnector {
    /// Builds the connector from its configuration (checked first).
    pub fn new(cfg: FacebookConfig) -> Result<Self, ConfigError> {
        cfg.check()?;
        let client = GraphClient::new(&cfg)?;
        Ok(Self {
            cfg,
            client,
            caps: capabilities(),
        })
    }

    pub fn config(&self) -> &FacebookConfig {
        &self.cfg
    }

    pub(crate) fn client(&self) -> &GraphClient {
        &self.client
    }

    /// Authorize and token endpoints for the configured version.
    pub fn oauth_spec(&self) -> OAuthSpec {
        let dialog = self.cfg.dialog_base_url.trim_end_matches('/');
        OAuthSpec {
            authorize_url: format!("{dialog}/{}/dialog/oauth", self.cfg.api_version),
            token_url: self.client.graph.url("oauth/access_token"),
            scopes: self.cfg.scopes.clone(),
            // Server-side confidential flow with the app secret; no OSS client uses PKCE here.
            pkce: false,
        }
    }
}

/// Facebook's limits: a caption of up to 63,206 characters (the limit Postiz uses; Meta
/// documents none lower); one JPEG, PNG or GIF of up to 4 MB (Meta's guidance for photo
/// uploads, subcode 1366046 above it).
fn capabilities() -> Capabilities {
    Capabilities {
        max_caption_chars: 63_206,
        media_types: vec!["image/jpeg", "image/png", "image/gif"],
        max_media_bytes: 4 * 1024 * 1024,
        aspect_range: (0.1, 10.0),
        daily_cap: None,
        two_phase: false,
        needs_public_url: false,
    }
}

#[async_trait::async_trait]
impl Connector for FacebookConnector {
    fn platform(&self) -> pressroom_connector::Platform {
        pressroom_connector::Platform::Facebook
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate(&self, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
        validate::validate(&self.caps, draft)
    }

    fn oauth(&self) -> Option<OAuthSpec> {
        Some(self.oauth_spec())
    }

    fn connect_flow(&self) -> Option<&dyn OAuthFlow> {
        Some(self)
    }

    /// Re-derives the Page token from the long-lived user token.
    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, ConnectorError> {
        publish::refresh(&self.client, creds).await
    }

    async fn prepare(
        &self,
        ctx: &PublishCtx,
        draft: &PostDraft,
    ) -> Result<Prepared, ConnectorError> {
        publish::prepare(&self.client, ctx, draft).await
    }

    async fn commit(
        &self,
        ctx: &PublishCtx,
        prepared: &Prepared,
    ) -> Result<Published, ConnectorError> {
        publish::commit(&self.client, ctx, prepared).await
    }

    /// Request timeout + listing lag, from the config (see `FacebookConfig`).
    fn absent_final_after(&self) -> std::time::Duration {
        self.cfg.absent_final_after()
    }

    async fn reconcile(
        &self,
        ctx: &PublishCtx,
        prepared: Option<&Prepared>,
    ) -> Result<Reconciled, ConnectorError> {
        publish::reconcile(&self.client, ctx, prepared).await
    }

    async fn comment(
        &self,
        ctx: &PublishCtx,
        remote_id: &str,
        text: &str,
    ) -> Result<String, ConnectorError> {
        publish::comment(&self.client, ctx, remote_id, text).await
    }

    async fn find_comment(
        &self,
        ctx: &PublishCtx,
        remote_id: &str,
        text: &str,
    ) -> Result<Option<String>, ConnectorError> {
        publish::find_comment(&self.client, ctx, remote_id, text).await
    }

    /// Each post is its own insights request (`src/insights.rs`).
    fn metrics_batch(&self) -> usize {
        insights::BATCH
    }

    /// Post insights with the Page token; an empty answer is checked against the user
    /// token's `read_insights` grant (README "Insights").
    async fn fetch_metrics(
        &self,
        ctx: &MetricsCtx,
        posts: &[MetricsQuery],
    ) -> Result<MetricsReport, ConnectorError> {
        insights::fetch(&self.client, ctx, posts).await
    }
}
