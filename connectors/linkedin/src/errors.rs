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

/// How long to wait after a 429: LinkedIn's `Retry-After` if a proxy added one, else until
/// 00:00 UTC when the answer names a daily window, else the configured short backoff.
#[derive(Clone, Copy, Debug)]
pub struct Throttle {
    pub retry_after: Option<Duration>,
    /// `throttle_backoff_secs`: the wait for a 429 that names no daily window.
    pub short_backoff: Duration,
}

/// Maps a non-2xx `/rest` response to the taxonomy.
pub fn classify(
    status: StatusCode,
    throttle: Throttle,
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
        429 => rate_limited(throttle, err.message.as_deref().unwrap_or(""), body, now),
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
/// it may have reached LinkedIn during `Commit`, the outcome is unknown. The message names the
/// request by scheme, host and path only: the upload URL LinkedIn hands out is pre-signed, its
/// query carries the signature (under names no key-name filter would catch), and a token
/// or secret must never reach an error message, a log or the post's `last_error`.
pub fn transport(err: reqwest::Error, phase: Phase) -> ConnectorError {
    let target = err.url().map(shown_url);
    let err = err.without_url();
    let mut detail = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = std::error::Error::source(s);
    }
    let msg = match target {
        Some(url) => format!("LinkedIn request to {url} failed: {detail}"),
        None => format!("LinkedIn request failed: {detail}"),
    };
    if phase == Phase::Commit && !err.is_connect() && !err.is_builder() {
        ConnectorError::OutcomeUnknown(msg)
    } else {
        ConnectorError::transient(msg)
    }
}

/// A request URL fit for a message: no user info, query or fragment.
fn shown_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
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
pub fn classify_oauth(
    status: StatusCode,
    throttle: Throttle,
    body: &[u8],
    now: DateTime<Utc>,
) -> ConnectorError {
    let err: OAuthError = serde_json::from_slice(body).unwrap_or_default();
    let reason = format!(
        "LinkedIn token refresh {status} {}: {}",
        err.error,
        err.error_description.as_deref().unwrap_or("")
    );
    match (status.as_u16(), err.error.as_str()) {
        (429, _) => rate_limited(
            throttle,
            err.error_description.as_deref().unwrap_or(""),
            body,
            now,
        ),
        (500..=599, _) | (_, "temporarily_unavailable" | "server_error") => {
            ConnectorError::transient(reason)
        }
        // invalid_grant (expired/revoked refresh token), invalid_client, unauthorized_client...
        _ => ConnectorError::Disconnected(reason),
    }
}

/// A 429 as `RateLimited`, with the wait its kind calls for. LinkedIn sends no `Retry-After`
/// or rate headers (PLATFORMS.md §3.4), but its throttle message names the window that ran
/// out: "Resource level throttle APPLICATION DAY limit for calls to this resource is reached."
/// (also `MEMBER DAY`, `APPLICATION_AND_MEMBER DAY`). Only such a daily limit parks the attempt
/// until its reset at 00:00 UTC (§3.5); any other 429 (a short throttle, LinkedIn's
/// "infrastructure protection") backs off briefly. `RateLimited` carries no text, so the wait
/// is what tells the two apart; the log line names the kind and LinkedIn's words.
fn rate_limited(
    throttle: Throttle,
    message: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> ConnectorError {
    let daily = names_daily_limit(message)
        || (message.is_empty() && names_daily_limit(&String::from_utf8_lossy(body)));
    let wait = match (throttle.retry_after, daily) {
        (Some(named), _) => named,
        (None, true) => daily_quota_reset(now),
        (None, false) => throttle.short_backoff,
    };
    if daily {
        tracing::warn!(
            wait_secs = wait.as_secs(),
            linkedin = message,
            "LinkedIn daily limit reached; waiting for the 00:00 UTC reset."
        );
    } else {
        tracing::info!(
            wait_secs = wait.as_secs(),
            linkedin = message,
            "LinkedIn throttled a call (no daily limit named); backing off briefly."
        );
    }
    ConnectorError::RateLimited {
        retry_after: Some(wait),
    }
}

/// True when a LinkedIn throttle message names a daily window: the word `DAY`, upper case,
/// as LinkedIn writes its window names (`… MEMBER DAY limit …`).
pub fn names_daily_limit(message: &str) -> bool {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| word == "DAY")
}

/// LinkedIn refused a create because the post's image is not AVAILABLE yet (still processing
/// after the upload). Nothing was created, so the create may be sent again once the image is
/// ready; members cannot read the image's status, so this answer is how they learn it.
/// LinkedIn's exact wording is not documented: a 400/422 whose message points at the image
/// (its URN or `/content/media`) and calls it PROCESSING, WAITING_UPLOAD or not available.
/// PROCESSING_FAILED is not "not ready": that image will never be usable.
pub fn image_not_ready(status: StatusCode, body: &[u8], image: &str) -> Option<String> {
    if !matches!(status.as_u16(), 400 | 422) {
        return None;
    }
    let err: LinkedInError = serde_json::from_slice(body).ok()?;
    let msg = err.message.as_deref()?;
    let about_image = msg.contains(image)
        || msg.contains("/content/media")
        || msg.contains("/content/multiImage");
    let lower = msg.to_ascii_lowercase();
    let not_ready = (msg.contains("PROCESSING") && !msg.contains("PROCESSING_FAILED"))
        || msg.contains("WAITING_UPLOAD")
        || lower.contains("not available")
        || lower.contains("not ready");
    (about_image && not_ready).then(|| err.reason(status))
}

/// The wait until LinkedIn's daily quotas reset at 00:00 UTC (PLATFORMS.md §3.5).
pub fn daily_quota_reset(now: DateTime<Utc>) -> Duration {
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

    /// A transport failure on a URL carrying secrets (a pre-signed upload URL, a token in the
    /// query, user info) names the endpoint but none of them.
    #[tokio::test]
    async fn transport_errors_name_the_endpoint_without_its_secrets() {
        // A port nobody listens on: the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind")
            .port();
        let url = format!(
            "http://user:hunter2@127.0.0.1:{port}/dms-uploads/C4E?access_token=AQX-token&m=AQJ-signature&client_secret=sss#frag"
        );
        let err = reqwest::Client::new()
            .put(&url)
            .send()
            .await
            .expect_err("nothing listens there");
        assert!(
            err.to_string().contains("AQX-token"),
            "reqwest itself shows the URL: {err}"
        );
        for phase in [Phase::Safe, Phase::Commit] {
            let err = reqwest::Client::new()
                .put(&url)
                .send()
                .await
                .expect_err("nothing listens there");
            let msg = transport(err, phase).to_string();
            assert!(
                msg.contains(&format!("127.0.0.1:{port}/dms-uploads/C4E")),
                "{msg}"
            );
            for secret in ["AQX-token", "AQJ-signature", "sss", "hunter2", "frag", "?"] {
                assert!(!msg.contains(secret), "{secret:?} leaked: {msg}");
            }
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 22, 0, 0)
            .single()
            .expect("valid")
    }

    const SHORT: Throttle = Throttle {
        retry_after: None,
        short_backoff: Duration::from_secs(60),
    };

    fn map(status: u16, body: &str, phase: Phase) -> ConnectorError {
        let status = StatusCode::from_u16(status).expect("valid");
        classify(status, SHORT, body.as_bytes(), phase, now())
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

    fn wait(e: &ConnectorError) -> Option<u64> {
        match e {
            ConnectorError::RateLimited {
                retry_after: Some(d),
            } => Some(d.as_secs()),
            _ => None,
        }
    }

    #[test]
    fn a_daily_limit_waits_until_midnight_utc() {
        for who in ["APPLICATION", "MEMBER", "APPLICATION_AND_MEMBER"] {
            let body = format!(
                r#"{{"status":429,"serviceErrorCode":101,"code":"TOO_MANY_REQUESTS","message":"Resource level throttle {who} DAY limit for calls to this resource is reached."}}"#
            );
            // 22:00 UTC: two hours to the reset.
            assert_eq!(
                wait(&map(429, &body, Phase::Commit)),
                Some(2 * 3600),
                "{who}"
            );
        }
    }

    #[test]
    fn a_short_throttle_backs_off_briefly() {
        for body in [
            r#"{"status":429,"serviceErrorCode":101,"code":"TOO_MANY_REQUESTS","message":"Too many requests"}"#,
            r#"{"status":429,"message":"Resource level throttle limit for calls to this resource is reached."}"#,
            "{}",
            "",
            // "day" in prose is not LinkedIn's window name.
            r#"{"status":429,"message":"Too many requests today, slow down"}"#,
        ] {
            assert_eq!(wait(&map(429, body, Phase::Safe)), Some(60), "{body}");
        }
    }

    #[test]
    fn a_named_retry_after_wins() {
        let named = Throttle {
            retry_after: Some(Duration::from_secs(42)),
            short_backoff: Duration::from_secs(60),
        };
        let daily = br#"{"status":429,"message":"Resource level throttle MEMBER DAY limit for calls to this resource is reached."}"#;
        let e = classify(
            StatusCode::TOO_MANY_REQUESTS,
            named,
            daily,
            Phase::Commit,
            now(),
        );
        assert_eq!(wait(&e), Some(42));
    }

    #[test]
    fn image_not_ready_is_told_apart_from_other_refusals() {
        let image = "urn:li:image:C4E10AQ1";
        let processing = br#"{"status":422,"message":"ERROR :: /content/media/id :: urn:li:image:C4E10AQ1 is not AVAILABLE (status PROCESSING)"}"#;
        let s422 = StatusCode::UNPROCESSABLE_ENTITY;
        assert!(image_not_ready(s422, processing, image).is_some());
        let waiting =
            br#"{"status":400,"message":"Media urn:li:image:C4E10AQ1 is in WAITING_UPLOAD"}"#;
        assert!(image_not_ready(StatusCode::BAD_REQUEST, waiting, image).is_some());
        let failed = br#"{"status":422,"message":"ERROR :: /content/media/id :: urn:li:image:C4E10AQ1 is PROCESSING_FAILED"}"#;
        assert!(image_not_ready(s422, failed, image).is_none());
        let duplicate = br#"{"status":422,"message":"ERROR :: /commentary :: Content is a duplicate of urn:li:share:1"}"#;
        assert!(image_not_ready(s422, duplicate, image).is_none());
        // The same words on another status are not this refusal.
        assert!(image_not_ready(StatusCode::INTERNAL_SERVER_ERROR, processing, image).is_none());
        assert!(image_not_ready(s422, b"not json", image).is_none());
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
            classify_oauth(StatusCode::BAD_REQUEST, SHORT, grant, now()),
            ConnectorError::Disconnected(_)
        ));
        assert!(matches!(
            classify_oauth(StatusCode::BAD_GATEWAY, SHORT, b"", now()),
            ConnectorError::Transient(_)
        ));
        assert_eq!(
            wait(&classify_oauth(
                StatusCode::TOO_MANY_REQUESTS,
                SHORT,
                b"",
                now()
            )),
            Some(60)
        );
        let daily = br#"{"status":429,"message":"Resource level throttle APPLICATION DAY limit for calls to this resource is reached."}"#;
        assert_eq!(
            wait(&classify_oauth(
                StatusCode::TOO_MANY_REQUESTS,
                SHORT,
                daily,
                now()
            )),
            Some(2 * 3600)
        );
    }
}
