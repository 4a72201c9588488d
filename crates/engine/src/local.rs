//! The libtorch engine in this process as a [`Generator`] (what `pressroom-engine serve`
//! serves the daemon with, and what tests use directly): requests go to the engine thread, which
//! serves workspaces in turn and batches compatible requests; this side only waits and
//! encodes the PNG. Dropping the future (an HTTP client that hung up, a job abandoned at
//! shutdown) cancels the request, which stops within one denoising step.

use std::path::Path;
use std::sync::Arc;

use pressroom_diffusion::{
    BatchParams, CancelFlag, DeviceChoice, DiffusionError, Engine, EngineConfig, EngineRequest,
    Prompt,
};

use pressroom_generate::{
    GenerateError, GeneratedImage, GenerationRequest, Generator, Progress, ProgressFn,
    generation_key, runtime_identity,
};

pub struct DiffusionGenerator {
    engine: Arc<Engine>,
    /// Model identity plus device and precision (see [`runtime_identity`]).
    identity: String,
}

impl DiffusionGenerator {
    /// Loads the model folder on a new engine thread (blocking: seconds for real weights).
    pub fn load(
        dir: &Path,
        device: DeviceChoice,
        config: EngineConfig,
    ) -> Result<Self, GenerateError> {
        let engine = Engine::start(dir, device, config).map_err(engine_error)?;
        let run = engine.device();
        let identity = runtime_identity(engine.identity(), run.device_name(), run.dtype_name());
        Ok(Self {
            engine: Arc::new(engine),
            identity,
        })
    }

    /// [`DiffusionGenerator::load`] off the async runtime's worker threads.
    pub async fn load_async(
        dir: &Path,
        device: DeviceChoice,
        config: EngineConfig,
    ) -> Result<Self, GenerateError> {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || Self::load(&dir, device, config))
            .await
            .map_err(|_| GenerateError::EngineGone)?
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

#[async_trait::async_trait]
impl Generator for DiffusionGenerator {
    fn identity(&self) -> String {
        self.identity.clone()
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        self.generate_for("", req, progress).await
    }

    async fn generate_for(
        &self,
        tenant: &str,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        req.validate()?;
        let cancel = CancelFlag::default();
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        let key = generation_key(&self.identity, &req);
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.engine.submit(EngineRequest {
            params: BatchParams {
                steps: req.steps,
                scheduler: req.scheduler,
                width: req.width,
                height: req.height,
            },
            prompt: Prompt {
                prompt: req.prompt,
                negative_prompt: req.negative_prompt,
                seed: req.seed,
                guidance: req.guidance,
            },
            tenant: tenant.to_string(),
            cancel,
            progress: progress.map(|p| {
                Box::new(move |step, total| p(Progress { step, total }))
                    as pressroom_diffusion::engine::ProgressCallback
            }),
            reply: Box::new(move |r| {
                let _ = tx.send(r);
            }),
        });
        let img = rx
            .await
            .map_err(|_| GenerateError::EngineGone)?
            .map_err(engine_error)?;
        let (width, height) = (img.width, img.height);
        let png = tokio::task::spawn_blocking(move || img.to_png())
            .await
            .map_err(|_| GenerateError::EngineGone)?
            .map_err(engine_error)?;
        Ok(GeneratedImage {
            png,
            width,
            height,
            cache_hit: false,
            generation_key: key,
        })
    }
}

/// Cancels the engine request when the waiting future is dropped (or has its answer, when
/// the flag no longer matters).
struct CancelOnDrop(CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A full queue is a rate limit to wait out; a cancel (at shutdown) is worth retrying; a
/// request the engine refuses is invalid.
fn engine_error(e: DiffusionError) -> GenerateError {
    match e {
        DiffusionError::QueueFull { retry_after, .. } => GenerateError::RateLimited {
            backend: "local",
            retry_after: Some(retry_after),
        },
        DiffusionError::Cancelled => GenerateError::EngineGone,
        // What the model's own schedule refuses (too many DDIM steps) is the request's fault.
        DiffusionError::InvalidRequest(m) => GenerateError::InvalidRequest(m),
        DiffusionError::Unsafe(m) => GenerateError::Unsafe(m),
        // Out of device memory: the batch beside it may have been what filled it; retry.
        other if other.to_string().contains("out of memory") => GenerateError::Transient {
            backend: "local",
            message: other.to_string(),
        },
        other => GenerateError::Engine(other.to_string()),
    }
}
