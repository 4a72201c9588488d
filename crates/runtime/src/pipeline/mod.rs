//! The job handlers. Each handler is safe to replay: it checks what an earlier (crashed)
//! execution already did, and writes its effects and the job's completion in one transaction.

mod checkpoints;
mod comment;
mod events;
mod generate;
pub mod insights;
mod notify;
mod publish;
mod refresh;
mod render;
mod review;
mod variables;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pressroom_connector::Registry;
use pressroom_core::{JobKind, RenditionId, RetryPolicy};
use pressroom_generate::Generator;
use pressroom_store::{BlobStore, ClaimedJob, Queue, Store, StoreError};

use crate::TokenCipher;
use crate::outbound::{Outbound, OutboundConfig};
pub use refresh::{RefreshSweep, run_token_refresher};

/// Everything the handlers need, built once by the binary.
pub struct Pipeline {
    pub store: Store,
    pub queue: Queue,
    /// Image generators by backend name ("local", "openai", "stability").
    pub generators: BTreeMap<String, Arc<dyn Generator>>,
    /// Connectors by platform kind.
    pub connectors: Registry,
    /// The rendition presets, with the config's `[media.presets.NAME]` applied.
    pub presets: Arc<pressroom_media::Presets>,
    /// Where assets and renditions are kept.
    pub blobs: Arc<dyn BlobStore>,
    pub retry: RetryPolicy,
    pub tokens: Arc<dyn TokenCipher>,
    /// Renew access tokens at least this long before they expire (a connector may ask for
    /// more: [`pressroom_connector::Connector::refresh_before`]).
    pub refresh_margin: Duration,
    /// Builds short-lived public URLs for platforms that pull media (Instagram, TikTok).
    pub public_media: Option<Arc<dyn PublicMedia>>,
    /// Outbound webhook deliveries: timeout, address policy, attempts ([`Self::with_outbound`]).
    outbound_config: OutboundConfig,
    /// The delivery client; None only if it could not be built (deliveries then retry).
    outbound: Option<Arc<Outbound>>,
    refresh_locks: publish::RefreshLocks,
    /// The workers' lease; renewed right before an irreversible platform call, so the call
    /// starts with a whole lease ahead of it ([`Self::with_lease`]).
    lease: Duration,
    /// Sends review requests to approvers when `[email]` is configured
    /// ([`Self::with_review_mail`]).
    mailer: Option<Arc<crate::email::Mailer>>,
    /// `media.public_base_url` without its trailing slash: where review links point.
    public_base: String,
    /// Steps of the generations in progress, for the console ([`Self::with_progress`]).
    pub progress: Arc<crate::progress::GenerationProgress>,
    /// When a published post's numbers are fetched back, counted from publishing
    /// ([`Self::with_insights_schedule`]).
    insights_schedule: Vec<Duration>,
    /// The name of the model the "local" backend serves (`generation.model`); a campaign's
    /// `[generation] model` naming another one is served by the generator "local:NAME"
    /// (`generation.models`) or fails with the names served ([`Self::with_local_model`]).
    local_model: Option<String>,
}

/// Hours after publishing of the default fetch-back schedule (PLATFORMS.md §9.6: first
/// numbers, the Meta delay, a week, a month).
pub const DEFAULT_INSIGHTS_SCHEDULE: [u64; 6] = [1, 6, 24, 72, 168, 672];

/// Signs a public URL for a rendition file.
pub trait PublicMedia: Send + Sync {
    fn url_for(&self, rendition_id: &RenditionId) -> String;
}

impl Pipeline {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        generators: BTreeMap<String, Arc<dyn Generator>>,
        connectors: Registry,
        presets: Arc<pressroom_media::Presets>,
        blobs: Arc<dyn BlobStore>,
        retry: RetryPolicy,
        tokens: Arc<dyn TokenCipher>,
    ) -> Self {
        Self {
            queue: Queue::new(store.clone()),
            store,
            generators,
            connectors,
            presets,
            blobs,
            retry,
            tokens,
            refresh_margin: Duration::from_secs(300),
            public_media: None,
            outbound_config: OutboundConfig::default(),
            outbound: Outbound::new(OutboundConfig::default()).ok().map(Arc::new),
            refresh_locks: Default::default(),
            lease: crate::worker::WorkerConfig::default().lease,
            mailer: None,
            public_base: String::new(),
            progress: Arc::default(),
            insights_schedule: DEFAULT_INSIGHTS_SCHEDULE
                .iter()
                .map(|h| Duration::from_secs(h * 3600))
                .collect(),
            local_model: None,
        }
    }

    /// Names the model the "local" backend serves. A campaign on that backend whose
    /// `[generation] model` names another fails with a reason instead of silently getting
    /// this one (one instance serves one local model).
    pub fn with_local_model(mut self, name: impl Into<String>) -> Self {
        self.local_model = Some(name.into());
        self
    }

    /// Sets when published posts' numbers are fetched back (the binary passes
    /// `[insights] schedule`); empty: only on request.
    pub fn with_insights_schedule(mut self, schedule: Vec<Duration>) -> Self {
        self.insights_schedule = schedule;
        self
    }

    /// Reports generation steps into `progress` (the API of the same process reads it).
    pub fn with_progress(mut self, progress: Arc<crate::progress::GenerationProgress>) -> Self {
        self.progress = progress;
        self
    }

    /// Mails each approver a review link when a review opens (`[email]`), with links under
    /// `public_base` (the daemon's public URL).
    pub fn with_review_mail(
        mut self,
        mailer: Option<Arc<crate::email::Mailer>>,
        public_base: &str,
    ) -> Self {
        self.mailer = mailer;
        self.public_base = public_base.trim_end_matches('/').to_string();
        self
    }

    /// Sets the lease the workers claim with (the binary passes `[workers] lease_secs`).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets how outbound webhooks are delivered (the binary passes `[webhooks_out]`).
    pub fn with_outbound(mut self, config: OutboundConfig) -> Result<Self, reqwest::Error> {
        self.outbound = Some(Arc::new(Outbound::new(config.clone())?));
        self.outbound_config = config;
        Ok(self)
    }

    /// Runs the handler for a claimed job.
    pub async fn handle(&self, job: &ClaimedJob) -> Result<(), JobError> {
        match job.kind() {
            Some(JobKind::Generate) => generate::handle(self, job).await,
            Some(JobKind::Render) => render::handle(self, job).await,
            Some(JobKind::Publish) => publish::handle(self, job).await,
            Some(JobKind::Notify) => notify::handle(self, job).await,
            Some(JobKind::Review) => review::handle(self, job).await,
            Some(JobKind::Comment) => comment::handle(self, job).await,
            Some(JobKind::Insights) => insights::handle(self, job).await,
            None => Err(JobError::Permanent(format!(
                "unknown job kind {:?}",
                job.kind
            ))),
        }
    }
}

/// How a job ended when it did not complete. The worker turns each into a queue call.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Try again after the policy's backoff (at least `retry_after`).
    #[error("{error}")]
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Come back later without spending an attempt (a rate limit, a parked account).
    #[error("deferred: {reason}")]
    Defer { reason: String, delay: Duration },
    /// Never retry; the job is dead with this reason (already recorded on the post/run).
    #[error("{0}")]
    Permanent(String),
    /// Another worker owns the job now: touch nothing.
    #[error("lease lost")]
    LeaseLost,
    /// The database could not be reached or was busy: nothing is wrong with the job, so the
    /// worker puts it back without spending an attempt and backs off.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl JobError {
    pub fn retry(error: impl std::fmt::Display) -> Self {
        Self::Retry {
            error: error.to_string(),
            retry_after: None,
        }
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LeaseLost { .. } => JobError::LeaseLost,
            other if other.is_unavailable() => JobError::Unavailable(other.to_string()),
            other => JobError::retry(other),
        }
    }
}

/// Completes a job that had nothing (more) to write: its own short transaction.
async fn complete(p: &Pipeline, job: &ClaimedJob) -> Result<(), JobError> {
    let tx = p.store.begin().await?;
    p.queue.complete(&tx, job).await?;
    tx.commit().await?;
    Ok(())
}
