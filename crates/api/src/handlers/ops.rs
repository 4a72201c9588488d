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

/// Readiness: the database answers and this process's workers are running.
pub async fn readyz(State(state): State<ApiState>) -> ApiResult<Json<serde_json::Value>> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readyz: database unreachable");
        ApiError::new(Code::Unavailable, "database unreachable")
    })?;
    let workers = match &state.workers_alive {
        Some(alive) if !alive.load(std::sync::atomic::Ordering::SeqCst) => {
            return Err(ApiError::new(Code::Unavailable, "workers stopped"));
        }
        Some(_) => "running",
        None => "none in this process",
    };
    Ok(Json(
        json!({ "status": "ready", "database": "ok", "workers": workers }),
    ))
}

pub async fn metrics(State(state): State<ApiState>) -> ApiResult<Response> {
    let jobs = state.metrics.job_counts(&state.queue).await?;
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
