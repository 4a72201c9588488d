//! The generation endpoint's limits, calling the handler directly on a SQLite store: the
//! per-request and daily budgets, a busy engine, and a client that hangs up.

use pressroom_core::WorkspaceId;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use pressroom_engine::{DeviceChoice, DiffusionGenerator, EngineConfig};
use pressroom_generate::{
    BudgetConfig, GenerateError, GeneratedImage, GenerationRequest, Generator, ProgressFn,
};
use pressroom_store::{Queue, Store};

use super::{ImagesResponse, generations};
use crate::ApiState;
use crate::auth::{Ctx, Role};
use crate::errors::ApiResult;
use crate::handlers::RawBody;

/// Counts calls; answers a tiny PNG, or "busy" while `busy` is set.
#[derive(Default)]
struct Fake {
    calls: AtomicUsize,
    busy: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Generator for Fake {
    fn identity(&self) -> String {
        "fake@sha256:0".into()
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        _progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.busy.load(Ordering::SeqCst) {
            return Err(GenerateError::RateLimited {
                backend: "local",
                retry_after: Some(Duration::from_millis(6500)),
            });
        }
        Ok(GeneratedImage {
            png: vec![1, 2, 3],
            width: req.width,
            height: req.height,
            cache_hit: false,
            generation_key: String::new(),
        })
    }
}

struct Setup {
    state: ApiState,
    /// Two workspaces: images are stored as their assets.
    ws1: WorkspaceId,
    ws2: WorkspaceId,
    _dir: tempfile::TempDir,
}

async fn setup(generator: Arc<dyn Generator>, budget: BudgetConfig) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    let store = Store::connect(&url).await.expect("store");
    store.migrate().await.expect("migrate");
    let ws = |slug: &'static str| pressroom_store::repo::workspaces::ensure(&store, slug, slug);
    let ws1 = ws("one").await.expect("workspace").id;
    let ws2 = ws("two").await.expect("workspace").id;
    let queue = Queue::new(store.clone());
    let state = ApiState::new(store, queue)
        .with_data_dir(dir.path().to_path_buf())
        .with_generator(generator)
        .with_image_budget(budget);
    Setup {
        state,
        ws1,
        ws2,
        _dir: dir,
    }
}

async fn post(
    state: &ApiState,
    ws: &WorkspaceId,
    body: serde_json::Value,
) -> ApiResult<Json<ImagesResponse>> {
    let ctx = Ctx {
        key_id: "key-1".into(),
        workspace_id: Some(ws.into()),
        role: Role::Editor,
        person: None,
    };
    generations(
        State(state.clone()),
        Extension(ctx),
        RawBody(body.to_string().into()),
    )
    .await
}

/// Status, Retry-After and the problem body of an error answer.
async fn problem(r: ApiResult<Json<ImagesResponse>>) -> (u16, Option<String>, serde_json::Value) {
    let resp = match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.into_response(),
    };
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, retry, serde_json::from_slice(&bytes).expect("json"))
}

#[tokio::test]
async fn an_over_budget_request_is_refused_naming_the_limit() {
    let fake = Arc::new(Fake::default());
    let s = setup(fake.clone(), BudgetConfig::default()).await;
    let body = serde_json::json!({"prompt": "x", "size": "4096x4096", "steps": 150, "n": 4, "response_format": "b64_json"});
    let (status, _, p) = problem(post(&s.state, &s.ws1, body).await).await;
    assert_eq!(status, 400, "{p}");
    assert_eq!(p["limit"], "images.max_pixel_steps_per_request", "{p}");
    assert_eq!(p["field"], "n×size×steps", "{p}");
    assert_eq!(
        p["max"],
        BudgetConfig::default().max_pixel_steps_per_request,
        "{p}"
    );
    assert_eq!(
        fake.calls.load(Ordering::SeqCst),
        0,
        "nothing was generated"
    );
}

#[tokio::test]
async fn a_spent_daily_budget_is_429_naming_the_budget_per_workspace() {
    let fake = Arc::new(Fake::default());
    let one_request = 2 * 64 * 64 * 20;
    let s = setup(
        fake.clone(),
        BudgetConfig {
            max_pixel_steps_per_request: 0,
            daily_pixel_steps_per_workspace: one_request,
        },
    )
    .await;
    let body =
        serde_json::json!({"prompt": "x", "size": "64x64", "n": 2, "response_format": "b64_json"});
    let _first = post(&s.state, &s.ws1, body.clone())
        .await
        .expect("first fits");
    let (status, retry, p) = problem(post(&s.state, &s.ws1, body.clone()).await).await;
    assert_eq!(status, 429, "{p}");
    assert_eq!(p["budget"], "images.daily_pixel_steps_per_workspace", "{p}");
    let secs: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!((1..=86_400).contains(&secs), "{secs}");
    let _other = post(&s.state, &s.ws2, body)
        .await
        .expect("another workspace has its own budget");
    assert_eq!(fake.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_busy_engine_is_429_with_retry_after_and_costs_nothing() {
    let fake = Arc::new(Fake::default());
    fake.busy.store(true, Ordering::SeqCst);
    let s = setup(
        fake.clone(),
        BudgetConfig {
            max_pixel_steps_per_request: 0,
            daily_pixel_steps_per_workspace: 64 * 64 * 20,
        },
    )
    .await;
    let body = serde_json::json!({"prompt": "x", "size": "64x64", "response_format": "b64_json"});
    let (status, retry, p) = problem(post(&s.state, &s.ws1, body.clone()).await).await;
    assert_eq!(status, 429, "{p}");
    assert_eq!(retry.as_deref(), Some("7"), "6.5 s rounds up");
    // The refused request was refunded: the day's whole budget is still there.
    fake.busy.store(false, Ordering::SeqCst);
    let _retried = post(&s.state, &s.ws1, body)
        .await
        .expect("retry fits the budget");
}

#[tokio::test]
async fn a_client_that_hangs_up_cancels_the_engine_work() {
    let model = tempfile::tempdir().expect("tempdir");
    pressroom_engine::init_tiny_model(model.path(), 3).expect("tiny");
    let engine = Arc::new(
        DiffusionGenerator::load_async(model.path(), DeviceChoice::cpu(), EngineConfig::default())
            .await
            .expect("load"),
    );
    let s = setup(
        engine.clone(),
        BudgetConfig {
            max_pixel_steps_per_request: 0,
            daily_pixel_steps_per_workspace: 0,
        },
    )
    .await;
    let (state, ws1) = (s.state.clone(), s.ws1.clone());
    let body = serde_json::json!({"prompt": "x", "size": "64x64", "steps": 150, "n": 4, "response_format": "b64_json"});
    let handler = tokio::spawn(async move { post(&state, &ws1, body).await.is_ok() });
    // Wait (boundedly) until the first image is being denoised.
    for _ in 0..600 {
        if engine.engine().stats().steps > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        engine.engine().stats().steps > 0,
        "the request never started"
    );
    // The connection closes: hyper drops the handler future.
    handler.abort();
    // One batch at a time: this runs once the abandoned one has stopped.
    engine
        .generate_for(&s.ws2, tiny_request(), None)
        .await
        .expect("next");
    let stats = engine.engine().stats();
    assert_eq!(
        stats.requests, 2,
        "the other three images never ran: {stats:?}"
    );
    assert!(stats.steps < 50, "the abandoned image ran on: {stats:?}");
}

fn tiny_request() -> GenerationRequest {
    let mut g = GenerationRequest::new("next", 1);
    g.width = 64;
    g.height = 64;
    g.steps = 2;
    g
}
