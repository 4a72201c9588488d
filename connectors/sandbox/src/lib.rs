//! The `sandbox` connector: publishes into a local outbox directory instead of a platform.
//!
//! It is a real connector (the runtime treats it exactly like Instagram): `commit` appends one
//! line to `commits.jsonl` — the durable record that the irreversible call happened — then
//! writes the post's JSON and media and refreshes `index.html`, a preview of every rendition
//! with its caption, its preset and the platform that preset is for. `reconcile` answers from `commits.jsonl`, so a crash between the commit
//! and the database write is resolved without a second commit. Failures can be scripted.

mod config;
mod outbox;
mod script;

use std::sync::Arc;
use std::time::Duration;

use pressroom_connector::{
    Capabilities, Connector, ConnectorError, Credentials, PostDraft, Prepared, PublishCtx,
    Published, Reconciled, ValidationIssue,
};
use pressroom_media::{CaptionRules, check_caption_with};

pub use config::SandboxConfig;
pub use outbox::{CommitRecord, Outbox};
pub use script::{FailureKind, Phase, ScriptedFailure};

/// The sandbox connector.
pub struct SandboxConnector {
    outbox: Arc<Outbox>,
    config: SandboxConfig,
    script: script::Script,
    capabilities: Capabilities,
    /// pressroom-media's `sandbox` caption rules: the same table campaign validation uses.
    caption_rules: CaptionRules,
}

impl SandboxConnector {
    /// Creates the outbox directory if needed.
    pub fn new(config: SandboxConfig) -> std::io::Result<Self> {
        let outbox = Arc::new(Outbox::open(&config.outbox_dir)?);
        let caption_rules = CaptionRules::documented("sandbox");
        Ok(Self {
            script: script::Script::new(config.failures.clone()),
            outbox,
            config,
            capabilities: Capabilities {
                max_caption_chars: caption_rules.max_length.unwrap_or(usize::MAX),
                media_types: vec!["image/jpeg", "image/png", "image/webp"],
                max_media_bytes: 50 * 1024 * 1024,
                aspect_range: (0.1, 10.0),
                daily_cap: None,
                two_phase: true,
                needs_public_url: false,
            },
            caption_rules,
        })
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}

#[async_trait::async_trait]
impl Connector for SandboxConnector {
    fn platform(&self) -> pressroom_connector::Platform {
        pressroom_connector::Platform::Sandbox
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn validate(&self, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
        let mut issues = pressroom_connector::formats::check(self.platform(), draft);
        // Caption rules come from pressroom-media, like every connector's (one source of truth).
        if let Err(found) = check_caption_with(&self.caption_rules, &draft.caption) {
            issues.extend(found.iter().map(|i| ValidationIssue {
                field: i.field().into(),
                rule: i.rule.id().into(),
                message: i.summary(),
            }));
        }
        if draft.media.is_empty() {
            issues.push(ValidationIssue {
                field: "media".into(),
                rule: "one_image".into(),
                message: "sandbox: a post needs an image".into(),
            });
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }

    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, ConnectorError> {
        // Sandbox tokens never expire; hand them back unchanged.
        Ok(creds.clone())
    }

    async fn prepare(
        &self,
        ctx: &PublishCtx,
        draft: &PostDraft,
    ) -> Result<Prepared, ConnectorError> {
        self.script.maybe_fail(Phase::Prepare)?;
        let media = draft
            .media
            .first()
            .ok_or_else(|| ConnectorError::Rejected("sandbox: a post needs an image".into()))?;
        // Staging the media is idempotent: the same attempt always stages to the same name.
        let staged = self
            .outbox
            .stage_media(&ctx.attempt_id, &media.path, &media.mime)
            .await
            .map_err(ConnectorError::transient)?;
        let (preset, platform) = outbox::rendition_preset(&media.path);
        let mut more_media = Vec::new();
        for (index, slide) in draft.media.iter().enumerate().skip(1) {
            more_media.push(
                self.outbox
                    .stage_slide(&ctx.attempt_id, index, &slide.path, &slide.mime)
                    .await
                    .map_err(ConnectorError::transient)?,
            );
        }
        let alt_texts: Vec<&str> = draft
            .media
            .iter()
            .map(|m| m.alt_text.as_deref().unwrap_or(""))
            .collect();
        Ok(Prepared {
            checkpoint: serde_json::json!({
                "staged_media": staged,
                "more_media": more_media,
                "format": draft.format.as_str(),
                "alt_texts": if alt_texts.iter().all(|a| a.is_empty()) { Vec::new() } else { alt_texts },
                "caption": draft.caption,
                "width": media.width,
                "height": media.height,
                "mime": media.mime,
                "preset": preset,
                "platform": platform,
            }),
        })
    }

    async fn commit(
        &self,
        ctx: &PublishCtx,
        prepared: &Prepared,
    ) -> Result<Published, ConnectorError> {
        self.script.maybe_fail(Phase::Commit)?;
        if !self.config.commit_delay.is_zero() {
            tokio::time::sleep(self.config.commit_delay).await;
        }
        let record =
            self.outbox.commit(ctx, prepared).await.map_err(|e| {
                ConnectorError::OutcomeUnknown(format!("sandbox outbox write: {e}"))
            })?;
        // A scripted "lost response": the post landed but the caller hears a timeout.
        self.script.maybe_fail(Phase::AfterCommit)?;
        Ok(record.published())
    }

    /// The outbox lists a commit the moment it is written, so only a commit still in flight
    /// (its `commit_delay`) can be missing from it.
    fn absent_final_after(&self) -> Duration {
        self.config.commit_delay + Duration::from_secs(1)
    }

    async fn reconcile(
        &self,
        ctx: &PublishCtx,
        _prepared: Option<&Prepared>,
    ) -> Result<Reconciled, ConnectorError> {
        self.script.maybe_fail(Phase::Reconcile)?;
        match self.outbox.find_commit(&ctx.attempt_id).await {
            Ok(Some(record)) => Ok(Reconciled::Landed(record.published())),
            Ok(None) => Ok(Reconciled::Absent),
            Err(e) => Err(ConnectorError::transient(e)),
        }
    }
}
