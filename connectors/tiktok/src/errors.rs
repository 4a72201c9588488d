//! TikTok's error object (`{"error":{"code","message","log_id"}}`, `code:"ok"` on success),
//! its OAuth errors and its `fail_reason` values, each mapped explicitly to `ConnectorError`.

use std::time::Duration;

use pressroom_connector::ConnectorError;
use reqwest::StatusCode;
use serde::Deserialize;

/// TikTok's rate limits are sliding one-minute windows and it sends no `Retry-After`
/// (PLATFORMS.md §4.3): wait at least a window. The default of `rate_limit_wait_secs`.
pub const WINDOW: Duration = Duration::from_secs(60);
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

/// How a call is mapped besides its answer.
#[derive(Clone, Copy, Debug)]
pub struct CallKind {
    /// `content/init`: an answer that is not TikTok's documented error (a gateway page, a
    /// cut-off body, a 5xx code TikTok does not document) may come after TikTok created the
    /// post, so it is "outcome unknown", never "try again" (PLATFORMS.md §6.7).
    pub irreversible: bool,
    /// The wait for a rate limit that names none (TikTok never does).
    pub rate_window: Duration,
}

#[cfg(test)]
impl CallKind {
    /// A read or other repeatable call, with the documented one-minute window.
    pub const SAFE: CallKind = CallKind {
        irreversible: false,
        rate_window: WINDOW,
    };
}

/// A 5xx that is not TikTok's documented `internal_error`: repeatable calls retry; on init
/// the post may exist.
fn server_error(reason: String, kind: CallKind) -> ConnectorError {
    if kind.irreversible {
        ConnectorError::OutcomeUnknown(format!("{reason}; TikTok may have created the post"))
    } else {
        ConnectorError::transient(reason)
    }
}

/// The codes TikTok answers when the token lacks a scope the endpoint needs.
const SCOPE_CODES: [&str; 2] = ["scope_not_authorized", "scope_permission_missed"];

/// True for the `Disconnected` that [`classify`] makes of a missing scope (its reason starts
/// with the code): read-only callers report it as "grant the scope" instead of failing.
pub fn is_missing_scope(e: &ConnectorError) -> bool {
    matches!(e, ConnectorError::Disconnected(m)
        if SCOPE_CODES.iter().any(|c| m.starts_with(&format!("TikTok {c}:"))))
}

/// Maps an error object (any HTTP status) to the taxonomy.
pub fn classify(
    status: StatusCode,
    err: &TikTokError,
    retry_after: Option<Duration>,
    kind: CallKind,
) -> ConnectorError {
    let reason = err.reason();
    match err.code.as_str() {
        "access_token_invalid" => ConnectorError::AuthExpired,
        "scope_not_authorized" | "scope_permission_missed" => ConnectorError::Disconnected(reason),
        "rate_limit_exceeded" => ConnectorError::RateLimited {
            retry_after: Some(retry_after.unwrap_or(kind.rate_window)),
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
        // Documented as "retry" (PLATFORMS.md §4.3): a complete error answer in TikTok's shape
        // means no publish_id was issued, so there is nothing that could be published, on
        // init too (§6.7). Only a lost or unreadable answer is ambiguous.
        "internal_error" => ConnectorError::transient(reason),
        _ => match status.as_u16() {
            401 => ConnectorError::AuthExpired,
            429 => ConnectorError::RateLimited {
                retry_after: Some(retry_after.unwrap_or(kind.rate_window)),
            },
            500..=599 => server_error(reason, kind),
            _ => ConnectorError::Rejected(reason),
        },
    }
}

/// Maps an answer whose body is not TikTok's envelope (a gateway page, a cut-off body): the
/// status decides; `None` when it says nothing definite.
pub fn classify_status(status: StatusCode, what: &str, kind: CallKind) -> Option<ConnectorError> {
    match status.as_u16() {
        401 => Some(ConnectorError::AuthExpired),
        429 => Some(ConnectorError::RateLimited {
            retry_after: Some(kind.rate_window),
        }),
        500..=599 => Some(server_error(format!("TikTok {status}: {what}"), kind)),
        _ => None,
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
            CallKind::SAFE,
        )
    }

    const INIT: CallKind = CallKind {
        irreversible: true,
        rate_window: WINDOW,
    };

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
    fn missing_scopes_are_told_apart_from_other_disconnects() {
        assert!(is_missing_scope(&map(401, "scope_not_authorized")));
        assert!(is_missing_scope(&map(401, "scope_permission_missed")));
        assert!(!is_missing_scope(&map(
            403,
            "spam_risk_user_banned_from_posting"
        )));
        assert!(!is_missing_scope(&map(401, "access_token_invalid")));
    }

    #[test]
    fn retry_after_header_wins_when_present() {
        let e = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &err("rate_limit_exceeded"),
            Some(Duration::from_secs(120)),
            CallKind::SAFE,
        );
        assert!(
            matches!(e, ConnectorError::RateLimited { retry_after: Some(d) } if d.as_secs() == 120)
        );
    }

    #[test]
    fn without_retry_after_the_configured_window_applies() {
        let kind = CallKind {
            irreversible: false,
            rate_window: Duration::from_secs(7),
        };
        let e = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &err("rate_limit_exceeded"),
            None,
            kind,
        );
        assert!(
            matches!(e, ConnectorError::RateLimited { retry_after: Some(d) } if d.as_secs() == 7)
        );
        // Daily caps keep their 24 h wait whatever the window.
        let e = classify(
            StatusCode::FORBIDDEN,
            &err("spam_risk_too_many_posts"),
            None,
            kind,
        );
        assert!(matches!(e, ConnectorError::RateLimited { retry_after: Some(d) } if d == DAY));
    }

    #[test]
    fn internal_error_on_init_is_a_definite_failure_to_retry() {
        let e = classify(
            StatusCode::INTERNAL_SERVER_ERROR,
            &err("internal_error"),
            None,
            INIT,
        );
        assert!(
            matches!(e, ConnectorError::Transient(ref m) if m.to_string().contains("internal_error")),
            "{e:?}"
        );
    }

    #[test]
    fn an_undocumented_server_error_on_init_is_outcome_unknown() {
        let e = classify(StatusCode::BAD_GATEWAY, &err("something_new"), None, INIT);
        assert!(matches!(e, ConnectorError::OutcomeUnknown(_)), "{e:?}");
        // Definite refusals on init stay definite: nothing was created.
        let e = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &err("rate_limit_exceeded"),
            None,
            INIT,
        );
        assert!(matches!(e, ConnectorError::RateLimited { .. }), "{e:?}");
        let e = classify(StatusCode::BAD_REQUEST, &err("invalid_params"), None, INIT);
        assert!(matches!(e, ConnectorError::Rejected(_)), "{e:?}");
    }

    #[test]
    fn bodies_without_the_envelope_are_mapped_by_status() {
        let gateway = StatusCode::SERVICE_UNAVAILABLE;
        assert!(matches!(
            classify_status(gateway, "html", INIT),
            Some(ConnectorError::OutcomeUnknown(_))
        ));
        assert!(matches!(
            classify_status(gateway, "html", CallKind::SAFE),
            Some(ConnectorError::Transient(_))
        ));
        assert!(matches!(
            classify_status(StatusCode::TOO_MANY_REQUESTS, "", INIT),
            Some(ConnectorError::RateLimited { retry_after: Some(d) }) if d == WINDOW
        ));
        assert!(matches!(
            classify_status(StatusCode::UNAUTHORIZED, "", CallKind::SAFE),
            Some(ConnectorError::AuthExpired)
        ));
        assert!(classify_status(StatusCode::OK, "", CallKind::SAFE).is_none());
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
