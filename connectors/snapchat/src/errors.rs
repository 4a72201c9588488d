//! Snap's error envelope (`request_status: "ERROR"`, `request_id`, `debug_message`,
//! `display_message`, `error_code`; field names from OSS usage, UNVERIFIED) and HTTP statuses,
//! mapped to `ConnectorError`. Snap documents no error-code table for the Public Profile API,
//! so the status decides and the messages travel in the reason.

use std::time::Duration;

use pressroom_connector::ConnectorError;
use reqwest::StatusCode;
use serde::Deserialize;

/// Snap sends no `Retry-After` or rate-limit headers (PLATFORMS.md §5.5); its limits are per
/// second (~10/s per token), so a short pause is the documented default (a `Retry-After`
/// added by a proxy is still honoured).
pub const SHORT_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, Default, Deserialize)]
pub struct SnapError {
    #[serde(default)]
    pub request_status: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub debug_message: Option<String>,
    #[serde(default)]
    pub display_message: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
}

impl SnapError {
    pub fn reason(&self, status: StatusCode) -> String {
        let msg = self
            .display_message
            .as_deref()
            .or(self.debug_message.as_deref())
            .unwrap_or("no message");
        format!(
            "Snapchat {status} {}: {msg} (request_id {})",
            self.error_code.as_deref().unwrap_or("-"),
            self.request_id.as_deref().unwrap_or("-")
        )
    }
}

/// Which side of the irreversible call (the story post) a request is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Safe,
    Commit,
}

pub fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    phase: Phase,
) -> ConnectorError {
    let err: SnapError = serde_json::from_slice(body).unwrap_or_default();
    let reason = err.reason(status);
    match status.as_u16() {
        // Expired access tokens answer 401 (60-minute tokens): refresh once.
        401 => ConnectorError::AuthExpired,
        // Not allowlisted, or the member lost the profile role: a person must act.
        403 => ConnectorError::Disconnected(reason),
        429 => ConnectorError::RateLimited {
            retry_after: Some(retry_after.unwrap_or(SHORT_BACKOFF)),
        },
        500..=599 => match phase {
            Phase::Safe => ConnectorError::transient(reason),
            Phase::Commit => {
                ConnectorError::OutcomeUnknown(format!("{reason}; the story may exist"))
            }
        },
        // 400, 404 (media expired after 24 h, unknown profile), 413, 422...
        _ => ConnectorError::Rejected(reason),
    }
}

/// A 2xx whose envelope says ERROR, or a batch item whose `sub_request_status` says ERROR:
/// Snap looked at the request and refused it.
pub fn refused(err: &SnapError) -> ConnectorError {
    ConnectorError::Rejected(err.reason(StatusCode::OK))
}

#[derive(Debug, Default, Deserialize)]
pub struct OAuthError {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}

pub fn classify_oauth(status: StatusCode, body: &[u8]) -> ConnectorError {
    let err: OAuthError = serde_json::from_slice(body).unwrap_or_default();
    let reason = format!(
        "Snapchat token refresh {status} {}: {}",
        err.error,
        err.error_description.as_deref().unwrap_or("")
    );
    match status.as_u16() {
        429 => ConnectorError::RateLimited {
            retry_after: Some(SHORT_BACKOFF),
        },
        500..=599 => ConnectorError::transient(reason),
        _ => ConnectorError::Disconnected(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, body: &str, phase: Phase) -> ConnectorError {
        classify(
            StatusCode::from_u16(status).expect("valid"),
            None,
            body.as_bytes(),
            phase,
        )
    }

    #[test]
    fn statuses_and_envelopes() {
        assert!(matches!(
            map(401, "", Phase::Safe),
            ConnectorError::AuthExpired
        ));
        let nope = r#"{"request_status":"ERROR","request_id":"r1","debug_message":"App is not allowlisted for Public Profile API","display_message":"Forbidden","error_code":"E3003"}"#;
        assert!(
            matches!(map(403, nope, Phase::Safe), ConnectorError::Disconnected(m) if m.contains("Forbidden") && m.contains("r1"))
        );
        assert!(
            matches!(map(429, "", Phase::Commit), ConnectorError::RateLimited { retry_after: Some(d) } if d == SHORT_BACKOFF)
        );
        assert!(matches!(
            map(503, "", Phase::Safe),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(
            map(500, "", Phase::Commit),
            ConnectorError::OutcomeUnknown(_)
        ));
        let bad = r#"{"request_status":"ERROR","display_message":"Media is not in a valid state"}"#;
        assert!(
            matches!(map(400, bad, Phase::Commit), ConnectorError::Rejected(m) if m.contains("valid state"))
        );
        assert!(matches!(
            map(404, "", Phase::Commit),
            ConnectorError::Rejected(_)
        ));
        let e = classify(
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(9)),
            b"",
            Phase::Safe,
        );
        assert!(
            matches!(e, ConnectorError::RateLimited { retry_after: Some(d) } if d.as_secs() == 9)
        );
    }

    #[test]
    fn refresh_failures() {
        assert!(
            matches!(classify_oauth(StatusCode::BAD_REQUEST, br#"{"error":"invalid_grant"}"#), ConnectorError::Disconnected(m) if m.contains("invalid_grant"))
        );
        assert!(matches!(
            classify_oauth(StatusCode::BAD_GATEWAY, b""),
            ConnectorError::Transient(_)
        ));
    }
}
