//! `pressroom-engine serve`: loads the model, then answers the daemon's commands from stdin
//! with events on stdout (`pressroom_generate::process::protocol`) until stdin closes — the
//! daemon stopped or died — and then exits.
//!
//! Every `generate` command is answered (`done` or `error`), even one that does not parse or
//! whose work panics, so the daemon never waits for an answer that cannot come. Signals are
//! not how it stops: the daemon drains its jobs on SIGTERM or Ctrl-C and closes the pipe.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use futures::FutureExt as _;
use pressroom_generate::process::protocol::{
    self, Command, Event, MAX_LINE_BYTES, PROTOCOL_VERSION, WireError,
};
use pressroom_generate::{
    DeviceSetting, EngineOptions, GenerateError, Generator, Progress, ProgressFn,
};
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

/// Serves the daemon on this process's stdin and stdout; signals are ignored (see the module
/// doc). A daemon that dies while the model loads ends this process at once.
pub async fn serve(model: &Path, options: ServeOptions) -> anyhow::Result<()> {
    ignore_stop_signals();
    let stopped = serve_on(model, options, tokio::io::stdin(), tokio::io::stdout()).await;
    match stopped? {
        // The model's loader still runs on a blocking thread; nobody wants its result.
        Stop::InputClosedWhileLoading => std::process::exit(0),
        Stop::Fatal(why) => anyhow::bail!("the device is unusable: {why}"),
        Stop::InputClosed => Ok(()),
    }
}

/// Why [`serve_on`] returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// Its input closed: the daemon is done with it.
    InputClosed,
    /// Its input closed before the model was loaded.
    InputClosedWhileLoading,
    /// A request hit an error the engine cannot recover from in this process (a CUDA error
    /// that leaves the context unusable): the daemon starts a fresh engine.
    Fatal(String),
}

/// Serves commands read from `input`, writing events to `output`.
pub async fn serve_on(
    model: &Path,
    options: ServeOptions,
    input: impl AsyncRead + Unpin + Send + 'static,
    output: impl AsyncWrite + Unpin + Send + 'static,
) -> anyhow::Result<Stop> {
    let (events, outbox) = mpsc::unbounded_channel::<Outgoing>();
    let (fatal_tx, mut fatal) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(write_events(outbox, output, fatal_tx));
    // Input is read from the start, so a daemon that goes away during a long load is noticed.
    let (lines_tx, mut lines) = mpsc::channel::<Vec<u8>>(64);
    tokio::spawn(read_lines(input, lines_tx));

    let load = load(model, &options);
    tokio::pin!(load);
    let mut early = Vec::new();
    let loaded = loop {
        tokio::select! {
            loaded = &mut load => break loaded,
            line = lines.recv() => match line {
                Some(line) => early.push(line),
                None => {
                    tracing::info!("input closed while the model was loading; stopping");
                    return Ok(Stop::InputClosedWhileLoading);
                }
            },
        }
    };
    let generator = match loaded {
        Ok(g) => Arc::new(g),
        Err(message) => {
            tracing::error!(%message, "engine could not start");
            let _ = events.send(Outgoing::event(Event::Failed {
                message: message.clone(),
            }));
            drop(events);
            let _ = writer.await;
            anyhow::bail!(message);
        }
    };
    let _ = events.send(Outgoing::event(Event::Ready {
        protocol: PROTOCOL_VERSION,
        identity: generator.identity(),
        device: generator.engine().device().describe(),
        pid: std::process::id(),
    }));
    tracing::info!(model = %model.display(), "engine ready");

    let running: Running = Arc::new(Mutex::new(HashMap::new()));
    let mut early = early.into_iter();
    let stop = loop {
        let line = match early.next() {
            Some(line) => Some(line),
            None => tokio::select! {
                line = lines.recv() => line,
                why = fatal.recv() => break Stop::Fatal(why.unwrap_or_default()),
            },
        };
        let Some(line) = line else {
            break Stop::InputClosed;
        };
        handle(&line, &generator, &events, &running);
    };
    for (_, task) in lock(&running).drain() {
        task.abort();
    }
    drop(events);
    let _ = writer.await;
    match &stop {
        Stop::Fatal(why) => tracing::error!(%why, "engine stopping: the device is unusable"),
        _ => tracing::info!("input closed; engine stopping"),
    }
    Ok(stop)
}

type Running = Arc<Mutex<HashMap<u64, tokio::task::AbortHandle>>>;

/// Carries out one command line.
fn handle(
    line: &[u8],
    generator: &Arc<DiffusionGenerator>,
    events: &mpsc::UnboundedSender<Outgoing>,
    running: &Running,
) {
    match serde_json::from_slice::<Command>(line) {
        Ok(Command::Generate {
            id,
            tenant,
            request,
        }) => {
            // Registered before the task can finish and remove itself.
            let mut tasks = lock(running);
            let task = tokio::spawn(run_one(
                generator.clone(),
                events.clone(),
                running.clone(),
                id,
                tenant,
                request,
            ));
            tasks.insert(id, task.abort_handle());
        }
        Ok(Command::Cancel { id }) => {
            // Dropping the request's future cancels it in the engine thread.
            if let Some(task) = lock(running).remove(&id) {
                task.abort();
            }
        }
        Err(e) => {
            // Whoever sent it waits for an answer: give one when the line names its id.
            #[derive(serde::Deserialize)]
            struct Named {
                id: u64,
            }
            match serde_json::from_slice::<Named>(line) {
                Ok(Named { id }) => {
                    let _ = events.send(Outgoing::event(Event::Error {
                        id,
                        error: WireError::Invalid {
                            message: format!("the engine could not read this request: {e}"),
                        },
                    }));
                }
                Err(_) => tracing::warn!(error = %e, "ignoring a line that is not a command"),
            }
        }
    }
}

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
    events: mpsc::UnboundedSender<Outgoing>,
    running: Running,
    id: u64,
    tenant: String,
    request: pressroom_generate::GenerationRequest,
) {
    let progress_events = events.clone();
    let progress: ProgressFn = Arc::new(move |p: Progress| {
        let _ = progress_events.send(Outgoing::event(Event::Progress {
            id,
            step: p.step,
            total: p.total,
        }));
    });
    let answer = AssertUnwindSafe(generator.generate_for(&tenant, request, Some(progress)))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(GenerateError::Engine("the engine panicked".into())));
    lock(&running).remove(&id);
    let outgoing = match answer {
        Ok(img) => Outgoing::event(Event::done(id, img.width, img.height, &img.png)),
        Err(e) => Outgoing {
            fatal: unrecoverable(&e),
            event: Event::Error {
                id,
                error: WireError::from(&e),
            },
        },
    };
    let _ = events.send(outgoing);
}

/// A CUDA error other than running out of memory leaves the context unusable for every later
/// request in this process; only a fresh process recovers.
fn unrecoverable(e: &GenerateError) -> Option<String> {
    match e {
        GenerateError::Engine(m) if m.contains("CUDA error") || m.contains("CUBLAS_STATUS") => {
            Some(m.clone())
        }
        _ => None,
    }
}

/// An event, and whether the engine stops once it is written.
struct Outgoing {
    event: Event,
    fatal: Option<String>,
}

impl Outgoing {
    fn event(event: Event) -> Self {
        Self { event, fatal: None }
    }
}

/// Reads command lines until end of input (dropping `lines` tells the server).
async fn read_lines(input: impl AsyncRead + Unpin, lines: mpsc::Sender<Vec<u8>>) {
    let mut input = BufReader::new(input);
    loop {
        let mut line = Vec::new();
        let limit = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX);
        match (&mut input).take(limit).read_until(b'\n', &mut line).await {
            Ok(0) => return,
            Ok(_) if line.iter().all(u8::is_ascii_whitespace) => {}
            Ok(_) => {
                if lines.send(line).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "reading commands failed; stopping");
                return;
            }
        }
    }
}

/// The one writer of stdout: events in order, each flushed (the daemon waits on them). After
/// an event marked fatal it tells the server to stop.
async fn write_events(
    mut outbox: mpsc::UnboundedReceiver<Outgoing>,
    mut output: impl AsyncWrite + Unpin,
    fatal: mpsc::UnboundedSender<String>,
) {
    while let Some(out) = outbox.recv().await {
        let line = protocol::encode(&out.event);
        if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
            // The daemon is gone; its end of stdin closes too, which stops the engine.
            return;
        }
        if let Some(why) = out.fatal {
            let _ = fatal.send(why);
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP are logged and ignored: the engine stops when the daemon closes
/// its input (systemd's default `KillMode=control-group` sends SIGTERM to it too).
fn ignore_stop_signals() {
    use tokio::signal::unix::{SignalKind, signal};
    for (kind, name) in [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
    ] {
        match signal(kind) {
            Ok(mut stream) => {
                tokio::spawn(async move {
                    while stream.recv().await.is_some() {
                        tracing::info!(
                            signal = name,
                            "ignored: the engine stops when the daemon closes its input"
                        );
                    }
                });
            }
            Err(e) => tracing::warn!(signal = name, error = %e, "cannot ignore the signal"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
