//! The daemon's [`EngineOptions`] as the engine's own configuration.

use std::time::Duration;

use pressroom_diffusion::EngineConfig;
use pressroom_generate::EngineOptions;

/// The engine configuration `options` describe (at least one request per batch and in the
/// queue; a retry hint of at least a second).
pub fn engine_config(options: &EngineOptions) -> EngineConfig {
    EngineConfig {
        batch_window: Duration::from_millis(options.batch_window_ms),
        max_batch: options.max_batch.max(1),
        queue_capacity: options.queue_capacity.max(1),
        busy_retry_after: Duration::from_secs(options.busy_retry_after_secs.max(1)),
        shutdown_timeout: Duration::from_secs(options.shutdown_timeout_secs),
        clip_skip: options.clip_skip,
        safety_checker: options.safety_checker,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemons_defaults_are_the_engines() {
        let ours = engine_config(&EngineOptions::default());
        let engine = EngineConfig::default();
        assert_eq!(ours.batch_window, engine.batch_window);
        assert_eq!(ours.max_batch, engine.max_batch);
        assert_eq!(ours.queue_capacity, engine.queue_capacity);
        assert_eq!(ours.busy_retry_after, engine.busy_retry_after);
        assert_eq!(ours.shutdown_timeout, engine.shutdown_timeout);
        assert_eq!(ours.clip_skip, engine.clip_skip);
        assert_eq!(ours.safety_checker, engine.safety_checker);
    }
}
