//! The per-route guard, built from each route's [`Access`] rule: rate-limit the client
//! address on routes without a key and on failed authentications, authenticate, check the
//! role, rate-limit the key, apply `Idempotency-Key`, and count the request for `/metrics`.
//! Handlers receive the caller as `Extension<Ctx>` and never decide access themselves.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiState;
use crate::auth::{self, Role};
use crate::errors::{ApiError, Code};
use crate::routes::{Access, Method, RouteSpec};
use crate::{idempotency, ratelimit};

/// The guard's state: the API state plus the route it protects.
#[derive(Clone)]
pub(crate) struct Guard {
    pub state: ApiState,
    pub spec: &'static RouteSpec,
}

pub(crate) async fn guard(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let sends_body = declares_body(&req);
    let resp = match check(&g, req, next).await {
        Ok(resp) => resp,
        Err(e) => {
            let mut resp = e.into_response();
            // Refused before its body was read: the unread bytes would corrupt the next
            // request on this connection, so say we close it rather than let a client pool
            // a connection the server is about to drop.
            if sends_body {
                resp.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            resp
        }
    };
    g.state.metrics.record_request(
        g.spec.method.as_str(),
        g.spec.path,
        resp.status().as_u16(),
        started.elapsed(),
    );
    resp
}

async fn check(g: &Guard, mut req: Request, next: Next) -> Result<Response, ApiError> {
    let spec = g.spec;
    let allowed = |ctx: &auth::Ctx| match spec.access {
        Access::Workspace(min) => ctx.role.allows(min),
        Access::Instance => ctx.role == Role::InstanceAdmin && ctx.person.is_none(),
        Access::Session => ctx.person.is_some(),
        Access::Public | Access::Signature | Access::SignedLink | Access::OAuthState => true,
    };
    reject_declared_oversize(g, &req)?;
    // Requests through `serve` carry their peer; a router driven directly has none.
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| ratelimit::ip_key(c.0.ip()));
    if matches!(
        spec.access,
        Access::Public | Access::Signature | Access::SignedLink | Access::OAuthState
    ) {
        if let Some(ip) = &ip {
            g.state.ip_limiter.check(ip).map_err(rate_limited)?;
        }
        return Ok(next.run(req).await);
    }
    // An address that used up its failed authentications is refused before any lookup.
    if let Some(ip) = &ip {
        g.state
            .auth_failure_limiter
            .peek(ip)
            .map_err(rate_limited)?;
    }
    let ctx = match auth::authenticate(&g.state, req.headers()).await {
        Ok(ctx) => ctx,
        Err(e) if e.code == Code::Unauthenticated => {
            if let Some(ip) = &ip {
                g.state
                    .auth_failure_limiter
                    .check(ip)
                    .map_err(rate_limited)?;
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    if let Some(person) = &ctx.person {
        // A person in several workspaces must name the one a workspace route acts on.
        if matches!(spec.access, Access::Workspace(_)) {
            ctx.workspace()?;
        }
        check_csrf(req.headers(), spec.method)?;
        if !allowed(&ctx) {
            return Err(ApiError::forbidden(format!(
                "{} ({} here) cannot call {} {}",
                person.email,
                ctx.role.as_str(),
                spec.method.as_str(),
                spec.path
            )));
        }
    } else if !allowed(&ctx) {
        return Err(ApiError::forbidden(format!(
            "a {} key cannot call {} {}",
            ctx.role.as_str(),
            spec.method.as_str(),
            spec.path
        )));
    }
    g.state.limiter.check(&ctx.key_id).map_err(rate_limited)?;
    req.extensions_mut().insert(ctx.clone());
    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned));
    match (spec.method, key) {
        (Method::Post, Some(Ok(key))) => {
            idempotency::run(&g.state, &ctx, &key, spec, req, next).await
        }
        (_, Some(Err(_))) => Err(ApiError::invalid("Idempotency-Key must be visible ASCII")),
        _ => Ok(next.run(req).await),
    }
}

/// A request authenticated by a session cookie that changes anything must carry the CSRF
/// cookie's value in [`auth::CSRF_HEADER`] (double submit): another site can make a browser send
/// the cookies, but cannot read them to set the header.
fn check_csrf(headers: &axum::http::HeaderMap, method: Method) -> Result<(), ApiError> {
    if method == Method::Get {
        return Ok(());
    }
    let cookie = auth::cookie(headers, auth::CSRF_COOKIE);
    let header = headers
        .get(auth::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let matches = match (cookie.as_deref(), header) {
        (Some(c), Some(h)) => pressroom_crypto::constant_time_eq(c.as_bytes(), h.as_bytes()),
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "{}: required on a signed-in request that changes anything, equal to the {} cookie",
            auth::CSRF_HEADER,
            auth::CSRF_COOKIE
        )))
    }
}

/// 429 with the wait until a token is back.
fn rate_limited(wait: std::time::Duration) -> ApiError {
    let mut e = ApiError::new(Code::RateLimited, "slow down; see Retry-After");
    e.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
    e
}

/// Refuses a body whose declared `Content-Length` is over the route's limit before reading any
/// of it, so the client gets its 413 instead of a connection reset mid-upload.
fn reject_declared_oversize(g: &Guard, req: &Request) -> Result<(), ApiError> {
    let limit = g.spec.body_limit(&g.state.limits);
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => Err(ApiError::new(
            Code::PayloadTooLarge,
            format!("request body of {n} bytes is over the limit of {limit} bytes"),
        )),
        _ => Ok(()),
    }
}

/// Whether the request carries a body (a non-zero length or a chunked transfer).
fn declares_body(req: &Request) -> bool {
    let headers = req.headers();
    headers.contains_key(axum::http::header::TRANSFER_ENCODING)
        || headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}
