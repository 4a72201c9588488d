//! Pressroom's domain: identifiers, campaign specs, schedules, the post/attempt state machine
//! and the retry policy. Pure logic only — no files, network or database — so every rule here
//! is unit-testable and shared by the store, the scheduler, the workers and the API.

pub mod attempt;
pub mod campaign;
pub mod event;
pub mod ids;
pub mod job;
pub mod retry;
pub mod sampler;
pub mod schedule;
pub mod template;

pub use attempt::{AttemptState, IllegalTransition, PostState};
pub use event::PostEvent;
pub use ids::{
    AccountId, AssetId, AttemptId, CampaignId, PostId, RenditionId, RunId, WorkspaceId, new_id,
};
pub use job::{JobKind, JobState};
pub use retry::RetryPolicy;
pub use sampler::{NoiseScheduler, UnknownScheduler};
