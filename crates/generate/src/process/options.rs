//! What the engine process is started with: `[generation.engine]` plus the model options.

use serde::{Deserialize, Serialize};

/// The engine's tuning, sent to the engine process as JSON (`--options`); the engine turns it
/// into its own `EngineConfig`. Defaults equal the engine's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineOptions {
    /// How long the engine waits after a request for compatible ones to join its batch.
    pub batch_window_ms: u64,
    /// Upper bound on requests per batch (memory grows linearly with it).
    pub max_batch: usize,
    /// Requests that may wait beyond the running batch before the engine answers "busy".
    pub queue_capacity: usize,
    /// The retry hint given with "busy".
    pub busy_retry_after_secs: u64,
    /// How long the engine waits for its running batch to stop when it shuts down.
    pub shutdown_timeout_secs: u64,
    /// The text encoder's output this many layers before the last.
    pub clip_skip: u32,
    /// Whether the model's safety checker (when its folder has one) checks every image.
    pub safety_checker: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            batch_window_ms: 25,
            max_batch: 4,
            queue_capacity: 32,
            busy_retry_after_secs: 10,
            shutdown_timeout_secs: 10,
            clip_skip: 0,
            safety_checker: true,
        }
    }
}
