//! Snapchat connector: an image Story (or Saved Story) on a Snapchat Public Profile through the
//! Public Profile API, the only organic path. **Snap allowlists apps for this API**: set
//! `allowlisted = true` once Snap has approved the app's OAuth client id. See README.md.

mod client;
mod config;
mod encrypt;
mod errors;
mod insights;
mod pace;
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

pub use config::{PostAs, SnapchatConfig};
pub use encrypt::decrypt;
pub use errors::SHORT_BACKOFF as RATE_LIMIT_DEFAULT;
pub use publish::Checkpoint;

/// Why a `Snapchat` connector could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Http(#[from] pressroom_connector::http::ClientBuildError),
    #[error(
        "Snapchat's Public Profile API is allowlist-only: ask Snap to allowlist client id {0}, then set allowlisted = true"
    )]
    NotAllowlisted(String),
}

/// The Snapchat connector, registered as kind `"snapchat"`.
#[derive(Clone, Debug)]
pub struct Snapchat {
    client: client::Client,
    caps: Capabilities,
}

impl Snapchat {
    pub fn new(cfg: SnapchatConfig) -> Result<Self, BuildError> {
        if !cfg.allowlisted {
            return Err(BuildError::NotAllowlisted(cfg.client_id.clone()));
        }
        let caps = Capabilities {
            max_caption_chars: match cfg.post_as {
                // Stories have no caption field; the caption is not sent.
                PostAs::Story => usize::MAX,
                PostAs::SavedStory => publish::SAVED_STORY_TITLE_MAX,
            },
            media_types: vec!["image/jpeg", "image/png"],
            max_media_bytes: 20 * 1024 * 1024,
            aspect_range: (
                0.5625 * (1.0 - cfg.aspect_tolerance),
                0.5625 * (1.0 + cfg.aspect_tolerance),
            ),
            daily_cap: None,
            two_phase: true,
            needs_public_url: false,
        };
        Ok(Self {
            client: client::Client::new(cfg)?,
            caps,
        })
    }

    pub fn config(&self) -> &SnapchatConfig {
        &self.client.cfg
    }
}

#[async_trait]
impl Connector for Snapchat {
    fn platform(&self) -> pressroom_connector::Platform {
        pressroom_connector::Platform::Snapchat
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate(&self, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
        validate::validate(&self.caps, draft)
    }

    fn oauth(&self) -> Option<OAuthSpec> {
        let cfg = &self.client.cfg;
        Some(OAuthSpec {
            authorize_url: cfg.accounts("/login/oauth2/authorize"),
            token_url: cfg.accounts("/login/oauth2/access_token"),
            scopes: cfg.scopes.clone(),
            pkce: false,
        })
    }

    /// Access tokens last 30–60 minutes (read from `expires_in`). A refresh answer without a
    /// refresh token means "keep the stored one".
    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, ConnectorError> {
        let Some(refresh) = &creds.refresh_token else {
            return Err(ConnectorError::Disconnected(
                "Snapchat account has no refresh token; reconnect".into(),
            ));
        };
        let t = self.client.refresh(refresh).await?;
        let mut extra = creds.extra.clone();
        if let (Some(scope), Some(obj)) = (t.scope, extra.as_object_mut()) {
            obj.insert("scope".into(), scope.into());
        }
        Ok(Credentials {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_at: Some(Utc::now() + chrono::Duration::seconds(t.expires_in)),
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
        publish::commit(&self.client, ctx, prepared).await
    }

    /// Reconcile answers from the profile's story list: a story posted by a commit still in
    /// flight, or not listed yet, is missing there for up to request timeout + listing lag.
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

    /// One stats request per post, paced per token.
    fn metrics_batch(&self) -> usize {
        insights::BATCH
    }

    /// Per-story stats (`insights.rs`; the per-asset path is UNVERIFIED, see README.md).
    async fn fetch_metrics(
        &self,
        ctx: &MetricsCtx,
        posts: &[MetricsQuery],
    ) -> Result<MetricsReport, ConnectorError> {
        insights::fetch(&self.client, ctx, posts).await
    }
}
