//! Generic `webhook` connector: POSTs a signed JSON document (caption, rendition URL or bytes,
//! metadata) to a configured URL, the plugin path for platforms Pressroom does not ship. The
//! signature follows Standard Webhooks; the `webhook-id` is the attempt id. See README.md.

mod client;
mod config;
mod errors;
mod publish;

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
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate(&self, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
        let mut issues = Vec::new();
        // Caption rules are pressroom-media's (the table campaign validation uses too), with
        // the length this receiver's config sets.
        let mut rules = pressroom_media::CaptionRules::documented("webhook");
        rules.max_length = Some(self.caps.max_caption_chars);
        if let Err(found) = pressroom_media::check_caption_with(&rules, &draft.caption) {
            issues.extend(found.iter().map(|i| ValidationIssue {
                field: i.field().into(),
                rule: i.rule.id().into(),
                message: i.summary(),
            }));
        }
        for (i, m) in draft.media.iter().enumerate() {
            if m.bytes > self.caps.max_media_bytes {
                issues.push(ValidationIssue {
                    field: format!("media[{i}]"),
                    rule: "max_bytes".into(),
                    message: format!(
                        "{} bytes is over the configured {}",
                        m.bytes, self.caps.max_media_bytes
                    ),
                });
            }
            if !self.caps.media_types.contains(&m.mime.as_str()) {
                issues.push(ValidationIssue {
                    field: format!("media[{i}]"),
                    rule: "media_type".into(),
                    message: format!("{} is not JPEG, PNG or WebP", m.mime),
                });
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }

    /// Webhook credentials (an optional bearer token per account) are static.
    async fn refresh(&self, _creds: &Credentials) -> Result<Credentials, ConnectorError> {
        Err(ConnectorError::Disconnected(
            "the webhook receiver refused the account's token; webhook tokens cannot be refreshed, update the account".into(),
        ))
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
