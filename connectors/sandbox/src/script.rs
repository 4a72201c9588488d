//! Scripted failures, so tests can drive every branch of the runtime's publish logic.

use std::sync::Mutex;
use std::time::Duration;

use pressroom_connector::ConnectorError;
use serde::Deserialize;

/// Where a failure strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Prepare,
    /// Before the post lands.
    Commit,
    /// After the post landed: the response is "lost".
    AfterCommit,
    /// The look-up after an unknown outcome (a listing that answers 403, a 5xx).
    Reconcile,
}

/// What the failure looks like to the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    Transient,
    RateLimited,
    AuthExpired,
    Rejected,
    Disconnected,
    OutcomeUnknown,
}

/// Fail `times` calls of `phase` with `kind`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedFailure {
    pub phase: Phase,
    pub kind: FailureKind,
    #[serde(default = "one")]
    pub times: u32,
    /// For rate limits: the wait the "platform" names, in seconds.
    #[serde(default)]
    pub retry_after_secs: u64,
}

fn one() -> u32 {
    1
}

pub(crate) struct Script {
    remaining: Mutex<Vec<ScriptedFailure>>,
}

impl Script {
    pub(crate) fn new(failures: Vec<ScriptedFailure>) -> Self {
        Self {
            remaining: Mutex::new(failures),
        }
    }

    /// Consumes the first pending failure for `phase`, if any, and returns it as an error.
    pub(crate) fn maybe_fail(&self, phase: Phase) -> Result<(), ConnectorError> {
        let mut remaining = match self.remaining.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(index) = remaining
            .iter()
            .position(|f| f.phase == phase && f.times > 0)
        else {
            return Ok(());
        };
        let failure = remaining[index].clone();
        remaining[index].times -= 1;
        Err(match failure.kind {
            FailureKind::Transient => ConnectorError::transient("sandbox: scripted 503"),
            FailureKind::RateLimited => ConnectorError::RateLimited {
                retry_after: Some(Duration::from_secs(failure.retry_after_secs)),
            },
            FailureKind::AuthExpired => ConnectorError::AuthExpired,
            FailureKind::Rejected => {
                ConnectorError::Rejected("sandbox: scripted rejection (policy)".into())
            }
            FailureKind::Disconnected => {
                ConnectorError::Disconnected("sandbox: scripted revoked token".into())
            }
            FailureKind::OutcomeUnknown => {
                ConnectorError::OutcomeUnknown("sandbox: scripted timeout".into())
            }
        })
    }
}
