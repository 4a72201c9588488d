//! What the remote backends share: the HTTP client and the mapping of HTTP failures to
//! retryable or permanent errors.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

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

/// Checks what a remote backend needs before any request: an http(s) base URL and a key.
/// `section` names the configuration section in the error.
pub fn check_remote_config(
    section: &str,
    base_url: &str,
    api_key: &SecretString,
    timeout_secs: u64,
) -> Result<(), GenerateError> {
    let bad = |m: String| Err(GenerateError::Config(format!("{section}.{m}")));
    match reqwest::Url::parse(base_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
        _ => {
            return bad(format!(
                "base_url: must be an http(s) URL (got {base_url:?})"
            ));
        }
    }
    if api_key.expose_secret().trim().is_empty() {
        return bad("api_key: must not be empty".into());
    }
    if timeout_secs == 0 {
        return bad("timeout_secs: must be at least 1".into());
    }
    Ok(())
}
