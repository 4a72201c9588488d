//! `Idempotency-Key` on POSTs (RELIABILITY.md B.8): the same key with the same request gets
//! the saved response; with a different request, 422; while the first is still running, 409.
//! The request hash covers method, concrete path and body, so a key cannot be replayed
//! against another resource. Server errors release the key so the client may retry.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use pressroom_store::repo::idempotency::{self, Claim, status};
use sha2::{Digest, Sha256};

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, Code};

/// An in-flight claim older than this belongs to a crashed request and may be taken over.
const STALE_MS: i64 = 5 * 60 * 1000;
/// Header added to responses: whether this is a saved response replayed.
pub const REPLAYED: &str = "idempotent-replayed";

pub(crate) async fn run(
    state: &ApiState,
    ctx: &Ctx,
    key: &str,
    _route: &str,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::invalid(
            "Idempotency-Key must be 1 to 255 characters",
        ));
    }
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, state.limits.body_bytes)
        .await
        .map_err(|_| ApiError::new(Code::PayloadTooLarge, "request body over the limit"))?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(parts.uri.path().as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let hash = hex::encode(hasher.finalize());
    let scope = match &ctx.workspace_id {
        Some(ws) => ws.clone(),
        None => format!("instance:{}", ctx.key_id),
    };
    let now = state.store.now_ms().await?;
    match idempotency::claim(&state.store, &scope, key, &hash, now, STALE_MS).await? {
        Claim::Existing(row) if row.request_hash != hash => Err(ApiError::new(
            Code::IdempotencyMismatch,
            "this Idempotency-Key was used with a different request",
        )),
        Claim::Existing(row) if row.status == status::IN_FLIGHT => Err(ApiError::new(
            Code::IdempotencyInFlight,
            "the first request with this Idempotency-Key is still running; retry later",
        )),
        Claim::Existing(row) => {
            let code = row
                .response_status
                .and_then(|s| u16::try_from(s).ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::OK);
            Ok(saved_response(
                code,
                row.response_body.unwrap_or_default(),
                true,
            ))
        }
        Claim::Claimed => {
            let req = Request::from_parts(parts, Body::from(bytes));
            let resp = next.run(req).await;
            let (parts, body) = resp.into_parts();
            let bytes = match to_bytes(body, usize::MAX).await {
                Ok(b) => b,
                Err(e) => {
                    idempotency::release(&state.store, &scope, key).await?;
                    return Err(ApiError::internal(format!("buffering a response: {e}")));
                }
            };
            if parts.status.is_server_error() {
                idempotency::release(&state.store, &scope, key).await?;
            } else {
                let text = String::from_utf8_lossy(&bytes);
                idempotency::finish(&state.store, &scope, key, parts.status.as_u16(), &text)
                    .await?;
            }
            let mut resp = Response::from_parts(parts, Body::from(bytes));
            resp.headers_mut()
                .insert(REPLAYED, HeaderValue::from_static("false"));
            Ok(resp)
        }
    }
}

fn saved_response(code: StatusCode, body: String, replayed: bool) -> Response {
    let content_type = if code.is_client_error() || code.is_server_error() {
        "application/problem+json"
    } else {
        "application/json"
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = code;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut().insert(
        REPLAYED,
        HeaderValue::from_static(if replayed { "true" } else { "false" }),
    );
    resp
}
