//! What the remote backends share: the HTTP client and the mapping of HTTP failures to
//! retryable or permanent errors.

use std::time::Duration;

use crate::error::GenerateError;

/// A client with timeouts suited to image generation (slow but bounded).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, GenerateError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("pressroom/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| GenerateError::Transient {
            backend: "http",
            message: e.to_string(),
        })
}

/// Network-level failures (connect, timeout, broken body) are transient.
pub fn network_error(backend: &'static str, e: reqwest::Error) -> GenerateError {
    GenerateError::Transient {
        backend,
        message: e.to_string(),
    }
}

/// Classifies a non-success response; `message` is the service's own explanation.
pub fn status_error(
    backend: &'static str,
    status: reqwest::StatusCode,
    retry_after: Option<&reqwest::header::HeaderValue>,
    message: String,
) -> GenerateError {
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        let retry_after = retry_after
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return GenerateError::RateLimited {
            backend,
            retry_after,
        };
    }
    if status.is_server_error() || status == reqwest::StatusCode::REQUEST_TIMEOUT {
        return GenerateError::Transient { backend, message };
    }
    GenerateError::Rejected {
        backend,
        status: status.as_u16(),
        message,
    }
}

/// An API key that never shows up in `Debug` output or logs.
#[derive(Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}
