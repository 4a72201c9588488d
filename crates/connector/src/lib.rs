//! The connector contract: one trait every publishing platform implements, the types that
//! cross it, and the error taxonomy the runtime uses to decide what happens next.
//!
//! The runtime (the publish worker) owns the attempt state machine; a connector only answers
//! "what happened" for each phase. See DESIGN.md, "Connector contract".

mod error;
pub mod formats;
pub mod http;
pub mod media;
pub mod metrics;
mod model;
pub mod oauth;
mod registry;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use error::{BoxError, ConnectorError};
pub use metrics::{MetricsAnswer, MetricsCtx, MetricsQuery, MetricsReport, PostMetrics};
pub use model::{
    AccountRef, Capabilities, CheckpointStore, Checkpointer, Credentials, MediaRef, OAuthSpec,
    PostDraft, Prepared, PublishCtx, Published, Reconciled, ValidationIssue,
};
pub use pressroom_core::{Platform, PostFormat};
pub use registry::Registry;

/// `Ok` when `issues` is empty, else the issues: the end of every `Connector::validate`.
pub fn validation_result(issues: Vec<ValidationIssue>) -> Result<(), Vec<ValidationIssue>> {
    if issues.is_empty() {
        Ok(())
    } else {
        Err(issues)
    }
}

/// A publishing platform. Implementations are registered explicitly in the binary.
#[async_trait::async_trait]
pub trait Connector: Send + Sync + 'static {
    /// Which platform this is; its name is stored in the database, so never renamed.
    fn platform(&self) -> Platform;

    /// Static limits: caption length, accepted media, daily caps, phases.
    fn capabilities(&self) -> &Capabilities;

    /// Pure checks, no network: run when a campaign is saved and again before publishing,
    /// so a bad post fails early with a clear reason.
    fn validate(&self, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>>;

    /// Where the OAuth authorization-code flow goes, or `None` for platforms without OAuth.
    fn oauth(&self) -> Option<OAuthSpec> {
        None
    }

    /// The connect flow (`pressroom accounts connect`, `POST /v1/accounts/connect`), or `None`
    /// where accounts are imported with tokens from the platform's console instead.
    fn connect_flow(&self) -> Option<&dyn oauth::OAuthFlow> {
        None
    }

    /// Exchanges a refresh token for fresh credentials. A returned credential with no refresh
    /// token means "keep the stored one".
    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, ConnectorError>;

    /// How long before the access token expires the runtime renews it (a refresh sweep and
    /// every publish check this). Platforms with long-lived tokens take it from their config.
    fn refresh_before(&self) -> std::time::Duration {
        std::time::Duration::from_secs(300)
    }

    /// Whether [`Connector::refresh`] can renew these credentials at `now`. By default: a
    /// refresh token is stored. Platforms whose access token renews itself (Instagram Login)
    /// say when that is allowed.
    fn can_refresh(&self, creds: &Credentials, now: chrono::DateTime<chrono::Utc>) -> bool {
        let _ = now;
        creds.refresh_token.is_some()
    }

    /// Uploads, media containers, drafts. Must be safe to run more than once: `ctx.checkpoint`
    /// carries what an earlier run of this attempt stored, so it can resume instead of redoing.
    async fn prepare(
        &self,
        ctx: &PublishCtx,
        draft: &PostDraft,
    ) -> Result<Prepared, ConnectorError>;

    /// The one irreversible call. Never retried blindly after `OutcomeUnknown`. A platform that
    /// answers with a handle before the outcome is final (TikTok's `publish_id`) saves it with
    /// [`PublishCtx::save_checkpoint`] first, so reconcile can look it up after a restart.
    async fn commit(
        &self,
        ctx: &PublishCtx,
        prepared: &Prepared,
    ) -> Result<Published, ConnectorError>;

    /// How long after a commit started a listing that lacks the post proves it absent: the
    /// request timeout (the commit may still be in flight that long) plus the platform's
    /// listing lag (a post created now may show in the listing only later). Until then the
    /// runtime treats `Absent` as "not yet known" and asks again; it never commits again.
    fn absent_final_after(&self) -> std::time::Duration {
        std::time::Duration::from_secs(90)
    }

    /// Read-only: did this attempt land? Answers `Absent` only when the platform says so.
    async fn reconcile(
        &self,
        ctx: &PublishCtx,
        prepared: Option<&Prepared>,
    ) -> Result<Reconciled, ConnectorError>;

    /// Posts `text` as a comment by the account on its published post `remote_id` (the
    /// first comment). Not idempotent on any platform: the runtime records that it is about
    /// to call, and after a crash or an unknown outcome asks [`Connector::find_comment`]
    /// before it ever calls again. Platforms without comments refuse (validation keeps
    /// campaigns from asking).
    async fn comment(
        &self,
        ctx: &PublishCtx,
        remote_id: &str,
        text: &str,
    ) -> Result<String, ConnectorError> {
        let _ = (ctx, remote_id, text);
        Err(ConnectorError::Rejected(format!(
            "{} takes no comments through its API",
            self.platform()
        )))
    }

    /// Read-only: the id of a comment by the account with exactly `text` on `remote_id`,
    /// `None` when the platform's listing has none. A connector that implements
    /// [`Connector::comment`] must implement this too: the default cannot tell, and says so
    /// (never "absent", which would let the comment be posted twice).
    async fn find_comment(
        &self,
        ctx: &PublishCtx,
        remote_id: &str,
        text: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let _ = (ctx, remote_id, text);
        Err(ConnectorError::Rejected(format!(
            "{} cannot list comments",
            self.platform()
        )))
    }

    /// Most posts one [`Connector::fetch_metrics`] call takes (TikTok's video query: 20);
    /// 0 (the default) for platforms without a metrics API, whose posts are never measured.
    fn metrics_batch(&self) -> usize {
        0
    }

    /// Read-only: what each post in `posts` achieved (PLATFORMS.md §9), one answer per post
    /// in order. A missing insights permission is not an error: the report says what a
    /// person must do (`unavailable`). A metric the platform no longer knows is skipped and
    /// named in `unknown_metrics`. Errors are the whole call's (auth, rate limit, network).
    async fn fetch_metrics(
        &self,
        ctx: &MetricsCtx,
        posts: &[MetricsQuery],
    ) -> Result<MetricsReport, ConnectorError> {
        let _ = (ctx, posts);
        Err(ConnectorError::Rejected(format!(
            "{} has no metrics API",
            self.platform()
        )))
    }
}
