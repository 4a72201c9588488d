//! A local fake of the OpenAI Images and Stability endpoints (feature `fake`), following the
//! real paths, auth, request fields and error shapes closely enough to exercise the clients:
//! bearer-key checks, moderation refusals for prompts containing "forbidden", injectable
//! failures (429 with `Retry-After`, 500), and call counting.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::json;

/// A failure to return instead of the next successful answer.
#[derive(Clone, Debug)]
pub enum InjectedFailure {
    RateLimited { retry_after_secs: u64 },
    ServerError,
}

#[derive(Default)]
struct Inner {
    openai_calls: usize,
    stability_calls: usize,
    failures: VecDeque<InjectedFailure>,
    last_openai_body: Option<serde_json::Value>,
    last_stability_fields: Vec<(String, String)>,
    last_stability_endpoint: Option<String>,
}

/// Handle to a running fake; the server stops when the runtime does.
#[derive(Clone)]
pub struct FakeImageApi {
    pub base_url: String,
    pub api_key: String,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Clone)]
struct AppState {
    api_key: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeImageApi {
    /// Binds 127.0.0.1 on a free port and serves both APIs.
    pub async fn start(api_key: &str) -> std::io::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let state = AppState {
            api_key: api_key.to_string(),
            inner: inner.clone(),
        };
        let app = Router::new()
            .route("/v1/images/generations", post(openai))
            .route("/v2beta/stable-image/generate/{endpoint}", post(stability))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            base_url: format!("http://{addr}"),
            api_key: api_key.to_string(),
            inner,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answers the next call with `failure` (queued, first in first out).
    pub fn inject(&self, failure: InjectedFailure) {
        self.lock().failures.push_back(failure);
    }

    pub fn openai_calls(&self) -> usize {
        self.lock().openai_calls
    }

    pub fn stability_calls(&self) -> usize {
        self.lock().stability_calls
    }

    pub fn last_openai_body(&self) -> Option<serde_json::Value> {
        self.lock().last_openai_body.clone()
    }

    pub fn last_stability_fields(&self) -> Vec<(String, String)> {
        self.lock().last_stability_fields.clone()
    }

    /// `core`, `ultra` or `sd3`: the endpoint of the last Stability call.
    pub fn last_stability_endpoint(&self) -> Option<String> {
        self.lock().last_stability_endpoint.clone()
    }
}

/// A small PNG with a gradient, so tests can decode real image data.
pub fn test_png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    if img.write_to(&mut out, image::ImageFormat::Png).is_err() {
        return Vec::new();
    }
    out.into_inner()
}

fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", state.api_key))
}

fn injected(state: &AppState) -> Option<Response> {
    let failure = state
        .inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .failures
        .pop_front()?;
    Some(match failure {
        InjectedFailure::RateLimited { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            axum::Json(json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})),
        )
            .into_response(),
        InjectedFailure::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": {"message": "The server had an error", "type": "server_error"}})),
        )
            .into_response(),
    })
}

async fn openai(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Ok(mut i) = state.inner.lock() {
        i.openai_calls += 1;
    }
    if !authorized(&state, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}})),
        )
            .into_response();
    }
    if let Some(r) = injected(&state) {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": {"message": "We could not parse the JSON body of your request.", "type": "invalid_request_error"}}))).into_response();
    };
    if let Ok(mut i) = state.inner.lock() {
        i.last_openai_body = Some(v.clone());
    }
    let prompt = v["prompt"].as_str().unwrap_or_default();
    if prompt.is_empty() {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": {"message": "Missing required parameter: 'prompt'.", "type": "invalid_request_error", "param": "prompt", "code": "missing_required_parameter"}}))).into_response();
    }
    if prompt.to_lowercase().contains("forbidden") {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": {"message": "Your request was rejected as a result of our safety system.", "type": "image_generation_user_error", "code": "moderation_blocked"}}))).into_response();
    }
    let size = v["size"].as_str().unwrap_or("1024x1024");
    let (w, h) = size
        .split_once('x')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        .unwrap_or((1024, 1024));
    // The real service renders at its own sizes; the fake keeps images small but honest.
    let png = test_png(w.min(256), h.min(256));
    axum::Json(json!({
        "created": 1_700_000_000,
        "data": [{ "b64_json": base64::engine::general_purpose::STANDARD.encode(png) }],
    }))
    .into_response()
}

async fn stability(
    State(state): State<AppState>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    if !["core", "ultra", "sd3"].contains(&endpoint.as_str()) {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"id": "fake", "name": "not_found", "errors": ["no such endpoint"]})),
        )
            .into_response();
    }
    if let Ok(mut i) = state.inner.lock() {
        i.stability_calls += 1;
        i.last_stability_endpoint = Some(endpoint);
    }
    if !authorized(&state, &headers) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"id": "fake", "name": "unauthorized", "errors": ["authorization: invalid or missing API key"]}))).into_response();
    }
    if let Some(r) = injected(&state) {
        return r;
    }
    let mut fields = Vec::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        let value = field.text().await.unwrap_or_default();
        fields.push((name, value));
    }
    if let Ok(mut i) = state.inner.lock() {
        i.last_stability_fields = fields.clone();
    }
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(prompt) = get("prompt").filter(|p| !p.is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"id": "fake", "name": "bad_request", "errors": ["prompt: cannot be empty"]}),
            ),
        )
            .into_response();
    };
    if prompt.to_lowercase().contains("forbidden") {
        return (StatusCode::FORBIDDEN, axum::Json(json!({"id": "fake", "name": "content_moderation", "errors": ["Your request was flagged by our content moderation system, as a result your request was denied and you were not charged."]}))).into_response();
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (w, h) = match get("aspect_ratio").unwrap_or("1:1") {
        "16:9" => (112, 64),
        "9:16" => (64, 112),
        "4:5" => (64, 80),
        "5:4" => (80, 64),
        "3:2" => (96, 64),
        "2:3" => (64, 96),
        _ => (64, 64),
    };
    let png = test_png(w, h);
    if accept.starts_with("application/json") {
        return axum::Json(json!({"image": base64::engine::general_purpose::STANDARD.encode(png), "finish_reason": "SUCCESS", "seed": get("seed").unwrap_or("0")})).into_response();
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/png".to_string()),
            (
                header::HeaderName::from_static("finish-reason"),
                "SUCCESS".to_string(),
            ),
            (
                header::HeaderName::from_static("seed"),
                get("seed").unwrap_or("0").to_string(),
            ),
        ],
        png,
    )
        .into_response()
}
