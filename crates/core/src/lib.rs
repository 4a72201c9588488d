//! Pressroom's domain: identifiers, campaign specs, schedules, the post/attempt state machine
//! and the retry policy. Pure logic only — no files, network or database — so every rule here
//! is unit-testable and shared by the store, the scheduler, the workers and the API.

/// Text forms for a state enum that has `as_str` and `parse`: `Display`, `FromStr` (an
/// unknown name is an [`UnknownState`]). With feature `sea-orm` the enum also derives its
/// TEXT column mapping through these (`#[cfg_attr(feature = "sea-orm", ...)]` on the enum).
macro_rules! text_state {
    ($($name:ident),* $(,)?) => {$(
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::UnknownState;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s).ok_or_else(|| $crate::UnknownState {
                    kind: stringify!($name),
                    value: s.to_owned(),
                })
            }
        }
    )*};
}

pub mod attempt;
pub mod campaign;
pub mod event;
pub mod ids;
pub mod job;
pub mod retry;
pub mod sampler;
pub mod schedule;
pub mod state;
pub mod template;

pub use attempt::{AttemptState, IllegalTransition, PostState};
pub use event::PostEvent;
pub use ids::{
    AccountId, AssetId, AttemptId, CampaignId, PostId, RenditionId, RunId, WorkspaceId, new_id,
};
pub use job::{JobKind, JobState};
pub use retry::RetryPolicy;
pub use sampler::{NoiseScheduler, UnknownScheduler};
pub use state::{AccountState, RunState, UnknownState};
