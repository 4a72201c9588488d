//! HTTP defaults every connector shares: one way to build a client (timeouts, user agent, no
//! redirects to foreign hosts) and one way to read `Retry-After`, so platform quirks stay in the
//! connector and transport policy stays here.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::ConnectorError;

/// User agent sent to platforms; some (LinkedIn, Meta) ask integrators to identify themselves.
pub const USER_AGENT: &str = concat!("pressroom/", env!("CARGO_PKG_VERSION"));

/// Timeouts for platform calls. The request timeout bounds the irreversible call too, so a
/// hung publish turns into `OutcomeUnknown` (and a reconcile) instead of a stuck worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpTimeouts {
    pub connect: Duration,
    pub request: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
        }
    }
}

/// Errors building the shared client (bad TLS backend set-up); not a platform error.
#[derive(Debug, thiserror::Error)]
#[error("cannot build HTTP client: {0}")]
pub struct ClientBuildError(#[from] reqwest::Error);

/// A reqwest client with our timeouts and user agent. Redirects are not followed: platform APIs
/// do not redirect API calls, and following one could leak a bearer token to another host.
pub fn client(timeouts: HttpTimeouts) -> Result<reqwest::Client, ClientBuildError> {
    Ok(reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// Reads `Retry-After` (delta-seconds or an HTTP date) relative to `now`. A date in the past
/// means "now" (zero); an unparseable value is ignored rather than guessed.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    parse_retry_after(raw, now)
}

/// Parses one `Retry-After` value; see [`retry_after`].
pub fn parse_retry_after(raw: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = DateTime::parse_from_rfc2822(raw).ok()?.with_timezone(&Utc);
    Some((when - now).to_std().unwrap_or(Duration::ZERO))
}

/// Classifies a transport failure (no HTTP response). `after_send` is true for the irreversible
/// call: once the request may have left, a timeout or reset means the platform may have acted,
/// so only a failure to connect is safely transient.
pub fn classify_send_error(err: reqwest::Error, irreversible: bool) -> ConnectorError {
    // Some platforms take tokens in the query string; never let the URL reach an error message.
    let err = err.without_url();
    if irreversible && !err.is_connect() && !err.is_builder() {
        return ConnectorError::OutcomeUnknown(format!("no answer to the publish call: {err}"));
    }
    ConnectorError::transient(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
            .single()
            .expect("valid date")
    }

    #[test]
    fn delta_seconds() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
    }

    #[test]
    fn http_date_in_future() {
        let d = parse_retry_after("Wed, 25 Nov 2026 08:01:30 GMT", now());
        assert_eq!(d, Some(Duration::from_secs(90)));
    }

    #[test]
    fn http_date_in_past_is_zero() {
        let d = parse_retry_after("Wed, 25 Nov 2026 07:00:00 GMT", now());
        assert_eq!(d, Some(Duration::ZERO));
    }

    #[test]
    fn garbage_is_ignored() {
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-5", now()), None);
    }

    #[test]
    fn header_map() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, reqwest::header::HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&HeaderMap::new(), now()), None);
    }
}
