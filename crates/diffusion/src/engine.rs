//! The engine thread: one thread owns the model (libtorch modules are not shared across
//! threads), requests arrive over a channel, and requests that can share a UNet batch —
//! same size, steps, sampler and guidance on/off — are run together when they arrive within
//! a short window. Each request keeps its own prompt, seed and guidance scale.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::device::DeviceChoice;
use crate::error::{DiffusionError, Result};
use crate::image::RgbImage;
use crate::pipeline::{BatchParams, Prompt, StableDiffusion};
use crate::scheduler::SchedulerKind;

/// Batching knobs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// How long the engine waits after a request for compatible ones to join its batch.
    pub batch_window: Duration,
    /// Upper bound on requests per batch (memory grows linearly with it).
    pub max_batch: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            batch_window: Duration::from_millis(25),
            max_batch: 4,
        }
    }
}

pub type ProgressCallback = Box<dyn Fn(u32, u32) + Send>;
pub type ReplyCallback = Box<dyn FnOnce(Result<RgbImage>) + Send>;

/// One image to make. `reply` is called exactly once, from the engine thread.
pub struct EngineRequest {
    pub params: BatchParams,
    pub prompt: Prompt,
    pub progress: Option<ProgressCallback>,
    pub reply: ReplyCallback,
}

impl EngineRequest {
    /// Requests with equal keys can share one batch.
    fn batch_key(&self) -> (BatchParams, bool) {
        let cfg = self.params.scheduler != SchedulerKind::Turbo && self.prompt.guidance > 1.0;
        (self.params.clone(), cfg)
    }
}

/// What the engine thread has run so far: for metrics, and so that batching is observable
/// (a test can tell three requests run as one batch from three runs of one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// UNet batches run (one per group of compatible requests).
    pub batches: u64,
    /// Requests run, summed over all batches.
    pub requests: u64,
    /// The most requests that shared one batch.
    pub largest_batch: u64,
}

#[derive(Default)]
struct StatCounters {
    batches: AtomicU64,
    requests: AtomicU64,
    largest_batch: AtomicU64,
}

impl StatCounters {
    fn record(&self, size: usize) {
        let size = size as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(size, Ordering::Relaxed);
        self.largest_batch.fetch_max(size, Ordering::Relaxed);
    }

    fn snapshot(&self) -> EngineStats {
        EngineStats {
            batches: self.batches.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
        }
    }
}

/// Handle to the engine thread. Dropping it stops the thread after queued work is done.
pub struct Engine {
    tx: Option<mpsc::Sender<EngineRequest>>,
    identity: String,
    device: DeviceChoice,
    stats: Arc<StatCounters>,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Starts the thread and loads the model on it; returns once the model is loaded.
    pub fn start(dir: &Path, device: DeviceChoice, config: EngineConfig) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<EngineRequest>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String>>();
        let dir = dir.to_path_buf();
        let stats = Arc::new(StatCounters::default());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("diffusion-engine".into())
            .spawn(move || {
                let model = match StableDiffusion::load(&dir, device) {
                    Ok(m) => {
                        let _ = ready_tx.send(Ok(m.identity().to_string()));
                        m
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                run(&model, &rx, &config, &thread_stats);
            })
            .map_err(|e| DiffusionError::Io {
                path: "diffusion-engine thread".into(),
                source: e,
            })?;
        let identity = ready_rx.recv().map_err(|_| {
            DiffusionError::Unsupported("engine thread died while loading".into())
        })??;
        Ok(Self {
            tx: Some(tx),
            identity,
            device,
            stats,
            thread: Some(thread),
        })
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn device(&self) -> DeviceChoice {
        self.device
    }

    /// Counters of the batches run so far (updated before a batch's replies are sent).
    pub fn stats(&self) -> EngineStats {
        self.stats.snapshot()
    }

    /// Queues a request; its `reply` is called when the image is ready or failed.
    pub fn submit(&self, req: EngineRequest) {
        let sent = match &self.tx {
            Some(tx) => tx.send(req).map_err(|e| e.0),
            None => Err(req),
        };
        if let Err(req) = sent {
            (req.reply)(Err(DiffusionError::Unsupported(
                "engine has stopped".into(),
            )));
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    model: &StableDiffusion,
    rx: &mpsc::Receiver<EngineRequest>,
    config: &EngineConfig,
    stats: &StatCounters,
) {
    // A batch of zero would never run anything.
    let max_batch = config.max_batch.max(1);
    let mut pending: Vec<EngineRequest> = Vec::new();
    loop {
        if pending.is_empty() {
            match rx.recv() {
                Ok(r) => pending.push(r),
                Err(_) => return,
            }
        }
        // Give compatible requests a short window to arrive; stop waiting once the first
        // request's batch is full (nothing more could join it).
        let key = pending[0].batch_key();
        let deadline = Instant::now() + config.batch_window;
        let mut compatible = pending.iter().filter(|r| r.batch_key() == key).count();
        while compatible < max_batch && pending.len() < max_batch * 4 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(left) {
                Ok(r) => {
                    if r.batch_key() == key {
                        compatible += 1;
                    }
                    pending.push(r);
                }
                Err(_) => break,
            }
        }
        let mut batch = Vec::new();
        let mut rest = Vec::new();
        for r in pending.drain(..) {
            if batch.len() < max_batch && r.batch_key() == key {
                batch.push(r);
            } else {
                rest.push(r);
            }
        }
        pending = rest;
        stats.record(batch.len());
        run_batch(model, batch);
    }
}

fn run_batch(model: &StableDiffusion, batch: Vec<EngineRequest>) {
    let params = batch[0].params.clone();
    let prompts: Vec<Prompt> = batch.iter().map(|r| r.prompt.clone()).collect();
    let progress: Vec<&ProgressCallback> =
        batch.iter().filter_map(|r| r.progress.as_ref()).collect();
    tracing::debug!(batch = batch.len(), steps = params.steps, scheduler = %params.scheduler, "running batch");
    // libtorch reports some failures (e.g. out of memory) as panics in tch; keep the engine
    // alive and turn them into errors for this batch.
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        model.generate(&params, &prompts, &mut |s, t| {
            for p in &progress {
                p(s, t);
            }
        })
    }))
    .unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        Err(DiffusionError::Unsupported(format!(
            "engine failure: {msg}"
        )))
    });
    match result {
        Ok(images) => {
            for (r, img) in batch.into_iter().zip(images) {
                (r.reply)(Ok(img));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            let mut first = Some(e);
            for r in batch {
                let err = first
                    .take()
                    .unwrap_or_else(|| DiffusionError::InvalidRequest(msg.clone()));
                (r.reply)(Err(err));
            }
        }
    }
}
