//! Generic `webhook` connector: POSTs a signed JSON document (caption, rendition URL or bytes,
//! metadata) to a configured URL, the plugin path for platforms Pressroom does not ship. The
//! signature follows Standard Webhooks; the `webhook-id` is the attempt id. See README.md.

mod client;
mod config;
mod errors;
mod publish;
mod validate;

#[cfg(feature = "fake")]
pub mod fake;

use async_trait::async_trait;
use pressroom_connector::{
    Capabilities, Connector, ConnectorError, Credentials, PostDraft, Prepared, PublishCtx,
    Published, Reconciled, ValidationIssue,
};

pub use client::BuildError;
pub use config::{MediaMode, WebhookConfig};
pub use publish::{Checkpoint, MediaItem};

/// The webhook connector, registered as kind `"webhook"`.
#[derive(Debug)]
pub struct Webhook {
    client: client::Client,
    caps: Capabilities,
}

impl Webhook {
    pub fn new(cfg: WebhookConfig) -> Result<Self, BuildError> {
        let caps = Capabilities {
            max_caption_chars: cfg.max_caption_chars,
            media_types: vec!["image/jpeg", "image/png", "image/webp"],
            max_media_bytes: cfg.max_media_bytes,
            aspect_range: (0.1, 10.0),
            daily_cap: None,
            two_phase: false,
            needs_public_url: cfg.media == MediaMode::Url,
        };
        Ok(Self {
            client: client::Client::new(cfg)?,
            caps,
        })
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.client.cfg
    }
}

#[async_trait]
impl Connector for Webhook {
    fn platform(&self) -> pressroom_connector::Platform {
        pressroom_connector::Platform::Webhook
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate(&self, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
        validate::validate(&self.caps, draft)
    }

    /// An account's bearer token is renewed at the receiver's `token_url` (RFC 6749 refresh
    /// grant) when both are there; otherwise tokens are static and a person updates them.
    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, ConnectorError> {
        let Some(refresh) = &creds.refresh_token else {
            return Err(ConnectorError::Disconnected(
                "the webhook receiver refused the account's token and the account has no refresh token; update the account".into(),
            ));
        };
        let t = self.client.refresh(refresh).await?;
        Ok(Credentials {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_at: t
                .expires_in
                .map(|s| chrono::Utc::now() + chrono::Duration::seconds(s)),
            extra: creds.extra.clone(),
        })
    }

    /// Reconcile asks `status_url`, whose 404 proves absence only once the commit cannot be
    /// in flight and the receiver has had `listing_lag_secs` to store it.
    fn absent_final_after(&self) -> std::time::Duration {
        self.client.cfg.absent_final_after()
    }

    async fn prepare(
        &self,
        _ctx: &PublishCtx,
        draft: &PostDraft,
    ) -> Result<Prepared, ConnectorError> {
        publish::prepare(&self.client, draft).await
    }

    async fn commit(
        &self,
        ctx: &PublishCtx,
        prepared: &Prepared,
    ) -> Result<Published, ConnectorError> {
        publish::commit(&self.client, ctx, prepared).await
    }

    async fn reconcile(
        &self,
        ctx: &PublishCtx,
        _prepared: Option<&Prepared>,
    ) -> Result<Reconciled, ConnectorError> {
        publish::reconcile(&self.client, ctx).await
    }
}
