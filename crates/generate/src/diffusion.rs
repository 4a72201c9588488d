//! The local libtorch engine as a [`Generator`]: requests go to the engine thread, which
//! batches compatible ones; this side only waits and encodes the PNG.

use std::path::Path;
use std::sync::Arc;

use pressroom_diffusion::{BatchParams, DeviceChoice, Engine, EngineConfig, EngineRequest, Prompt};

use crate::error::GenerateError;
use crate::generator::Generator;
use crate::key::{generation_key, runtime_identity};
use crate::request::{GeneratedImage, GenerationRequest, Progress, ProgressFn};

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
        let engine = Engine::start(dir, device, config)?;
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
        req.validate()?;
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
            progress: progress.map(|p| {
                Box::new(move |step, total| p(Progress { step, total }))
                    as pressroom_diffusion::engine::ProgressCallback
            }),
            reply: Box::new(move |r| {
                let _ = tx.send(r);
            }),
        });
        let img = rx.await.map_err(|_| GenerateError::EngineGone)??;
        let (width, height) = (img.width, img.height);
        let png = tokio::task::spawn_blocking(move || img.to_png())
            .await
            .map_err(|_| GenerateError::EngineGone)??;
        Ok(GeneratedImage {
            png,
            width,
            height,
            cache_hit: false,
            generation_key: key,
        })
    }
}
