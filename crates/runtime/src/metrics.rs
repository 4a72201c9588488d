//! What the pipeline reports to Prometheus, through the `metrics` facade: the binary (the API
//! crate) installs the recorder and serves `/metrics`; without one these calls cost nothing.
//! Names live here only, so the handlers and `describe` cannot drift apart.

use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

pub const GENERATION_SECONDS: &str = "pressroom_generation_seconds";
pub const GENERATION_CACHE: &str = "pressroom_generation_cache_total";
pub const PUBLISH_SECONDS: &str = "pressroom_publish_seconds";
pub const RATE_LIMIT_WAITS: &str = "pressroom_rate_limit_waits_total";
pub const RATE_LIMIT_WAIT_SECONDS: &str = "pressroom_rate_limit_wait_seconds";
pub const TOKEN_REFRESHES: &str = "pressroom_token_refreshes_total";
pub const INSIGHTS_FETCHES: &str = "pressroom_insights_fetches_total";
/// Counted where the engine is supervised (`pressroom_generate::process`), named here.
pub const ENGINE_RESTARTS: &str = pressroom_generate::process::ENGINE_RESTARTS;

/// Registers help texts; call once after installing a recorder.
pub fn describe() {
    describe_histogram!(
        GENERATION_SECONDS,
        Unit::Seconds,
        "Time the image generator took for one image (cache misses), by backend."
    );
    describe_counter!(
        GENERATION_CACHE,
        "Image lookups by cache layer (assets: same generation key in the asset table; \
         generator: the generator's own cache) and result (hit, miss)."
    );
    describe_histogram!(
        PUBLISH_SECONDS,
        Unit::Seconds,
        "Time of each platform call while publishing, by platform, step (prepare, commit, \
         reconcile) and outcome (ok or the connector's error class)."
    );
    describe_counter!(
        RATE_LIMIT_WAITS,
        "Publish jobs put back because the platform rate-limited them, by platform."
    );
    describe_histogram!(
        RATE_LIMIT_WAIT_SECONDS,
        Unit::Seconds,
        "How long each of those rate limits made the post wait, by platform."
    );
    describe_counter!(
        TOKEN_REFRESHES,
        "OAuth token refreshes by platform and result (ok, failed, disconnected)."
    );
    describe_counter!(
        INSIGHTS_FETCHES,
        "Post-metrics fetches (one platform call for a batch of posts) by platform and \
         outcome (ok, unavailable: the account lacks the insights permission, or the \
         connector's error class)."
    );
    describe_counter!(
        ENGINE_RESTARTS,
        "Times the engine process stopped (crash, out of memory, killed) and was started again, \
         by model folder."
    );
}

/// One metrics fetch: `outcome` is "ok", "unavailable" or `ConnectorError::code()`.
pub(crate) fn insights_fetch(platform: &str, outcome: &'static str) {
    counter!(INSIGHTS_FETCHES, "platform" => platform.to_string(), "outcome" => outcome)
        .increment(1);
}

pub(crate) fn generation(backend: &str, took: Duration) {
    histogram!(GENERATION_SECONDS, "backend" => backend.to_string()).record(took.as_secs_f64());
}

/// `layer`: "assets" or "generator".
pub(crate) fn cache(layer: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    counter!(GENERATION_CACHE, "layer" => layer, "result" => result).increment(1);
}

/// One connector call: `outcome` is "ok" or `ConnectorError::code()`.
pub(crate) fn publish_step(
    platform: &str,
    step: &'static str,
    outcome: &'static str,
    took: Duration,
) {
    histogram!(
        PUBLISH_SECONDS,
        "platform" => platform.to_string(),
        "step" => step,
        "outcome" => outcome
    )
    .record(took.as_secs_f64());
}

pub(crate) fn rate_limited(platform: &str, wait: Duration) {
    counter!(RATE_LIMIT_WAITS, "platform" => platform.to_string()).increment(1);
    histogram!(RATE_LIMIT_WAIT_SECONDS, "platform" => platform.to_string())
        .record(wait.as_secs_f64());
}

/// `result`: "ok", "failed" or "disconnected".
pub(crate) fn token_refresh(platform: &str, result: &'static str) {
    counter!(TOKEN_REFRESHES, "platform" => platform.to_string(), "result" => result).increment(1);
}

/// The `outcome` label of a connector call's result.
pub(crate) fn outcome<T>(result: &Result<T, pressroom_connector::ConnectorError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}
