//! The receiver's HTTP answer mapped to `ConnectorError`. Receivers are ours to define, so the
//! mapping follows HTTP semantics and Standard Webhooks (410 Gone = stop sending).

use std::time::Duration;

use pressroom_connector::ConnectorError;
use reqwest::StatusCode;

/// Maps a non-2xx answer. Deliveries carry a stable `webhook-id` the receiver dedupes on, so a
/// refusal with 5xx is safe to send again.
pub fn classify(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> ConnectorError {
    let reason = format!("webhook receiver answered {status}: {}", reason(body));
    match status.as_u16() {
        // The receiver refuses our signature or the account's token: a person must fix the
        // secret or the connection.
        401 | 403 => ConnectorError::Disconnected(reason),
        // Standard Webhooks: 410 means the endpoint is gone; stop delivering to it.
        410 => ConnectorError::Disconnected(reason),
        408 => ConnectorError::transient(reason),
        429 => ConnectorError::RateLimited { retry_after },
        500..=599 => ConnectorError::transient(reason),
        _ => ConnectorError::Rejected(reason),
    }
}

/// The receiver's reason: `error`, `message`, `reason` or `detail` of a JSON body, else the
/// text (cut to 500 characters).
pub fn reason(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        for key in ["error", "message", "reason", "detail"] {
            if let Some(s) = v.get(key).and_then(|x| x.as_str()) {
                return s.to_owned();
            }
        }
    }
    String::from_utf8_lossy(body).chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, body: &str) -> ConnectorError {
        classify(
            StatusCode::from_u16(status).expect("valid"),
            Some(Duration::from_secs(30)),
            body.as_bytes(),
        )
    }

    #[test]
    fn statuses() {
        assert!(
            matches!(map(401, "bad signature"), ConnectorError::Disconnected(m) if m.contains("bad signature"))
        );
        assert!(matches!(map(403, ""), ConnectorError::Disconnected(_)));
        assert!(matches!(map(410, ""), ConnectorError::Disconnected(_)));
        assert!(matches!(map(408, ""), ConnectorError::Transient(_)));
        assert!(
            matches!(map(429, ""), ConnectorError::RateLimited { retry_after: Some(d) } if d.as_secs() == 30)
        );
        assert!(matches!(map(502, ""), ConnectorError::Transient(_)));
        assert!(
            matches!(map(422, r#"{"error":"caption too long for Mastodon"}"#), ConnectorError::Rejected(m) if m.contains("Mastodon"))
        );
        assert!(
            matches!(map(400, r#"{"detail":"x"}"#), ConnectorError::Rejected(m) if m.ends_with(": x"))
        );
    }
}
