//! Instagram Graph error bodies and their classification (PLATFORMS.md §2.3 plus the shared
//! Graph codes of §1.3). Subcodes decide first where Instagram uses them to say more.

use std::time::Duration;

use pressroom_connector::ConnectorError;
use serde::Deserialize;

/// `{"error": {...}}`; Instagram adds `is_transient`.
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
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Envelope>(body)
            .ok()
            .map(|e| e.error)
    }

    /// The platform's reason: raw message, codes, then the user-facing text.
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Transient,
    /// Throttled or over the 24 h publishing quota.
    Throttled,
    AuthExpired,
    Disconnected,
    Rejected,
}

/// The classification table.
pub fn classify_code(code: i64, subcode: Option<i64>, is_transient: Option<bool>) -> Class {
    match subcode {
        // Download timed out, server error, container creation failed, unknown upload error,
        // media not ready yet (9007), "retry" per Postiz.
        Some(2207003 | 2207001 | 2207032 | 2207053 | 2207027 | 2207082) => return Class::Transient,
        // Daily publishing limit.
        Some(2207042) => return Class::Throttled,
        // Spam restriction, too large, format, aspect ratio, caption too long, fetch failed,
        // container expired (needs a new container: never automatically from commit).
        Some(2207051 | 2207004 | 2207005 | 2207009 | 2207010 | 2207052 | 2207020) => {
            return Class::Rejected;
        }
        // Account restricted; Page Publishing Authorization: a person must act.
        Some(2207050 | 1404078) => return Class::Disconnected,
        // "Session has been invalidated" (Postiz maps it to re-auth).
        Some(33) if code == 190 || code == 102 => return Class::AuthExpired,
        _ => {}
    }
    match code {
        190 | 102 => match subcode {
            Some(458 | 459 | 460 | 464) => Class::Disconnected,
            _ => Class::AuthExpired,
        },
        -1 | -2 | 1 | 2 | 9007 => Class::Transient,
        4 | 9 | 17 | 32 | 341 | 613 | 80000..=80009 | 80014 => Class::Throttled,
        10 | 200..=299 => Class::Disconnected,
        100 | 368 | 506 | 9004 | 36000 | 36001 | 36003 => Class::Rejected,
        _ if is_transient == Some(true) => Class::Transient,
        _ => Class::Rejected,
    }
}

/// Maps a non-2xx answer. `throttle_wait` is the BUC header's estimate; `fallback_wait` applies
/// to throttling without one; `irreversible` marks `media_publish`.
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
