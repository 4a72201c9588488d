//! Every error the API returns, as RFC 9457 `application/problem+json` with a stable machine
//! `code`. The table below is the only place codes, statuses and titles are defined, so a
//! client can switch on `code` and the codes cannot drift between handlers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pressroom_store::StoreError;
use serde::Serialize;

/// Stable error codes. Never rename one: clients match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    NotFound,
    InvalidRequest,
    InvalidCampaign,
    Conflict,
    IdempotencyMismatch,
    IdempotencyInFlight,
    IdempotencyReplayRefused,
    TemplateLimit,
    PayloadTooLarge,
    RateLimited,
    WebhookRejected,
    ConnectOtherBrowser,
    GeneratorUnavailable,
    GenerationFailed,
    Unavailable,
    Internal,
}

/// (code, HTTP status, title) — the one table.
const TABLE: &[(Code, &str, u16, &str)] = &[
    (
        Code::Unauthenticated,
        "unauthenticated",
        401,
        "Missing, malformed, unknown or revoked API key",
    ),
    (
        Code::Forbidden,
        "forbidden",
        403,
        "The key's role does not allow this",
    ),
    (
        Code::NotFound,
        "not_found",
        404,
        "No such resource in this workspace",
    ),
    (
        Code::InvalidRequest,
        "invalid_request",
        400,
        "The request is malformed",
    ),
    (
        Code::InvalidCampaign,
        "invalid_campaign",
        422,
        "The campaign definition has problems",
    ),
    (
        Code::Conflict,
        "conflict",
        409,
        "The resource is not in a state that allows this",
    ),
    (
        Code::IdempotencyMismatch,
        "idempotency_key_reused",
        422,
        "This Idempotency-Key was used with a different request",
    ),
    (
        Code::IdempotencyInFlight,
        "idempotency_key_in_flight",
        409,
        "A request with this Idempotency-Key is still being processed",
    ),
    (
        Code::IdempotencyReplayRefused,
        "idempotency_replay_refused",
        409,
        "This Idempotency-Key's first response carried a secret, which is shown once and not stored",
    ),
    (
        Code::TemplateLimit,
        "template_limit",
        422,
        "A template breaks a limit on its size, memory, output or running time",
    ),
    (
        Code::PayloadTooLarge,
        "payload_too_large",
        413,
        "The request body is too large",
    ),
    (
        Code::RateLimited,
        "rate_limited",
        429,
        "Too many requests from this key or address",
    ),
    (
        Code::WebhookRejected,
        "webhook_rejected",
        401,
        "The webhook signature or timestamp did not verify",
    ),
    (
        Code::ConnectOtherBrowser,
        "connect_other_browser",
        403,
        "The OAuth callback did not come from the browser that started the connect",
    ),
    (
        Code::GeneratorUnavailable,
        "generator_unavailable",
        503,
        "No image generator is configured on this instance",
    ),
    (
        Code::GenerationFailed,
        "generation_failed",
        502,
        "The image generator failed",
    ),
    (
        Code::Unavailable,
        "unavailable",
        503,
        "A dependency (the database) is unreachable",
    ),
    (Code::Internal, "internal", 500, "Internal error"),
];

impl Code {
    fn row(self) -> (&'static str, u16, &'static str) {
        TABLE
            .iter()
            .find(|(c, ..)| *c == self)
            .map(|(_, code, status, title)| (*code, *status, *title))
            .unwrap_or(("internal", 500, "Internal error"))
    }

    /// The machine code, e.g. `not_found`.
    pub fn as_str(self) -> &'static str {
        self.row().0
    }

    pub fn status(self) -> StatusCode {
        StatusCode::from_u16(self.row().1).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn title(self) -> &'static str {
        self.row().2
    }

    /// Every (code, status, title), for the OpenAPI document and tests.
    pub fn all() -> impl Iterator<Item = (&'static str, u16, &'static str)> {
        TABLE.iter().map(|(_, c, s, t)| (*c, *s, *t))
    }
}

/// Retry-After of a 503 for an unavailable database: long enough for a pool to reconnect or
/// a lock to clear, short enough for a restart.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// An API error: a code from the table plus a human detail.
#[derive(Debug, thiserror::Error)]
#[error("{}: {detail}", code.as_str())]
pub struct ApiError {
    pub code: Code,
    pub detail: String,
    /// Extra members of the problem object (e.g. the list of campaign issues).
    pub extra: Option<serde_json::Value>,
    /// Seconds for a Retry-After header (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            extra: None,
            retry_after: None,
        }
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            Code::Unauthenticated,
            "send Authorization: Bearer prk_… with an active key",
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(Code::Forbidden, detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(Code::NotFound, format!("{what} not found"))
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(Code::InvalidRequest, detail)
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        // The detail goes to the log, not to the client: it may name tables or hosts.
        tracing::error!(error = %err, "api: internal error");
        Self::new(Code::Internal, "internal error; see the server log")
    }

    /// The database cannot be reached or is busy: 503 with a Retry-After, so clients and
    /// load balancers wait and try again instead of treating it as a bug.
    pub fn unavailable(err: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %err, "api: database unavailable");
        let mut e = Self::new(
            Code::Unavailable,
            "the database is unavailable; try again after Retry-After",
        );
        e.retry_after = Some(UNAVAILABLE_RETRY_AFTER_SECS);
        e
    }

    /// A template broke one of its limits (memory, output, fuel, size, allowed syntax): the
    /// answer names the limit in `detail` and in `limit`.
    pub fn template_limit(
        limit: pressroom_core::template::TemplateLimit,
        field: &str,
        message: &str,
    ) -> Self {
        Self::new(Code::TemplateLimit, format!("{field}: {message}"))
            .with_extra(serde_json::json!({ "limit": limit.as_str(), "field": field }))
    }

    pub fn with_extra(mut self, extra: serde_json::Value) -> Self {
        self.extra = Some(extra);
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, .. } => Self::not_found(what),
            StoreError::Conflict(m) => Self::new(Code::Conflict, m),
            other if other.is_unavailable() => Self::unavailable(other),
            other => Self::internal(other),
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        let problem = Problem {
            kind: format!("https://pressroom.dev/problems/{}", self.code.as_str()),
            title: self.code.title(),
            status: status.as_u16(),
            detail: &self.detail,
            code: self.code.as_str(),
        };
        let mut body = serde_json::to_value(&problem).unwrap_or_default();
        if let (Some(serde_json::Value::Object(extra)), Some(obj)) =
            (self.extra, body.as_object_mut())
        {
            for (k, v) in extra {
                obj.entry(k).or_insert(v);
            }
        }
        let mut resp = (status, body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_every_variant_is_in_the_table() {
        let mut seen = std::collections::HashSet::new();
        for (code, status, _) in Code::all() {
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(StatusCode::from_u16(status).is_ok());
        }
        for c in [
            Code::Unauthenticated,
            Code::Forbidden,
            Code::NotFound,
            Code::InvalidRequest,
            Code::InvalidCampaign,
            Code::Conflict,
            Code::IdempotencyMismatch,
            Code::IdempotencyInFlight,
            Code::PayloadTooLarge,
            Code::RateLimited,
            Code::WebhookRejected,
            Code::GeneratorUnavailable,
            Code::GenerationFailed,
            Code::Unavailable,
            Code::Internal,
        ] {
            assert!(TABLE.iter().any(|(x, ..)| *x == c), "{c:?} missing");
        }
    }
}
