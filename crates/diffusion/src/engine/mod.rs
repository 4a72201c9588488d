//! The engine thread: one thread owns the model (libtorch modules are not shared across
//! threads), requests wait in a bounded per-tenant queue served round-robin ([`queue`]), and
//! requests that can share a UNet batch — same size, steps, sampler and guidance on/off — are
//! run together when they arrive within a short window. Each request keeps its own prompt,
//! seed and guidance scale. A batch stops within one denoising step once all its requests are
//! cancelled or the engine shuts down, and dropping the engine waits for its thread only up to
//! a deadline.

mod queue;

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::device::DeviceChoice;
use crate::error::{DiffusionError, Result};
use crate::image::RgbImage;
use crate::pipeline::{BatchParams, Prompt, StableDiffusion};
use crate::scheduler::NoiseScheduler;
use queue::FairQueue;

/// Batching, queueing and shutdown knobs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// How long the engine waits after a request for compatible ones to join its batch.
    pub batch_window: Duration,
    /// Upper bound on requests per batch (memory grows linearly with it).
    pub max_batch: usize,
    /// Requests that may wait (not counting the running batch); beyond that `submit`
    /// answers [`DiffusionError::QueueFull`] at once.
    pub queue_capacity: usize,
    /// The retry hint given with [`DiffusionError::QueueFull`].
    pub busy_retry_after: Duration,
    /// How long dropping the engine waits for its thread after cancelling the running batch;
    /// then the thread is left to finish on its own so the process can exit.
    pub shutdown_timeout: Duration,
    /// The model's text encoder output this many layers before the last (`clip_skip`).
    pub clip_skip: u32,
    /// Whether the model's safety checker (when its folder has one) checks every image.
    pub safety_checker: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            batch_window: Duration::from_millis(25),
            max_batch: 4,
            queue_capacity: 32,
            busy_retry_after: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            clip_skip: 0,
            safety_checker: true,
        }
    }
}

pub type ProgressCallback = Box<dyn Fn(u32, u32) + Send>;
pub type ReplyCallback = Box<dyn FnOnce(Result<RgbImage>) + Send>;

/// Set by whoever no longer wants a request's image (a caller that went away); the engine
/// checks it before the request runs and after every denoising step.
#[derive(Clone, Debug, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// One image to make. `reply` is called exactly once, from the engine thread (or from
/// `submit` when the request is refused).
pub struct EngineRequest {
    pub params: BatchParams,
    pub prompt: Prompt,
    /// Fairness key (the workspace): tenants' requests are served in turn.
    pub tenant: String,
    pub cancel: CancelFlag,
    pub progress: Option<ProgressCallback>,
    pub reply: ReplyCallback,
}

impl EngineRequest {
    /// Requests with equal keys can share one batch.
    fn batch_key(&self) -> (BatchParams, bool) {
        let cfg = self.params.scheduler != NoiseScheduler::Turbo && self.prompt.guidance > 1.0;
        (self.params.clone(), cfg)
    }
}

/// What the engine thread has run so far: for metrics, and so that batching and
/// cancellation are observable (a test can tell three requests run as one batch from three
/// runs of one, and count the steps a cancelled batch still ran).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// UNet batches run (one per group of compatible requests).
    pub batches: u64,
    /// Requests run, summed over all batches.
    pub requests: u64,
    /// The most requests that shared one batch.
    pub largest_batch: u64,
    /// Denoising steps run, counted once per batch step.
    pub steps: u64,
}

#[derive(Default)]
struct StatCounters {
    batches: AtomicU64,
    requests: AtomicU64,
    largest_batch: AtomicU64,
    steps: AtomicU64,
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
            steps: self.steps.load(Ordering::Relaxed),
        }
    }
}

/// State shared by the handle and the engine thread.
#[derive(Default)]
struct Shared {
    queue: Mutex<FairQueue>,
    wake: Condvar,
    /// Set on drop: the running batch stops at its next step.
    shutdown: AtomicBool,
    stats: StatCounters,
}

impl Shared {
    /// The queue, even if a panic elsewhere poisoned the lock (its data stays consistent:
    /// callbacks never run under it).
    fn lock(&self) -> MutexGuard<'_, FairQueue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Marker unwound out of the sampler when a batch is cancelled (not a failure).
struct Cancelled;

/// Handle to the engine thread. Dropping it refuses what still waits, cancels the running
/// batch and waits for the thread at most `shutdown_timeout`.
pub struct Engine {
    shared: Arc<Shared>,
    config: EngineConfig,
    identity: String,
    device: DeviceChoice,
    thread: Option<JoinHandle<()>>,
    /// Disconnected when the thread has ended (its sender drops with the thread). In a
    /// mutex only so that the handle stays `Sync`.
    ended: Mutex<mpsc::Receiver<()>>,
}

impl Engine {
    /// Starts the thread and loads the model on it; returns once the model is loaded.
    pub fn start(dir: &Path, device: DeviceChoice, config: EngineConfig) -> Result<Self> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String>>();
        let (ended_tx, ended) = mpsc::channel::<()>();
        let dir = dir.to_path_buf();
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        let thread_config = config.clone();
        let thread = std::thread::Builder::new()
            .name("diffusion-engine".into())
            .spawn(move || {
                let _ended = ended_tx;
                let loaded = StableDiffusion::load_with(&dir, device, thread_config.safety_checker)
                    .and_then(|m| m.with_clip_skip(thread_config.clip_skip));
                let model = match loaded {
                    Ok(m) => {
                        let _ = ready_tx.send(Ok(m.identity().to_string()));
                        m
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                run(&model, &thread_shared, &thread_config);
            })
            .map_err(|e| DiffusionError::Io {
                path: "diffusion-engine thread".into(),
                source: e,
            })?;
        let identity = ready_rx.recv().map_err(|_| {
            DiffusionError::Unsupported("engine thread died while loading".into())
        })??;
        Ok(Self {
            shared,
            config,
            identity,
            device,
            thread: Some(thread),
            ended: Mutex::new(ended),
        })
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn device(&self) -> DeviceChoice {
        self.device
    }

    /// Counters of the work run so far (updated before a batch's replies are sent).
    pub fn stats(&self) -> EngineStats {
        self.shared.stats.snapshot()
    }

    /// Queues a request; its `reply` is called when the image is ready or failed, or at once
    /// with [`DiffusionError::QueueFull`] when `queue_capacity` requests already wait.
    pub fn submit(&self, req: EngineRequest) {
        let refused = {
            let mut q = self.shared.lock();
            if q.closed {
                Some((
                    req,
                    DiffusionError::Unsupported("engine has stopped".into()),
                ))
            } else if q.len() >= self.config.queue_capacity {
                let err = DiffusionError::QueueFull {
                    capacity: self.config.queue_capacity,
                    retry_after: self.config.busy_retry_after,
                };
                Some((req, err))
            } else {
                q.push(req);
                None
            }
        };
        match refused {
            Some((req, err)) => (req.reply)(Err(err)),
            None => self.shared.wake.notify_all(),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        let waiting = {
            let mut q = self.shared.lock();
            q.closed = true;
            q.drain()
        };
        self.shared.wake.notify_all();
        for r in waiting {
            (r.reply)(Err(DiffusionError::Cancelled));
        }
        let Some(thread) = self.thread.take() else {
            return;
        };
        let ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        match ended.recv_timeout(self.config.shutdown_timeout) {
            Err(mpsc::RecvTimeoutError::Disconnected) | Ok(()) => {
                let _ = thread.join();
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    timeout = ?self.config.shutdown_timeout,
                    "diffusion engine did not stop in time; leaving its thread behind"
                );
            }
        }
    }
}

/// Answers every queued request its caller cancelled (outside the lock).
fn reply_cancelled(cancelled: Vec<EngineRequest>) {
    for r in cancelled {
        (r.reply)(Err(DiffusionError::Cancelled));
    }
}

fn run(model: &StableDiffusion, shared: &Shared, config: &EngineConfig) {
    // A batch of zero would never run anything.
    let max_batch = config.max_batch.max(1);
    loop {
        // The next request in turn, answering cancelled ones on the way.
        let first = loop {
            let mut q = shared.lock();
            let cancelled = q.take_cancelled();
            if !cancelled.is_empty() {
                drop(q);
                reply_cancelled(cancelled);
                continue;
            }
            if let Some(r) = q.pop_next() {
                break r;
            }
            if q.closed {
                return;
            }
            // Woken by submit and drop; the timeout notices cancellations of waiting requests.
            let _unused = shared
                .wake
                .wait_timeout(q, Duration::from_millis(200))
                .map_err(|p| p.into_inner());
        };
        // Give compatible requests a short window to arrive; stop waiting once the batch is
        // full (nothing more could join it).
        let key = first.batch_key();
        let mut batch = vec![first];
        let deadline = Instant::now() + config.batch_window;
        let mut q = shared.lock();
        loop {
            batch.extend(q.take_compatible(&key, max_batch - batch.len()));
            let left = deadline.saturating_duration_since(Instant::now());
            if batch.len() >= max_batch || left.is_zero() || q.closed {
                break;
            }
            q = match shared.wake.wait_timeout(q, left) {
                Ok((q, _)) => q,
                Err(p) => p.into_inner().0,
            };
        }
        drop(q);
        let (live, cancelled): (Vec<_>, Vec<_>) =
            batch.into_iter().partition(|r| !r.cancel.is_cancelled());
        reply_cancelled(cancelled);
        if live.is_empty() {
            continue;
        }
        shared.stats.record(live.len());
        run_batch(model, live, shared);
    }
}

fn run_batch(model: &StableDiffusion, batch: Vec<EngineRequest>, shared: &Shared) {
    let params = batch[0].params.clone();
    let prompts: Vec<Prompt> = batch.iter().map(|r| r.prompt.clone()).collect();
    let progress: Vec<&ProgressCallback> =
        batch.iter().filter_map(|r| r.progress.as_ref()).collect();
    let cancels: Vec<&CancelFlag> = batch.iter().map(|r| &r.cancel).collect();
    tracing::debug!(batch = batch.len(), steps = params.steps, scheduler = %params.scheduler, "running batch");
    // libtorch reports some failures (e.g. out of memory) as panics in tch; keep the engine
    // alive and turn them into errors for this batch.
    // The safety check runs inside too: a panic there (out of memory) must not end the thread.
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let images = model.generate(&params, &prompts, &mut |s, t| {
            shared.stats.steps.fetch_add(1, Ordering::Relaxed);
            for p in &progress {
                p(s, t);
            }
            // The sampler has no stop hook: unwinding out of it (without the panic hook, so
            // nothing is printed) ends the batch here, and catch_unwind below turns it back
            // into an answer.
            if s < t
                && (shared.shutdown.load(Ordering::SeqCst)
                    || cancels.iter().all(|c| c.is_cancelled()))
            {
                std::panic::resume_unwind(Box::new(Cancelled));
            }
        })?;
        // A flagged image is never handed out: its request gets the checker's reason.
        let verdicts = model.check_safety(&images)?;
        Ok(images.into_iter().zip(verdicts).collect::<Vec<_>>())
    }))
    .unwrap_or_else(|panic| {
        if panic.is::<Cancelled>() {
            tracing::debug!(batch = batch.len(), "batch cancelled");
            return Err(DiffusionError::Cancelled);
        }
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
            for (r, (img, verdict)) in batch.into_iter().zip(images) {
                match verdict.filter(|v| v.flagged()) {
                    Some(v) => {
                        tracing::warn!(concepts = ?v.concepts, "safety checker flagged a generated image; withheld");
                        (r.reply)(Err(DiffusionError::Unsafe(v.reason())));
                    }
                    None => (r.reply)(Ok(img)),
                }
            }
        }
        Err(DiffusionError::Cancelled) => {
            for r in batch {
                (r.reply)(Err(DiffusionError::Cancelled));
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
