//! TikTok's error object (`{"error":{"code","message","log_id"}}`, `code:"ok"` on success),
//! its OAuth errors and its `fail_reason` values, each mapped explicitly to `ConnectorError`.

use std::time::Duration;

use pressroom_connector::ConnectorError;
use reqwest::StatusCode;
use serde::Deserialize;

/// TikTok's rate limits are sliding one-minute windows.
const WINDOW: Duration = Duration::from_secs(60);
/// Daily caps (posts, pending inbox shares, active posters) are rolling 24 h windows.
const DAY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Default, Deserialize)]
pub struct TikTokError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub log_id: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Envelope<T> {
    pub data: Option<T>,
    #[serde(default)]
    pub error: TikTokError,
}

impl TikTokError {
    pub fn is_ok(&self) -> bool {
        self.code == "ok"
    }

    fn reason(&self) -> String {
        format!(
            "TikTok {}: {} (log_id {})",
            self.code, self.message, self.log_id
        )
    }
}

/// Maps an error object (any HTTP status) to the taxonomy.
pub fn classify(
    status: StatusCode,
    err: &TikTokError,
    retry_after: Option<Duration>,
) -> ConnectorError {
    let reason = err.reason();
    match err.code.as_str() {
        "access_token_invalid" => ConnectorError::AuthExpired,
        "scope_not_authorized" | "scope_permission_missed" => ConnectorError::Disconnected(reason),
        "rate_limit_exceeded" => ConnectorError::RateLimited {
            retry_after: Some(retry_after.unwrap_or(WINDOW)),
        },
        "spam_risk_too_many_posts"
        | "spam_risk_too_many_pending_share"
        | "reached_active_user_cap" => ConnectorError::RateLimited {
            retry_after: Some(retry_after.unwrap_or(DAY)),
        },
        "spam_risk_user_banned_from_posting" => ConnectorError::Disconnected(reason),
        "spam_risk_text"
        | "spam_risk"
        | "invalid_params"
        | "invalid_param"
        | "invalid_file_upload"
        | "unaudited_client_can_only_post_to_private_accounts"
        | "url_ownership_unverified"
        | "privacy_level_option_mismatch" => ConnectorError::Rejected(reason),
        "internal_error" => ConnectorError::transient(reason),
        _ => match status.as_u16() {
            401 => ConnectorError::AuthExpired,
            429 => ConnectorError::RateLimited {
                retry_after: Some(retry_after.unwrap_or(WINDOW)),
            },
            500..=599 => ConnectorError::transient(reason),
            _ => ConnectorError::Rejected(reason),
        },
    }
}

/// `{"error":"invalid_grant","error_description":"…","log_id":"…"}` from `/v2/oauth/token/`,
/// sometimes with HTTP 200 (sandbox apps on every refresh).
#[derive(Debug, Default, Deserialize)]
pub struct OAuthError {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: String,
    #[serde(default)]
    pub log_id: String,
}

pub fn classify_oauth(status: StatusCode, err: &OAuthError) -> ConnectorError {
    let reason = format!(
        "TikTok token refresh {}: {} (log_id {})",
        err.error, err.error_description, err.log_id
    );
    match (status.as_u16(), err.error.as_str()) {
        (429, _) => ConnectorError::RateLimited {
            retry_after: Some(WINDOW),
        },
        (500..=599, _) | (_, "server_error" | "temporarily_unavailable") => {
            ConnectorError::transient(reason)
        }
        // invalid_grant: refresh token expired, revoked or already rotated away; invalid_client,
        // unauthorized_client, invalid_scope...: a person must reconnect.
        _ => ConnectorError::Disconnected(reason),
    }
}

/// `fail_reason` of a FAILED publish: the post does not exist, so each maps to a final answer.
pub fn classify_fail_reason(reason: &str) -> ConnectorError {
    let msg = format!("TikTok publish failed: {reason}");
    match reason {
        // TikTok's own trouble: publishing again is safe (nothing was posted).
        "internal" => ConnectorError::transient(msg),
        "auth_removed" => ConnectorError::Disconnected(msg),
        "spam_risk_too_many_posts" | "spam_risk_too_many_pending_share" => {
            ConnectorError::RateLimited {
                retry_after: Some(DAY),
            }
        }
        "spam_risk_user_banned_from_posting" => ConnectorError::Disconnected(msg),
        // picture_size_check_failed, photo_pull_failed, file_format_check_failed, spam_risk_*,
        // publish_cancelled, privacy_level_not_authorized, and anything new.
        _ => ConnectorError::Rejected(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: &str) -> TikTokError {
        TikTokError {
            code: code.into(),
            message: "m".into(),
            log_id: "202611250000".into(),
        }
    }

    fn map(status: u16, code: &str) -> ConnectorError {
        classify(
            StatusCode::from_u16(status).expect("valid"),
            &err(code),
            None,
        )
    }

    #[test]
    fn every_documented_code() {
        assert!(matches!(
            map(401, "access_token_invalid"),
            ConnectorError::AuthExpired
        ));
        assert!(matches!(
            map(401, "scope_not_authorized"),
            ConnectorError::Disconnected(_)
        ));
        assert!(matches!(
            map(401, "scope_permission_missed"),
            ConnectorError::Disconnected(_)
        ));
        assert!(
            matches!(map(429, "rate_limit_exceeded"), ConnectorError::RateLimited { retry_after: Some(d) } if d == WINDOW)
        );
        for code in [
            "spam_risk_too_many_posts",
            "spam_risk_too_many_pending_share",
            "reached_active_user_cap",
        ] {
            assert!(
                matches!(map(403, code), ConnectorError::RateLimited { retry_after: Some(d) } if d == DAY),
                "{code}"
            );
        }
        assert!(matches!(
            map(403, "spam_risk_user_banned_from_posting"),
            ConnectorError::Disconnected(_)
        ));
        for code in [
            "spam_risk_text",
            "spam_risk",
            "invalid_params",
            "invalid_param",
            "invalid_file_upload",
            "unaudited_client_can_only_post_to_private_accounts",
            "url_ownership_unverified",
            "privacy_level_option_mismatch",
        ] {
            assert!(
                matches!(map(400, code), ConnectorError::Rejected(ref m) if m.contains(code)),
                "{code}"
            );
        }
        assert!(matches!(
            map(500, "internal_error"),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(
            map(503, "something_new"),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(
            map(401, "something_new"),
            ConnectorError::AuthExpired
        ));
        assert!(matches!(
            map(418, "something_new"),
            ConnectorError::Rejected(_)
        ));
    }

    #[test]
    fn retry_after_header_wins_when_present() {
        let e = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &err("rate_limit_exceeded"),
            Some(Duration::from_secs(120)),
        );
        assert!(
            matches!(e, ConnectorError::RateLimited { retry_after: Some(d) } if d.as_secs() == 120)
        );
    }

    #[test]
    fn oauth_and_fail_reasons() {
        let grant = OAuthError {
            error: "invalid_grant".into(),
            ..Default::default()
        };
        assert!(matches!(
            classify_oauth(StatusCode::OK, &grant),
            ConnectorError::Disconnected(_)
        ));
        assert!(matches!(
            classify_oauth(StatusCode::BAD_GATEWAY, &OAuthError::default()),
            ConnectorError::Transient(_)
        ));
        assert!(
            matches!(classify_fail_reason("picture_size_check_failed"), ConnectorError::Rejected(m) if m.contains("picture_size"))
        );
        assert!(matches!(
            classify_fail_reason("photo_pull_failed"),
            ConnectorError::Rejected(_)
        ));
        assert!(matches!(
            classify_fail_reason("internal"),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(
            classify_fail_reason("auth_removed"),
            ConnectorError::Disconnected(_)
        ));
    }
}
