//! LinkedIn connector: an image post by a member (`urn:li:person:…`) or an organization
//! (`urn:li:organization:…`) through the Images API and the Posts API, with LinkedIn's
//! versioned `/rest` headers. See README.md for the flow and the platform's quirks.

mod client;
mod comments;
mod commit;
mod config;
mod errors;
mod insights;
mod publish;
mod validate;

#[cfg(feature = "fake")]
pub mod fake;

use async_trait::async_trait;
use chrono::Utc;
use pressroom_connector::{
    Capabilities, Connector, ConnectorError, Credentials, MetricsCtx, MetricsQuery, MetricsReport,
    OAuthSpec, PostDraft, Prepared, PublishCtx, Published, Reconciled, ValidationIssue,
};

pub use config::LinkedInConfig;
pub use errors::{LinkedInError, Phase, daily_quota_reset, names_daily_limit};
pub use insights::{MEMBER_SCOPE, ORG_SCOPE};
pub use publish::{Checkpoint, escape_little_text};

/// Why a `LinkedIn` connector could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Http(#[from] pressroom_connector::http::ClientBuildError),
}

/// The LinkedIn connector, registered as kind `"linkedin"`.
#[derive(Clone, Debug)]
pub struct LinkedIn {
    client: client::Client,
    caps: Capabilities,
}

impl LinkedIn {
    /// Builds the connector from its configuration.
    pub fn new(cfg: LinkedInConfig) -> Result<Self, BuildError> {
        let caps = capabilities(cfg.max_media_bytes);
        Ok(Self {
            client: client::Client::new(cfg)?,
            caps,
        })
    }

    pub fn config(&self) -> &LinkedInConfig {
        &self.client.cfg
    }
}

/// LinkedIn's limits: 3,000 characters of commentary; JPG, GIF, PNG under 36,152,320 pixels.
fn capabilities(max_bytes: u64) -> Capabilities {
    Capabilities {
        max_caption_chars: 3000,
        media_types: vec!["image/jpeg", "image/png", "image/gif"],
        max_media_bytes: max_bytes,
        aspect_range: (0.25, 4.0),
        daily_cap: None,
        two_phase: true,
        needs_public_url: false,
    }
}

#[async_trait]
impl Connector for LinkedIn {
    fn platform(&self) -> pressroom_connector::Platform {
        pressroom_connector::Platform::LinkedIn
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate(&self, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
        validate::validate(self.capabilities(), draft)
    }

    fn oauth(&self) -> Option<OAuthSpec> {
        let cfg = &self.client.cfg;
        Some(OAuthSpec {
            authorize_url: cfg.oauth("/oauth/v2/authorization"),
            token_url: cfg.oauth("/oauth/v2/accessToken"),
            scopes: cfg.scopes.clone(),
            // PKCE is only for native apps with a loopback redirect; we are a server.
            pkce: false,
        })
    }

    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, ConnectorError> {
        let Some(refresh) = &creds.refresh_token else {
            return Err(ConnectorError::Disconnected(
                "LinkedIn token expired and this app has no programmatic refresh token; reconnect the account".into(),
            ));
        };
        let t = self.client.refresh(refresh).await?;
        let now = Utc::now();
        let mut extra = creds.extra.clone();
        if let (Some(secs), Some(obj)) = (t.refresh_token_expires_in, extra.as_object_mut()) {
            // Fixed 365 days from the first grant: LinkedIn counts down, never extends.
            let at = now + chrono::Duration::seconds(secs);
            obj.insert("refresh_token_expires_at".into(), at.to_rfc3339().into());
        }
        if let (Some(scope), Some(obj)) = (t.scope, extra.as_object_mut()) {
            obj.insert("scope".into(), scope.into());
        }
        Ok(Credentials {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_at: Some(now + chrono::Duration::seconds(t.expires_in)),
            extra,
        })
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
        commit::commit(&self.client, ctx, prepared).await
    }

    /// Image wait + request timeout + listing lag, from the config (see `LinkedInConfig`).
    fn absent_final_after(&self) -> std::time::Duration {
        self.client.cfg.absent_final_after()
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
        comments::post(&self.client, ctx, remote_id, text).await
    }

    async fn find_comment(
        &self,
        ctx: &PublishCtx,
        remote_id: &str,
        text: &str,
    ) -> Result<Option<String>, ConnectorError> {
        comments::find(&self.client, ctx, remote_id, text).await
    }

    /// Organizations: one statistics call per URN kind for the batch; members: one call per
    /// metric and post (see `insights`).
    fn metrics_batch(&self) -> usize {
        insights::BATCH
    }

    async fn fetch_metrics(
        &self,
        ctx: &MetricsCtx,
        posts: &[MetricsQuery],
    ) -> Result<MetricsReport, ConnectorError> {
        insights::fetch(&self.client, ctx, posts).await
    }
}
