//! The states of runs and accounts (posts and attempts: [`crate::attempt`]; jobs:
//! [`crate::job`]), one enum each, stored as their lowercase names.

/// A stored state name that is not one of its enum's (a newer schema, a hand edit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownState {
    pub kind: &'static str,
    pub value: String,
}

text_enum! {
    /// Where a run (one firing of a campaign) is.
    pub enum RunState {
        /// Fired; its generate job is queued.
        Queued = "queued",
        /// Image generated; renditions and posts are on their way.
        Generated = "generated",
        /// The generate step failed for good.
        Failed = "failed",
        /// A misfire the campaign's policy chose not to run; recorded so it is visible.
        Missed = "missed",
    }
}

text_enum! {
    /// Where a run's review (the approval gate) is.
    pub enum ReviewState {
        /// Waiting for a decision (candidates may still be generating).
        Pending = "pending",
        /// A candidate was chosen; the posts publish at the scheduled time.
        Approved = "approved",
        /// Nothing of this run is published.
        Rejected = "rejected",
        /// Nobody decided in time; the campaign's `on_expiry` applied.
        Expired = "expired",
    }
}

text_enum! {
    /// Whether an account can publish.
    pub enum AccountState {
        Active = "active",
        /// The platform revoked access; a person must reconnect.
        Disconnected = "disconnected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AttemptState, JobState, PostState};

    #[test]
    fn every_state_reads_back_its_own_name() {
        for s in RunState::ALL {
            assert_eq!(s.to_string().parse::<RunState>(), Ok(s));
            assert_eq!(serde_json::to_value(s).ok(), Some(s.as_str().into()));
        }
        for s in AccountState::ALL {
            assert_eq!(s.to_string().parse::<AccountState>(), Ok(s));
            assert_eq!(serde_json::to_value(s).ok(), Some(s.as_str().into()));
        }
        for s in PostState::ALL {
            assert_eq!(s.to_string().parse::<PostState>(), Ok(s));
            assert_eq!(serde_json::to_value(s).ok(), Some(s.as_str().into()));
        }
        for s in AttemptState::ALL {
            assert_eq!(s.to_string().parse::<AttemptState>(), Ok(s));
            assert_eq!(serde_json::to_value(s).ok(), Some(s.as_str().into()));
        }
        assert_eq!("dead".parse::<JobState>(), Ok(JobState::Dead));
        assert_eq!(
            "paused".parse::<RunState>(),
            Err(UnknownState {
                kind: "RunState",
                value: "paused".into()
            })
        );
    }
}
