//! LinkedIn's error bodies and status codes mapped, one by one, onto the runtime's
//! `ConnectorError`. LinkedIn's numeric↔string pairing differs between fixtures (65600 is
//! paired with EXPIRED in one), so the `code` string decides first and the status second.

use std::time::Duration;

use chrono::{DateTime, Days, Utc};
use pressroom_connector::ConnectorError;
use reqwest::StatusCode;
use serde::Deserialize;

/// Which side of the irreversible call a request is on. A failure that may have reached
/// LinkedIn's post store is "outcome unknown" only during `Commit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reads, uploads, token calls: safe to repeat.
    Safe,
    /// `POST /rest/posts`: no idempotency key, so never repeated blindly.
    Commit,
}

/// `{"status":401,"serviceErrorCode":65601,"code":"REVOKED_ACCESS_TOKEN","message":"…"}`
#[derive(Debug, Default, Deserialize)]
pub struct LinkedInError {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default, rename = "serviceErrorCode")]
    pub service_error_code: Option<i64>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

impl LinkedInError {
    fn reason(&self, status: StatusCode) -> String {
        let msg = self.message.as_deref().unwrap_or("no message");
        match (&self.code, self.service_error_code) {
            (Some(code), Some(n)) => format!("LinkedIn {status} {code} ({n}): {msg}"),
            (Some(code), None) => format!("LinkedIn {status} {code}: {msg}"),
            (None, Some(n)) => format!("LinkedIn {status} ({n}): {msg}"),
            (None, None) => format!("LinkedIn {status}: {msg}"),
        }
    }
}

/// Maps a non-2xx `/rest` response to the taxonomy.
pub fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    phase: Phase,
    now: DateTime<Utc>,
) -> ConnectorError {
    let err: LinkedInError = serde_json::from_slice(body).unwrap_or_default();
    let reason = err.reason(status);
    match err.code.as_deref() {
        // The member withdrew the app's access: refreshing will not bring it back.
        Some("REVOKED_ACCESS_TOKEN") => return ConnectorError::Disconnected(reason),
        Some("EXPIRED_ACCESS_TOKEN" | "INVALID_ACCESS_TOKEN") => {
            return ConnectorError::AuthExpired;
        }
        Some("ACCESS_DENIED") => return ConnectorError::Disconnected(reason),
        _ => {}
    }
    match err.service_error_code {
        Some(65601) if status == StatusCode::UNAUTHORIZED => {
            return ConnectorError::Disconnected(reason);
        }
        Some(65600 | 65602) => return ConnectorError::AuthExpired,
        _ => {}
    }
    match status.as_u16() {
        // Any other 401: refresh once; if the refresh fails the account is disconnected.
        401 => ConnectorError::AuthExpired,
        // Missing scope or not an admin of the organization: a person must reconnect.
        403 => ConnectorError::Disconnected(reason),
        // A sunset LinkedIn-Version: configuration, not content, but equally permanent.
        426 => ConnectorError::Rejected(format!(
            "{reason}; the configured linkedin_version is no longer served"
        )),
        // LinkedIn sends no Retry-After (honoured should a proxy add one); its daily quotas
        // reset at 00:00 UTC.
        429 => ConnectorError::RateLimited {
            retry_after: Some(retry_after.unwrap_or_else(|| rate_limit_default(now))),
        },
        500..=599 => match phase {
            Phase::Safe => ConnectorError::transient(reason),
            Phase::Commit => ConnectorError::OutcomeUnknown(format!(
                "{reason}; LinkedIn may still have created the post"
            )),
        },
        _ => ConnectorError::Rejected(reason),
    }
}

/// Maps a transport failure (no HTTP status): before the request left, it is transient; once
/// it may have reached LinkedIn during `Commit`, the outcome is unknown.
pub fn transport(err: &reqwest::Error, phase: Phase) -> ConnectorError {
    let msg = format!("LinkedIn request failed: {err}");
    if phase == Phase::Commit && !err.is_connect() && !err.is_builder() {
        ConnectorError::OutcomeUnknown(msg)
    } else {
        ConnectorError::transient(msg)
    }
}

/// `{"error":"invalid_grant","error_description":"…"}` from `/oauth/v2/accessToken`.
#[derive(Debug, Default, Deserialize)]
pub struct OAuthError {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// Maps a failed refresh. A refused grant means the member must connect again.
pub fn classify_oauth(status: StatusCode, body: &[u8], now: DateTime<Utc>) -> ConnectorError {
    let err: OAuthError = serde_json::from_slice(body).unwrap_or_default();
    let reason = format!(
        "LinkedIn token refresh {status} {}: {}",
        err.error,
        err.error_description.as_deref().unwrap_or("")
    );
    match (status.as_u16(), err.error.as_str()) {
        (429, _) => ConnectorError::RateLimited {
            retry_after: Some(rate_limit_default(now)),
        },
        (500..=599, _) | (_, "temporarily_unavailable" | "server_error") => {
            ConnectorError::transient(reason)
        }
        // invalid_grant (expired/revoked refresh token), invalid_client, unauthorized_client...
        _ => ConnectorError::Disconnected(reason),
    }
}

/// The wait after a 429, which LinkedIn sends without `Retry-After` or rate headers
/// (PLATFORMS.md §3.4): its limits are daily and reset at 00:00 UTC, so until then.
pub fn rate_limit_default(now: DateTime<Utc>) -> Duration {
    let next = now
        .date_naive()
        .checked_add_days(Days::new(1))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc());
    next.and_then(|n| (n - now).to_std().ok())
        .unwrap_or(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 22, 0, 0)
            .single()
            .expect("valid")
    }

    fn map(status: u16, body: &str, phase: Phase) -> ConnectorError {
        let status = StatusCode::from_u16(status).expect("valid");
        classify(status, None, body.as_bytes(), phase, now())
    }

    #[test]
    fn token_errors() {
        let expired = r#"{"status":401,"serviceErrorCode":65602,"code":"EXPIRED_ACCESS_TOKEN","message":"The token used in the request has expired"}"#;
        assert!(matches!(
            map(401, expired, Phase::Safe),
            ConnectorError::AuthExpired
        ));
        let invalid = r#"{"status":401,"serviceErrorCode":65600,"code":"INVALID_ACCESS_TOKEN","message":"Invalid access token"}"#;
        assert!(matches!(
            map(401, invalid, Phase::Commit),
            ConnectorError::AuthExpired
        ));
        // One fixture pairs 65600 with EXPIRED: the string wins, both mean "refresh".
        let odd = r#"{"status":401,"serviceErrorCode":65600,"code":"EXPIRED_ACCESS_TOKEN","message":"x"}"#;
        assert!(matches!(
            map(401, odd, Phase::Safe),
            ConnectorError::AuthExpired
        ));
        let revoked = r#"{"status":401,"serviceErrorCode":65601,"code":"REVOKED_ACCESS_TOKEN","message":"The token used in the request has been revoked by the user"}"#;
        assert!(
            matches!(map(401, revoked, Phase::Safe), ConnectorError::Disconnected(m) if m.contains("revoked"))
        );
        // Minimal body without the string code.
        let minimal = r#"{"message":"revoked","serviceErrorCode":65601,"status":401}"#;
        assert!(matches!(
            map(401, minimal, Phase::Safe),
            ConnectorError::Disconnected(_)
        ));
        assert!(matches!(
            map(401, "", Phase::Safe),
            ConnectorError::AuthExpired
        ));
    }

    #[test]
    fn permission_validation_and_version() {
        let denied = r#"{"status":403,"code":"ACCESS_DENIED","message":"Not enough permissions to access: partnerApiPostsExternal.CREATE.20260101"}"#;
        assert!(
            matches!(map(403, denied, Phase::Commit), ConnectorError::Disconnected(m) if m.contains("ACCESS_DENIED"))
        );
        let bad = r#"{"status":422,"message":"ERROR :: /commentary :: length exceeds 3000"}"#;
        assert!(
            matches!(map(422, bad, Phase::Commit), ConnectorError::Rejected(m) if m.contains("3000"))
        );
        assert!(matches!(
            map(
                400,
                r#"{"status":400,"message":"Invalid URN"}"#,
                Phase::Safe
            ),
            ConnectorError::Rejected(_)
        ));
        assert!(
            matches!(map(426, r#"{"status":426,"code":"NONEXISTENT_VERSION","message":"Requested version 202301 is not active"}"#, Phase::Safe), ConnectorError::Rejected(m) if m.contains("linkedin_version"))
        );
    }

    #[test]
    fn throttling_waits_for_the_header_or_midnight_utc() {
        let status = StatusCode::TOO_MANY_REQUESTS;
        let e = classify(
            status,
            Some(Duration::from_secs(42)),
            b"{}",
            Phase::Commit,
            now(),
        );
        assert!(
            matches!(e, ConnectorError::RateLimited { retry_after: Some(d) } if d.as_secs() == 42)
        );
        let e = classify(status, None, b"{}", Phase::Commit, now());
        assert!(
            matches!(e, ConnectorError::RateLimited { retry_after: Some(d) } if d.as_secs() == 2 * 3600)
        );
    }

    #[test]
    fn server_errors_depend_on_the_phase() {
        assert!(matches!(
            map(503, "Service Unavailable", Phase::Safe),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(
            map(500, "{}", Phase::Commit),
            ConnectorError::OutcomeUnknown(_)
        ));
    }

    #[test]
    fn refresh_failures() {
        let grant = br#"{"error":"invalid_grant","error_description":"The provided authorization grant or refresh token is invalid, expired or revoked"}"#;
        assert!(matches!(
            classify_oauth(StatusCode::BAD_REQUEST, grant, now()),
            ConnectorError::Disconnected(_)
        ));
        assert!(matches!(
            classify_oauth(StatusCode::BAD_GATEWAY, b"", now()),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(
            classify_oauth(StatusCode::TOO_MANY_REQUESTS, b"", now()),
            ConnectorError::RateLimited { retry_after: Some(d) } if d.as_secs() == 2 * 3600
        ));
    }
}
