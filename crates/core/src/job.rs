//! Durable job kinds and states, as stored in the `jobs` table.

use serde::{Deserialize, Serialize};

/// What a job does. Each worker role claims only its kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Render the prompt, generate (or fetch from cache) the run's image.
    Generate,
    /// Cut one rendition of a run's image for one preset, then create its posts.
    Render,
    /// Publish one post to one account: prepare -> commit -> (reconcile).
    Publish,
    /// Deliver one post event to one outbound webhook endpoint (signed, retried).
    Notify,
    /// Expire a run's review at its deadline if nobody decided.
    Review,
    /// Post a published post's first comment (at most once). Run by the workers that
    /// publish: it is part of the `publish` role, not a role of its own.
    Comment,
    /// Fetch a published post's metrics back from its platform (PLATFORMS.md §9), on the
    /// post's schedule or on request. Part of the `publish` role, like `comment`: the same
    /// workers hold the accounts' tokens and rate budgets.
    Insights,
}

impl JobKind {
    pub const ALL: [JobKind; 7] = [
        JobKind::Generate,
        JobKind::Render,
        JobKind::Publish,
        JobKind::Notify,
        JobKind::Review,
        JobKind::Comment,
        JobKind::Insights,
    ];

    /// Whether a worker with `roles` runs this kind (`comment` and `insights` come with
    /// `publish`).
    pub fn run_by(self, roles: &[JobKind]) -> bool {
        roles.contains(&self)
            || (matches!(self, JobKind::Comment | JobKind::Insights)
                && roles.contains(&JobKind::Publish))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Generate => "generate",
            JobKind::Render => "render",
            JobKind::Publish => "publish",
            JobKind::Notify => "notify",
            JobKind::Review => "review",
            JobKind::Comment => "comment",
            JobKind::Insights => "insights",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

text_enum! {
    /// Where a job is in its life.
    pub enum JobState {
        /// Waiting for `run_at`, claimable after it.
        Available = "available",
        /// Leased by a worker until `lease_expires_at`.
        Running = "running",
        /// Done; kept for history.
        Completed = "completed",
        /// Gave up after max attempts or a permanent error; an operator can retry it.
        Dead = "dead",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_states_round_trip_through_their_names() {
        for k in JobKind::ALL {
            assert_eq!(JobKind::parse(k.as_str()), Some(k));
        }
        for s in ["available", "running", "completed", "dead"] {
            assert_eq!(JobState::parse(s).map(JobState::as_str), Some(s));
        }
        assert_eq!(JobKind::parse("nope"), None);
    }
}
