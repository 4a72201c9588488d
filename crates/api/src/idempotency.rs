//! `Idempotency-Key` on POSTs (RELIABILITY.md B.8): the same key with the same request gets
//! the saved response; with a different request, 422; while the first is still running, 409.
//!
//! Records belong to the API key that sent the request, so no other key (an Admin of the same
//! workspace) can replay it. The request hash covers method, concrete path, route, the key's
//! role and the body, so a key cannot be replayed against another resource. A route that
//! answers a secret (a new API key, a signing secret) never has its body stored: a replay of
//! its success answers 409 saying so, as the secret is shown once. Records are honoured for
//! [`ApiState::idempotency_retention`] and purged after it. Server errors release the key so
//! the client may retry.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use pressroom_store::repo::idempotency::{self, Claim, ClaimClock, Owner, status};
use sha2::{Digest, Sha256};

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, Code};
use crate::routes::RouteSpec;

/// An in-flight claim older than this belongs to a crashed request and may be taken over.
const STALE_MS: i64 = 5 * 60 * 1000;
/// How long a record is honoured unless the state says otherwise.
pub(crate) const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// The purge of expired records runs at most this often per process.
const PURGE_EVERY_MS: i64 = 60 * 1000;
/// Header added to responses: whether this is a saved response replayed.
pub const REPLAYED: &str = "idempotent-replayed";

/// When this process last purged expired records (epoch ms).
#[derive(Default)]
pub(crate) struct PurgeClock(AtomicI64);

pub(crate) async fn run(
    state: &ApiState,
    ctx: &Ctx,
    key: &str,
    spec: &RouteSpec,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::invalid(
            "Idempotency-Key must be 1 to 255 characters",
        ));
    }
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, spec.body_limit(&state.limits))
        .await
        .map_err(|_| ApiError::new(Code::PayloadTooLarge, "request body over the limit"))?;
    let hash = request_hash(ctx, spec, parts.method.as_str(), parts.uri.path(), &bytes);
    let instance_or_workspace = ctx
        .workspace_id
        .clone()
        .unwrap_or_else(pressroom_core::WorkspaceId::instance);
    let owner = Owner {
        api_key_id: &ctx.key_id,
        workspace_id: &instance_or_workspace,
    };
    let now = state.store.now_ms().await?;
    let retention_ms = i64::try_from(state.idempotency_retention.as_millis()).unwrap_or(i64::MAX);
    purge_now_and_then(state, now, retention_ms).await;
    let clock = ClaimClock {
        now_ms: now,
        stale_ms: STALE_MS,
        retention_ms,
    };
    match idempotency::claim(&state.store, owner, key, &hash, clock).await? {
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
            match row.response_body {
                Some(body) => Ok(saved_response(code, body)),
                None => Err(ApiError::new(
                    Code::IdempotencyReplayRefused,
                    format!(
                        "the first request with this Idempotency-Key succeeded ({}), and its \
                         answer carried a secret that is shown once and never stored; list the \
                         resource to find what it created, or send a new Idempotency-Key to \
                         create another",
                        code.as_u16()
                    ),
                )),
            }
        }
        Claim::Claimed => {
            let req = Request::from_parts(parts, Body::from(bytes));
            let resp = next.run(req).await;
            let (parts, body) = resp.into_parts();
            let bytes = match to_bytes(body, usize::MAX).await {
                Ok(b) => b,
                Err(e) => {
                    idempotency::release(&state.store, &ctx.key_id, key).await?;
                    return Err(ApiError::internal(format!("buffering a response: {e}")));
                }
            };
            if parts.status.is_server_error() {
                idempotency::release(&state.store, &ctx.key_id, key).await?;
            } else {
                let text = String::from_utf8_lossy(&bytes);
                let stored = (!(spec.secret && parts.status.is_success())).then_some(&*text);
                idempotency::finish(
                    &state.store,
                    &ctx.key_id,
                    key,
                    parts.status.as_u16(),
                    stored,
                )
                .await?;
            }
            let mut resp = Response::from_parts(parts, Body::from(bytes));
            resp.headers_mut()
                .insert(REPLAYED, HeaderValue::from_static("false"));
            Ok(resp)
        }
    }
}

/// What a replay must match: the route, the caller's role, method, concrete path and body.
fn request_hash(ctx: &Ctx, spec: &RouteSpec, method: &str, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for part in [spec.path, ctx.role.as_str(), method, path] {
        hasher.update(part.as_bytes());
        hasher.update(b"\n");
    }
    hasher.update(body);
    hex::encode(hasher.finalize())
}

/// Deletes expired records, at most once a [`PURGE_EVERY_MS`] per process. A failure is
/// logged: the claim ignores expired records anyway, so nothing depends on the purge.
async fn purge_now_and_then(state: &ApiState, now: i64, retention_ms: i64) {
    let last = state.idempotency_purge.0.load(Ordering::Relaxed);
    if now - last < PURGE_EVERY_MS
        || state
            .idempotency_purge
            .0
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    match idempotency::purge(&state.store, now.saturating_sub(retention_ms)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "api: expired idempotency records deleted"),
        Err(e) => tracing::warn!(error = %e, "api: purging idempotency records failed"),
    }
}

fn saved_response(code: StatusCode, body: String) -> Response {
    let content_type = if code.is_client_error() || code.is_server_error() {
        "application/problem+json"
    } else {
        "application/json"
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = code;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    resp
}
