//! Errors of every image backend, classified so the job runner knows whether to retry.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The prompt (or, where it is prompt text, the negative prompt: `field`) hit the
    /// configured block list; `reason` is shown to the user.
    #[error("{field} blocked: contains `{term}` ({reason})")]
    PromptBlocked {
        field: &'static str,
        term: String,
        reason: String,
    },
    #[error("invalid generation request: {0}")]
    InvalidRequest(String),
    /// A backend's configuration is unusable (named by its key, e.g. `generation.openai.api_key`).
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("diffusion engine: {0}")]
    Engine(String),
    /// The remote service refused the request for good (bad request, content policy, auth).
    #[error("{backend} rejected the request (HTTP {status}): {message}")]
    Rejected {
        backend: &'static str,
        status: u16,
        message: String,
    },
    #[error("{backend} is rate limiting us (retry after {retry_after:?})")]
    RateLimited {
        backend: &'static str,
        retry_after: Option<Duration>,
    },
    /// Server errors and network failures: worth retrying.
    #[error("{backend} failed transiently: {message}")]
    Transient {
        backend: &'static str,
        message: String,
    },
    #[error("generation cache at {path}: {source}")]
    Cache {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("image data: {0}")]
    Image(String),
    #[error("engine stopped before answering")]
    EngineGone,
    /// The engine process died (crash, out of memory, killed) while the request was in it, or
    /// is not running; the daemon restarts it.
    #[error("the engine process {0}")]
    EngineCrashed(String),
    /// The model's image safety checker flagged the image; it was not kept.
    #[error("{0}")]
    Unsafe(String),
}

impl GenerateError {
    /// Whether running the same request again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            GenerateError::RateLimited { .. }
                | GenerateError::Transient { .. }
                | GenerateError::EngineGone
                | GenerateError::EngineCrashed(_)
        )
    }
}
