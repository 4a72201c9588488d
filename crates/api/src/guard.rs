//! The per-route guard, built from each route's [`Access`] rule: authenticate, check the
//! role, rate-limit the key, apply `Idempotency-Key`, and count the request for `/metrics`.
//! Handlers receive the caller as `Extension<Ctx>` and never decide access themselves.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiState;
use crate::auth::{self, Role};
use crate::errors::{ApiError, Code};
use crate::idempotency;
use crate::routes::{Access, Method, RouteSpec};

/// The guard's state: the API state plus the route it protects.
#[derive(Clone)]
pub(crate) struct Guard {
    pub state: ApiState,
    pub spec: &'static RouteSpec,
}

pub(crate) async fn guard(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let resp = match check(&g, req, next).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
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
    let allowed = |role: Role| match spec.access {
        Access::Workspace(min) => role.allows(min),
        Access::Instance => role == Role::InstanceAdmin,
        Access::Public | Access::Signature => true,
    };
    if matches!(spec.access, Access::Public | Access::Signature) {
        return Ok(next.run(req).await);
    }
    let ctx = auth::authenticate(&g.state, req.headers()).await?;
    if !allowed(ctx.role) {
        return Err(ApiError::forbidden(format!(
            "a {} key cannot call {} {}",
            ctx.role.as_str(),
            spec.method.as_str(),
            spec.path
        )));
    }
    if let Err(wait) = g.state.limiter.check(&ctx.key_id) {
        let mut e = ApiError::new(Code::RateLimited, "slow down; see Retry-After");
        e.retry_after = Some(wait.as_secs().max(1));
        return Err(e);
    }
    req.extensions_mut().insert(ctx.clone());
    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned));
    match (spec.method, key) {
        (Method::Post, Some(Ok(key))) => {
            idempotency::run(&g.state, &ctx, &key, spec.path, req, next).await
        }
        (_, Some(Err(_))) => Err(ApiError::invalid("Idempotency-Key must be visible ASCII")),
        _ => Ok(next.run(req).await),
    }
}
