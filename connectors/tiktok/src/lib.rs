//! TikTok connector: photo posts through the Content Posting API (direct post or the
//! creator's inbox), with 24-hour access tokens and rotating refresh tokens. See README.md.

mod client;
mod config;
mod errors;
mod insights;
mod lookup;
mod post_id;
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

pub use config::{PostMode, TikTokConfig};
pub use errors::TikTokError;
pub use publish::Checkpoint;

/// Why a `TikTok` connector could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Http(#[from] pressroom_connector::http::ClientBuildError),
}

/// The TikTok connector, registered as kind `"tiktok"`.
#[derive(Clone, Debug)]
pub struct TikTok {
    client: client::Client,
    caps: Capabilities,
}

impl TikTok {
    pub fn new(cfg: TikTokConfig) -> Result<Self, BuildError> {
        Ok(Self {
            client: client::Client::new(cfg)?,
            caps: Capabilities {
                max_caption_chars: 4000,
                // PNG is refused for photo posts (docs, Ayrshare); renditions are JPEG.
                media_types: vec!["image/jpeg", "image/webp"],
                max_media_bytes: 20 * 1024 * 1024,
                aspect_range: (0.5, 2.0),
                daily_cap: None,
                two_phase: true,
                needs_public_url: true,
            },
        })
    }

    pub fn config(&self) -> &TikTokConfig {
        &self.client.cfg
    }
}

#[async_trait]
impl Connector for TikTok {
    fn platform(&self) -> pressroom_connector::Platform {
        pressroom_connector::Platform::TikTok
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
            authorize_url: format!(
                "{}/v2/auth/authorize/",
                cfg.auth_base.as_str().trim_end_matches('/')
            ),
            token_url: cfg.api("/v2/oauth/token/"),
            scopes: cfg.scopes.clone(),
            // PKCE is for TikTok's mobile/desktop flows; web apps use the client secret.
            pkce: false,
        })
    }

    /// Rotates: the returned credentials carry the new refresh token, which the runtime must
    /// persist before using the new access token (the old refresh token is dead).
    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, ConnectorError> {
        let Some(refresh) = &creds.refresh_token else {
            return Err(ConnectorError::Disconnected(
                "TikTok account has no refresh token; reconnect".into(),
            ));
        };
        let t = self.client.refresh(refresh).await?;
        let now = Utc::now();
        let mut extra = creds.extra.clone();
        if let Some(obj) = extra.as_object_mut() {
            if let Some(secs) = t.refresh_expires_in {
                let at = now + chrono::Duration::seconds(secs);
                obj.insert("refresh_expires_at".into(), at.to_rfc3339().into());
            }
            if let Some(open_id) = t.open_id {
                obj.insert("open_id".into(), open_id.into());
            }
            if let Some(scope) = t.scope {
                obj.insert("scope".into(), scope.into());
            }
        }
        Ok(Credentials {
            access_token: t.access_token,
            refresh_token: Some(t.refresh_token),
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
        publish::commit(&self.client, ctx, prepared).await
    }

    /// TikTok's `Absent` comes only from `status/fetch` reporting the publish FAILED, which is
    /// final the moment TikTok says it; the post list is never taken as proof of absence.
    fn absent_final_after(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    async fn reconcile(
        &self,
        ctx: &PublishCtx,
        prepared: Option<&Prepared>,
    ) -> Result<Reconciled, ConnectorError> {
        publish::reconcile(&self.client, ctx, prepared).await
    }

    /// `/v2/video/query/` takes at most 20 ids.
    fn metrics_batch(&self) -> usize {
        insights::BATCH
    }

    /// See `insights.rs`: publish handles are resolved to public post ids on the way.
    async fn fetch_metrics(
        &self,
        ctx: &MetricsCtx,
        posts: &[MetricsQuery],
    ) -> Result<MetricsReport, ConnectorError> {
        insights::fetch(&self.client, ctx, posts).await
    }
}
