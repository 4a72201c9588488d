//! The receiver's HTTP answer mapped to `ConnectorError`. Receivers are ours to define, so the
//! mapping follows HTTP semantics and Standard Webhooks (410 Gone = stop sending).

use std::time::Duration;

use pressroom_connector::ConnectorError;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};

/// Maps a non-2xx answer. Deliveries carry a stable `webhook-id` the receiver dedupes on, so a
/// refusal with 5xx is safe to send again. `token_expired`: the receiver said the bearer token
/// expired (RFC 6750 `invalid_token`) and a token endpoint can renew it.
pub fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    token_expired: bool,
) -> ConnectorError {
    let reason = format!("webhook receiver answered {status}: {}", reason(body));
    match status.as_u16() {
        401 if token_expired => ConnectorError::AuthExpired,
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

/// RFC 6750 §3.1: `WWW-Authenticate: Bearer error="invalid_token"` says the access token is
/// expired (or revoked or malformed); a bad signature carries no such challenge.
pub fn bearer_token_invalid(headers: &HeaderMap) -> bool {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.trim_start().to_ascii_lowercase().starts_with("bearer")
                && v.replace(' ', "").contains("error=\"invalid_token\"")
        })
}

/// Token endpoint answers (RFC 6749 §5.2): `invalid_grant` and other 4xx need a person.
pub fn classify_token(status: StatusCode, body: &[u8]) -> ConnectorError {
    let reason = format!("webhook token endpoint answered {status}: {}", reason(body));
    match status.as_u16() {
        429 => ConnectorError::RateLimited { retry_after: None },
        408 | 500..=599 => ConnectorError::transient(reason),
        _ => ConnectorError::Disconnected(reason),
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
            false,
        )
    }

    #[test]
    fn an_expired_bearer_token_is_auth_expired_only_when_renewable() {
        let mut h = HeaderMap::new();
        h.insert(
            WWW_AUTHENTICATE,
            r#"Bearer realm="hooks", error="invalid_token", error_description="expired""#
                .parse()
                .expect("header"),
        );
        assert!(bearer_token_invalid(&h));
        assert!(!bearer_token_invalid(&HeaderMap::new()));
        let e = classify(StatusCode::UNAUTHORIZED, None, b"", true);
        assert!(matches!(e, ConnectorError::AuthExpired), "{e:?}");
        let e = classify(StatusCode::UNAUTHORIZED, None, b"", false);
        assert!(matches!(e, ConnectorError::Disconnected(_)), "{e:?}");
        assert!(matches!(
            classify_token(StatusCode::BAD_REQUEST, br#"{"error":"invalid_grant"}"#),
            ConnectorError::Disconnected(m) if m.contains("invalid_grant")
        ));
        assert!(matches!(
            classify_token(StatusCode::BAD_GATEWAY, b""),
            ConnectorError::Transient(_)
        ));
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
