//! Health, readiness, metrics and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ApiState;
use crate::errors::{ApiError, ApiResult, Code};

/// Liveness: answers while the process runs (no dependencies, so a slow database does not
/// get the process restarted).
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers.
pub async fn readyz(State(state): State<ApiState>) -> ApiResult<Json<serde_json::Value>> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readyz: database unreachable");
        ApiError::new(Code::Unavailable, "database unreachable")
    })?;
    Ok(Json(json!({ "status": "ready", "database": "ok" })))
}

pub async fn metrics(State(state): State<ApiState>) -> ApiResult<Response> {
    let jobs = state.queue.counts().await?;
    let mut resp = state.metrics.render(&jobs).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(resp)
}

pub async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}

/// Unknown paths answer problem+json too.
pub async fn not_found() -> ApiError {
    ApiError::not_found("route")
}
