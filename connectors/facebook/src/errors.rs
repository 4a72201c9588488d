//! Graph API error bodies and their classification. Every code we know is listed explicitly
//! (PLATFORMS.md §1.3); an unknown code falls back on the HTTP status.

use std::time::Duration;

use pressroom_connector::ConnectorError;
use serde::Deserialize;

/// `{"error": {...}}` as the Graph API sends it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct GraphError {
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub error_subcode: Option<i64>,
    #[serde(default)]
    pub is_transient: Option<bool>,
    #[serde(default)]
    pub error_user_title: Option<String>,
    #[serde(default)]
    pub error_user_msg: Option<String>,
    #[serde(default)]
    pub fbtrace_id: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    error: GraphError,
}

impl GraphError {
    /// Parses an error body; `None` when the body is not a Graph error (a proxy's HTML page).
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Envelope>(body)
            .ok()
            .map(|e| e.error)
    }

    /// The platform's reason, as shown to the user: user message first, then the raw message.
    pub fn reason(&self) -> String {
        let sub = self
            .error_subcode
            .map(|s| format!("/{s}"))
            .unwrap_or_default();
        match &self.error_user_msg {
            Some(user) if !user.is_empty() => {
                format!("{} (code {}{sub}): {user}", self.message, self.code)
            }
            _ => format!("{} (code {}{sub})", self.message, self.code),
        }
    }
}

/// What one error means for us, before a retry time is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Retry with backoff.
    Transient,
    /// Throttled; wait for the time Meta names (BUC header) or the fallback.
    Throttled,
    /// Token expired or invalidated in a way a re-derived token can fix.
    AuthExpired,
    /// A person must reconnect (password change, permissions removed, PPA, checkpoint).
    Disconnected,
    /// Permanent for this content.
    Rejected,
}

/// The classification table. Subcodes win over codes where Meta uses them to say more.
pub fn classify_code(code: i64, subcode: Option<i64>, is_transient: Option<bool>) -> Class {
    match subcode {
        // Page Publishing Authorization required; identity confirmation: a person must act.
        Some(1404078) | Some(4854002) => return Class::Disconnected,
        // Service temporarily unavailable.
        Some(1363047) | Some(1609010) => return Class::Transient,
        // Posting too fast.
        Some(1390008) => return Class::Throttled,
        // Photo too big / wrong format, flagged abusive, already posted, invalid file.
        Some(1366046) | Some(1346003) | Some(1366051) | Some(2069019) => return Class::Rejected,
        _ => {}
    }
    match code {
        190 | 102 => match subcode {
            // App removed, user checkpointed, password changed, unconfirmed user.
            Some(458) | Some(459) | Some(460) | Some(464) => Class::Disconnected,
            // Expired (463), invalid (467), invalid session (492), or unspecified.
            _ => Class::AuthExpired,
        },
        1 | 2 => Class::Transient,
        4 | 17 | 32 | 341 | 613 => Class::Throttled,
        80000..=80009 | 80014 => Class::Throttled,
        10 | 200..=299 => Class::Disconnected,
        // 100 invalid parameter, 368 policy block (must not auto-retry), 506 duplicate post.
        100 | 368 | 506 => Class::Rejected,
        _ if is_transient == Some(true) => Class::Transient,
        _ => Class::Rejected,
    }
}

/// Maps a non-2xx answer to the taxonomy.
///
/// `throttle_wait` is what the usage headers say (BUC `estimated_time_to_regain_access`);
/// `fallback_wait` applies to throttling without a named time. `irreversible` marks the
/// publish call: a 5xx that is not a Graph error may come from a proxy after Meta accepted the
/// post, so it is "outcome unknown" there, and plain transient elsewhere.
pub fn map_error(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    throttle_wait: Option<Duration>,
    fallback_wait: Duration,
    irreversible: bool,
) -> ConnectorError {
    let Some(err) = GraphError::parse(body) else {
        return match status {
            429 => ConnectorError::RateLimited {
                retry_after: retry_after.or(Some(fallback_wait)),
            },
            500..=599 if irreversible => {
                ConnectorError::OutcomeUnknown(format!("HTTP {status} without a Graph error body"))
            }
            500..=599 | 408 => ConnectorError::transient(format!("HTTP {status}")),
            401 | 403 => ConnectorError::AuthExpired,
            _ => ConnectorError::Rejected(format!("HTTP {status}")),
        };
    };
    let reason = err.reason();
    match classify_code(err.code, err.error_subcode, err.is_transient) {
        Class::Transient => ConnectorError::transient(reason),
        Class::Throttled => ConnectorError::RateLimited {
            retry_after: throttle_wait.or(retry_after).or(Some(fallback_wait)),
        },
        Class::AuthExpired => ConnectorError::AuthExpired,
        Class::Disconnected => ConnectorError::Disconnected(reason),
        Class::Rejected => ConnectorError::Rejected(reason),
    }
}

#[cfg(test)]
mod tests;
