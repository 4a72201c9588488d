//! Graph API error bodies and their mapping onto the connector taxonomy. The body and the
//! mapping are the same on Facebook and Instagram; the code table is not, so each connector
//! passes its own `classify_code` to [`map_error`].

use std::time::Duration;

use pressroom_connector::ConnectorError;
use serde::{Deserialize, Serialize};

/// `{"error": {...}}` as the Graph API sends it. Serializable too, so the fakes answer with the
/// very shape the connectors parse (absent fields stay absent).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GraphError {
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub code: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_subcode: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_transient: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_user_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_user_msg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

    /// The platform's reason, as shown to the user: raw message, codes, then the user-facing
    /// text when Meta sends one.
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
    /// A definite "not done, try again": retry with backoff.
    Transient,
    /// Meta's generic "something went wrong" (codes 1, 2, server errors): retry a read, but a
    /// create may have happened anyway, so it is reconciled first.
    Ambiguous,
    /// Throttled (on Instagram also: over the 24 h publishing quota); wait for the time Meta
    /// names (BUC header) or the fallback.
    Throttled,
    /// Token expired or invalidated in a way a re-derived token can fix.
    AuthExpired,
    /// A person must reconnect (password change, permissions removed, PPA, checkpoint).
    Disconnected,
    /// Permanent for this content.
    Rejected,
}

/// A platform's code table: `(code, error_subcode, is_transient)` → [`Class`].
pub type Classify = fn(i64, Option<i64>, Option<bool>) -> Class;

/// Maps a non-2xx answer to the taxonomy, with the platform's code table `classify`.
///
/// `throttle_wait` is what the usage headers say (BUC `estimated_time_to_regain_access`);
/// `fallback_wait` applies to throttling without a named time. `irreversible` marks the
/// publish call, where only a definite refusal may be retried: a 5xx that is not a Graph error
/// may come from a proxy after Meta accepted the post, and a Graph error the table calls
/// [`Class::Ambiguous`] (the generic codes 1 and 2) is reported to leave the post created
/// anyway (PLATFORMS.md §6.7). Both are "outcome unknown" there, to be reconciled before
/// anything is sent again, and plain transient elsewhere. Throttles, auth and permission
/// errors, documented "not ready, retry" answers and rejections are definite.
pub fn map_error(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    throttle_wait: Option<Duration>,
    fallback_wait: Duration,
    irreversible: bool,
    classify: Classify,
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
    match classify(err.code, err.error_subcode, err.is_transient) {
        Class::Ambiguous if irreversible => ConnectorError::OutcomeUnknown(format!(
            "{reason}; Meta may have created the post anyway, so it is looked up before any retry"
        )),
        Class::Transient | Class::Ambiguous => ConnectorError::transient(reason),
        Class::Throttled => ConnectorError::RateLimited {
            retry_after: throttle_wait.or(retry_after).or(Some(fallback_wait)),
        },
        Class::AuthExpired => ConnectorError::AuthExpired,
        Class::Disconnected => ConnectorError::Disconnected(reason),
        Class::Rejected => ConnectorError::Rejected(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table that only knows code 4 (throttled) and 190 (auth), to test the mapping alone.
    fn table(code: i64, _sub: Option<i64>, transient: Option<bool>) -> Class {
        match code {
            4 => Class::Throttled,
            190 => Class::AuthExpired,
            10 => Class::Disconnected,
            2 => Class::Ambiguous,
            _ if transient == Some(true) => Class::Transient,
            _ => Class::Rejected,
        }
    }

    fn map(status: u16, body: &[u8], irreversible: bool) -> ConnectorError {
        map_error(
            status,
            body,
            Some(Duration::from_secs(5)),
            None,
            Duration::from_secs(60),
            irreversible,
            table,
        )
    }

    #[test]
    fn body_round_trips_and_reason_reads_well() {
        let err = GraphError {
            message: "(#100) Invalid parameter".into(),
            kind: "OAuthException".into(),
            code: 100,
            error_subcode: Some(33),
            error_user_msg: Some("Try another photo".into()),
            ..Default::default()
        };
        let body = serde_json::json!({ "error": err }).to_string();
        assert!(
            !body.contains("is_transient"),
            "absent fields stay absent: {body}"
        );
        assert_eq!(GraphError::parse(body.as_bytes()), Some(err.clone()));
        assert_eq!(
            err.reason(),
            "(#100) Invalid parameter (code 100/33): Try another photo"
        );
        assert_eq!(GraphError::parse(b"<html>bad gateway</html>"), None);
    }

    #[test]
    fn uses_the_platform_table_and_the_status_without_a_graph_body() {
        let body = |code: i64| format!(r#"{{"error":{{"message":"m","code":{code}}}}}"#);
        assert!(matches!(
            map(400, body(4).as_bytes(), false),
            ConnectorError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(5)
        ));
        assert!(matches!(
            map(400, body(190).as_bytes(), true),
            ConnectorError::AuthExpired
        ));
        assert!(matches!(
            map(400, body(10).as_bytes(), true),
            ConnectorError::Disconnected(_)
        ));
        assert!(matches!(
            map(400, body(1).as_bytes(), true),
            ConnectorError::Rejected(_)
        ));
        let generic = br#"{"error":{"message":"An unexpected error has occurred","code":2}}"#;
        assert!(matches!(
            map(500, generic, true),
            ConnectorError::OutcomeUnknown(_)
        ));
        assert!(matches!(
            map(500, generic, false),
            ConnectorError::Transient(_)
        ));
        // A documented "not done, retry" stays a definite retry even on the publish call.
        let not_ready = br#"{"error":{"message":"Media not ready","code":7,"is_transient":true}}"#;
        assert!(matches!(
            map(400, not_ready, true),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(
            map(502, b"gateway", true),
            ConnectorError::OutcomeUnknown(_)
        ));
        assert!(matches!(
            map(502, b"gateway", false),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(map(401, b"", false), ConnectorError::AuthExpired));
        assert!(matches!(map(404, b"", false), ConnectorError::Rejected(_)));
    }
}
