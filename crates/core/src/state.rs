//! The states of runs and accounts (posts and attempts: [`crate::attempt`]; jobs:
//! [`crate::job`]), one enum each, stored as their lowercase names.

use serde::{Deserialize, Serialize};

/// A stored state name that is not one of its enum's (a newer schema, a hand edit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownState {
    pub kind: &'static str,
    pub value: String,
}

/// Where a run (one firing of a campaign) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(
    feature = "sea-orm",
    derive(sea_orm::DeriveValueType),
    sea_orm(value_type = "String")
)]
pub enum RunState {
    /// Fired; its generate job is queued.
    Queued,
    /// Image generated; renditions and posts are on their way.
    Generated,
    /// The generate step failed for good.
    Failed,
    /// A misfire the campaign's policy chose not to run; recorded so it is visible.
    Missed,
}

impl RunState {
    pub const ALL: [RunState; 4] = [Self::Queued, Self::Generated, Self::Failed, Self::Missed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Generated => "generated",
            Self::Failed => "failed",
            Self::Missed => "missed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Whether an account can publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(
    feature = "sea-orm",
    derive(sea_orm::DeriveValueType),
    sea_orm(value_type = "String")
)]
pub enum AccountState {
    Active,
    /// The platform revoked access; a person must reconnect.
    Disconnected,
}

impl AccountState {
    pub const ALL: [AccountState; 2] = [Self::Active, Self::Disconnected];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disconnected => "disconnected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

text_state!(RunState, AccountState);

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
