use std::sync::Arc;
use std::time::Duration;

use crate::{AccountRef, Connector, Credentials, PostDraft};

/// The phase of a publish a fault targets; fakes map it to their platform's endpoint
/// (Instagram: `Prepare` = container creation, `Commit` = `media_publish`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Prepare,
    Commit,
    /// A first comment on a published post (PLATFORMS.md §8).
    Comment,
}

/// A one-shot (or N-shot) failure a fake must produce, in the platform's own words: its status
/// codes, error bodies and headers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer the next `times` calls of `step` with the platform's 5xx / service error.
    ServerError { step: Step, times: u32 },
    /// Answer the next call of `step` with the platform's rate-limit response, naming
    /// `retry_after` the way the platform does (429 + `Retry-After`, usage headers, error code).
    /// Platforms that name no time (LinkedIn, TikTok, Snapchat send no `Retry-After`) answer
    /// their plain 429 and ignore `retry_after`; see [`FakeControls::rate_limit_default`].
    RateLimited { step: Step, retry_after: Duration },
    /// Refuse the content on the next call that inspects it, with the platform's rejection.
    RejectContent,
    /// Carry out the next commit (record the post) but answer only after the connector has
    /// given up waiting: the "timeout after the platform accepted" case.
    AcceptThenHang,
    /// As [`Fault::AcceptThenHang`], for the next first comment: the comment is recorded,
    /// the answer comes only after the connector gave up.
    AcceptCommentThenHang,
}

/// Which scenarios apply to a platform. Scenarios for unsupported features are skipped.
#[derive(Clone, Copy, Debug)]
pub struct KitFeatures {
    /// The connector can obtain new credentials without a person (refresh token, or a
    /// long-lived token to re-derive a page token from).
    pub refresh: bool,
    /// The platform signals rate limits the fake can inject.
    pub rate_limit: bool,
    /// `reconcile` can find a post whose commit answer was lost. False for platforms whose
    /// irreversible call returns the only handle to look the post up by (TikTok's
    /// `publish_id`): the kit then checks the opposite promise, that a commit lost to a timeout
    /// or a 5xx ends as unknown for a person and is never repeated.
    pub reconcile: bool,
}

impl Default for KitFeatures {
    fn default() -> Self {
        Self {
            refresh: true,
            rate_limit: true,
            reconcile: true,
        }
    }
}

/// A connected account as the store would hand it to the runtime.
#[derive(Clone, Debug)]
pub struct Account {
    pub account: AccountRef,
    pub credentials: Credentials,
}

/// The controls of a fake platform the compliance kit drives. Implemented by each connector's
/// fake handle.
#[async_trait::async_trait]
pub trait FakeControls: Send + Sync {
    /// The connector under test, configured against this fake.
    fn connector(&self) -> Arc<dyn Connector>;

    /// What the platform supports.
    fn features(&self) -> KitFeatures {
        KitFeatures::default()
    }

    /// A fresh connected account with valid credentials (its own posts, tokens and counters).
    async fn connect_account(&self) -> Account;

    /// A draft the platform accepts (for URL-pulling platforms, media served over loopback).
    async fn valid_draft(&self) -> PostDraft;

    /// Queues a fault; faults fire in the order injected.
    async fn inject(&self, fault: Fault);

    /// The platform now treats the account's current access token as expired.
    async fn expire_access_token(&self, account: &Account);

    /// The platform now refuses the account's refresh credential as revoked.
    async fn revoke_refresh(&self, account: &Account);

    /// Posts the platform holds for the account (each successful irreversible call adds one).
    async fn published_count(&self, account: &Account) -> usize;

    /// A fragment of the platform's rejection message that must reach `Rejected(reason)`.
    fn rejection_reason(&self) -> String;

    /// For platforms whose rate-limit answers name no time: the wait the connector documents
    /// for them (from now), which the kit then expects instead of the time it injected.
    /// `None` (the default): the platform names the time and the connector must honour it.
    fn rate_limit_default(&self) -> Option<Duration> {
        None
    }
}

/// The insights side of a fake platform (PLATFORMS.md §9.7), in our normalised names so one
/// scenario ([`super::scenarios::insights_round_trip`]) and the end-to-end tests drive every
/// fake alike; each fake serves the numbers under its own metric names and in its own shape.
#[async_trait::async_trait]
pub trait InsightsControls: FakeControls {
    /// From now on the platform reports `metrics` for the post it published as `remote_id`
    /// (past any processing delay the fake models). Returns what the connector must read
    /// back: the metrics this platform has, the others `None`.
    async fn set_post_metrics(
        &self,
        remote_id: &str,
        metrics: &crate::PostMetrics,
    ) -> crate::PostMetrics;

    /// The account's tokens lose the insights permission (a person unticked it when
    /// reconnecting), answered the way the platform answers it (Facebook: 200 with empty
    /// data). A later [`FakeControls::connect_account`] grants it again.
    async fn revoke_insights(&self, account: &Account);
}
