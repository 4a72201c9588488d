//! `pressroom-engine serve`: loads the model, then answers the daemon's commands from stdin
//! with events on stdout (`pressroom_generate::process::protocol`) until stdin closes — the
//! daemon stopped or died — and then exits.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use pressroom_generate::process::protocol::{self, Command, Event, MAX_LINE_BYTES, WireError};
use pressroom_generate::{DeviceSetting, EngineOptions, Generator, Progress, ProgressFn};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::device::choose;
use crate::local::DiffusionGenerator;
use crate::options::engine_config;

/// How to load the model.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    pub device: DeviceSetting,
    pub engine: EngineOptions,
    /// Write the tiny random model into the folder first when it has none.
    pub create_tiny: bool,
}

/// Serves the daemon on this process's stdin and stdout.
pub async fn serve(model: &Path, options: ServeOptions) -> anyhow::Result<()> {
    serve_on(model, options, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serves commands read from `input`, writing events to `output`.
pub async fn serve_on(
    model: &Path,
    options: ServeOptions,
    input: impl AsyncRead + Unpin,
    output: impl AsyncWrite + Unpin + Send + 'static,
) -> anyhow::Result<()> {
    let (events, outbox) = mpsc::unbounded_channel::<Event>();
    let writer = tokio::spawn(write_events(outbox, output));
    let generator = match load(model, &options).await {
        Ok(g) => Arc::new(g),
        Err(message) => {
            tracing::error!(%message, "engine could not start");
            let _ = events.send(Event::Failed {
                message: message.clone(),
            });
            drop(events);
            let _ = writer.await;
            anyhow::bail!(message);
        }
    };
    let _ = events.send(Event::Ready {
        identity: generator.identity(),
        device: generator.engine().device().describe(),
        pid: std::process::id(),
    });
    tracing::info!(model = %model.display(), "engine ready");

    let running: Running = Arc::new(Mutex::new(HashMap::new()));
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let limit = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX);
        match (&mut input).take(limit).read_until(b'\n', &mut line).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "reading commands failed; stopping");
                break;
            }
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Command>(&line) {
            Ok(Command::Generate {
                id,
                tenant,
                request,
            }) => {
                let task = tokio::spawn(run_one(
                    generator.clone(),
                    events.clone(),
                    running.clone(),
                    id,
                    tenant,
                    request,
                ));
                lock(&running).insert(id, task.abort_handle());
            }
            Ok(Command::Cancel { id }) => {
                // Dropping the request's future cancels it in the engine thread.
                if let Some(task) = lock(&running).remove(&id) {
                    task.abort();
                }
            }
            Err(e) => tracing::warn!(error = %e, "ignoring a command that does not parse"),
        }
    }
    for (_, task) in lock(&running).drain() {
        task.abort();
    }
    drop(events);
    let _ = writer.await;
    tracing::info!("input closed; engine stopping");
    Ok(())
}

type Running = Arc<Mutex<HashMap<u64, tokio::task::AbortHandle>>>;

async fn load(model: &Path, options: &ServeOptions) -> Result<DiffusionGenerator, String> {
    let chosen = choose(options.device).map_err(|e| format!("generation.device: {e}"))?;
    if options.create_tiny && !model.join("model_index.json").exists() {
        tracing::info!(dir = %model.display(), "creating the tiny random model");
        let dir = model.to_path_buf();
        tokio::task::spawn_blocking(move || crate::init_tiny_model(&dir, 0))
            .await
            .map_err(|e| format!("creating the tiny model: {e}"))?
            .map_err(|e| format!("creating the tiny model in {}: {e}", model.display()))?;
    }
    DiffusionGenerator::load_async(model, chosen, engine_config(&options.engine))
        .await
        .map_err(|e| format!("loading the model in {}: {e}", model.display()))
}

async fn run_one(
    generator: Arc<DiffusionGenerator>,
    events: mpsc::UnboundedSender<Event>,
    running: Running,
    id: u64,
    tenant: String,
    request: pressroom_generate::GenerationRequest,
) {
    let progress_events = events.clone();
    let progress: ProgressFn = Arc::new(move |p: Progress| {
        let _ = progress_events.send(Event::Progress {
            id,
            step: p.step,
            total: p.total,
        });
    });
    let answer = generator
        .generate_for(&tenant, request, Some(progress))
        .await;
    lock(&running).remove(&id);
    let event = match answer {
        Ok(img) => Event::done(id, img.width, img.height, &img.png),
        Err(e) => Event::Error {
            id,
            error: WireError::from(&e),
        },
    };
    let _ = events.send(event);
}

/// The one writer of stdout: events in order, each flushed (the daemon waits on them).
async fn write_events(
    mut outbox: mpsc::UnboundedReceiver<Event>,
    mut output: impl AsyncWrite + Unpin,
) {
    while let Some(event) = outbox.recv().await {
        let line = protocol::encode(&event);
        if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
            // The daemon is gone; its end of stdin closes too, which stops the engine.
            return;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
