use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::ScriptedFailure;

/// `[connectors.sandbox]` in the configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Where posts are "published": commits.jsonl, one JSON file per post, media, index.html.
    pub outbox_dir: PathBuf,
    /// Pause inside `commit` (tests use it to widen the window a crash can hit).
    #[serde(default, with = "millis")]
    pub commit_delay: Duration,
    /// Failures to inject, in order.
    #[serde(default)]
    pub failures: Vec<ScriptedFailure>,
}

impl SandboxConfig {
    pub fn new(outbox_dir: impl Into<PathBuf>) -> Self {
        Self {
            outbox_dir: outbox_dir.into(),
            commit_delay: Duration::ZERO,
            failures: Vec::new(),
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
