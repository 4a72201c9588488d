//! The daemon's side of the engine process: start it, watch it, restart it, and send it
//! requests. Requests in flight when it dies fail with [`GenerateError::EngineCrashed`]
//! (retryable: the job runner tries them again once the engine is back).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot, watch};

use super::options::EngineOptions;
use super::protocol::{self, Command, Event, MAX_LINE_BYTES, PROTOCOL_VERSION};
use crate::device::DeviceSetting;
use crate::error::GenerateError;
use crate::generator::Generator;
use crate::key::generation_key;
use crate::request::{GeneratedImage, GenerationRequest, Progress, ProgressFn};

/// How to start `pressroom-engine serve`.
#[derive(Clone, Debug)]
pub struct EngineLaunch {
    /// The engine binary ([`engine_binary`] finds the installed one).
    pub program: PathBuf,
    /// The model folder (diffusers layout).
    pub model: PathBuf,
    pub device: DeviceSetting,
    pub options: EngineOptions,
    /// The daemon's log level and format, so the engine's lines (on the shared stderr) match.
    pub log_level: String,
    pub log_json: bool,
    /// Create the tiny random model in `model` first when the folder has none (the default
    /// when no model is configured).
    pub create_tiny: bool,
}

impl EngineLaunch {
    fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.arg("serve")
            .arg("--model")
            .arg(&self.model)
            .arg("--device")
            .arg(self.device.as_str())
            .arg("--options")
            .arg(serde_json::to_string(&self.options).unwrap_or_default())
            .arg("--log-level")
            .arg(&self.log_level);
        if self.log_json {
            cmd.arg("--log-json");
        }
        if self.create_tiny {
            cmd.arg("--create-tiny");
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: a Ctrl-C in the daemon's terminal reaches the daemon,
            // which drains its jobs, not the engine in the middle of them.
            .process_group(0)
            .kill_on_drop(true);
        cmd
    }
}

/// How patient the supervisor is.
#[derive(Clone, Debug)]
pub struct SupervisorTimings {
    /// Longest a model load may take before the engine counts as failed (real SDXL weights
    /// from a cold disk take a minute or more).
    pub ready_timeout: Duration,
    /// Longest a request waits for a restarting engine before it fails (to be retried).
    pub wait_for_engine: Duration,
    /// First and longest pause between restarts; it doubles after each quick failure.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// An engine that ran this long before it died restarts after `backoff_min` again.
    pub healthy_after: Duration,
}

impl Default for SupervisorTimings {
    fn default() -> Self {
        Self {
            ready_timeout: Duration::from_secs(600),
            wait_for_engine: Duration::from_secs(120),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            healthy_after: Duration::from_secs(60),
        }
    }
}

/// Where `pressroom-engine` is: `PRESSROOM_ENGINE_BIN` when set, else next to the running
/// executable (where `cargo build` and packages put it).
pub fn engine_binary() -> Result<PathBuf, GenerateError> {
    if let Some(bin) = std::env::var_os("PRESSROOM_ENGINE_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(GenerateError::Config(format!(
                "PRESSROOM_ENGINE_BIN={} is not a file",
                bin.display()
            )))
        };
    }
    let exe = std::env::current_exe()
        .map_err(|e| GenerateError::Config(format!("finding the running executable: {e}")))?;
    let sibling = exe.with_file_name("pressroom-engine");
    if sibling.is_file() {
        Ok(sibling)
    } else {
        Err(GenerateError::Config(format!(
            "the engine binary `pressroom-engine` is not next to {} (build it with `cargo build -p pressroom-engine`, or set PRESSROOM_ENGINE_BIN)",
            exe.display()
        )))
    }
}

/// The local engine in its own process, as a [`Generator`].
pub struct EngineProcess {
    shared: Arc<Shared>,
    supervisor: tokio::task::JoinHandle<()>,
    /// What the model's family composes best at (read from its folder by the caller).
    native: Option<crate::NativeSize>,
}

struct Shared {
    /// The running engine; `None` while it restarts.
    conn: watch::Sender<Option<Arc<Conn>>>,
    identity: Mutex<String>,
    next_id: AtomicU64,
    restarts: AtomicU64,
    timings: SupervisorTimings,
}

/// One running engine process: where to write, and who waits for what.
struct Conn {
    pid: u32,
    identity: String,
    /// Whole lines for the one writer task: a caller dropped in the middle of a write can
    /// never leave half a line for the next one to be glued to.
    lines: mpsc::UnboundedSender<Vec<u8>>,
    /// Requests waiting for their answer; None once the engine has stopped (a request that
    /// comes later is refused instead of waiting for an answer that cannot come).
    pending: Mutex<Option<HashMap<u64, Pending>>>,
}

/// A finished image as the engine sends it: width, height, PNG bytes.
type Answer = Result<(u32, u32, Vec<u8>), GenerateError>;

struct Pending {
    reply: oneshot::Sender<Answer>,
    progress: Option<ProgressFn>,
}

struct Running {
    child: Child,
    /// Where the engine runs, as it said when ready (`Cuda(0)/Half`, `Cpu/Float`).
    device: String,
    events: BufReader<ChildStdout>,
    conn: Arc<Conn>,
    /// Held so the writer task ends with this process.
    _writer: AbortOnDrop,
}

/// Aborts the writer task with the process it wrote to.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl EngineProcess {
    /// Starts the engine and waits until its model is loaded: a model that cannot be loaded
    /// is an error here, with the engine's reason, before the daemon takes any work.
    pub async fn start(
        launch: EngineLaunch,
        timings: SupervisorTimings,
    ) -> Result<Self, GenerateError> {
        let mut launch = launch;
        let running = spawn(&launch, timings.ready_timeout).await?;
        // Restarts use the device the first start found: after a GPU fault, `auto` would
        // quietly come back on the CPU, slower by two orders of magnitude and with another
        // identity; `cuda` instead fails loudly and is retried until the GPU is back.
        if launch.device == DeviceSetting::Auto {
            launch.device = device_of(&running.device);
        }
        let (conn, _) = watch::channel(Some(running.conn.clone()));
        let shared = Arc::new(Shared {
            conn,
            identity: Mutex::new(running.conn.identity.clone()),
            next_id: AtomicU64::new(1),
            restarts: AtomicU64::new(0),
            timings,
        });
        let supervisor = tokio::spawn(supervise(shared.clone(), launch, running));
        Ok(Self {
            shared,
            supervisor,
            native: None,
        })
    }

    /// Says what sizes the served model composes best at ([`Generator::native_size`]).
    pub fn with_native_size(mut self, native: Option<crate::NativeSize>) -> Self {
        self.native = native;
        self
    }

    /// The engine's process id (None while it restarts).
    pub fn pid(&self) -> Option<u32> {
        self.shared.conn.borrow().as_ref().map(|c| c.pid)
    }

    /// How many times the engine has been restarted after it stopped.
    pub fn restarts(&self) -> u64 {
        self.shared.restarts.load(Ordering::Relaxed)
    }

    /// The running engine, waiting for a restart in progress.
    async fn connection(&self) -> Result<Arc<Conn>, GenerateError> {
        let mut rx = self.shared.conn.subscribe();
        let wait = self.shared.timings.wait_for_engine;
        match tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await {
            Ok(Ok(conn)) => conn
                .as_ref()
                .cloned()
                .ok_or_else(|| GenerateError::EngineCrashed("is not running".into())),
            Ok(Err(_)) => Err(GenerateError::EngineCrashed("has been shut down".into())),
            Err(_) => Err(GenerateError::EngineCrashed(format!(
                "is restarting and was not back within {}s",
                wait.as_secs()
            ))),
        }
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        // The supervisor owns the child (killed on drop) and its pipes.
        self.supervisor.abort();
    }
}

#[async_trait::async_trait]
impl Generator for EngineProcess {
    fn identity(&self) -> String {
        lock(&self.shared.identity).clone()
    }

    fn native_size(&self) -> Option<crate::NativeSize> {
        self.native
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
        let conn = self.connection().await?;
        let key = generation_key(&conn.identity, &req);
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        match lock(&conn.pending).as_mut() {
            Some(pending) => pending.insert(id, Pending { reply, progress }),
            None => return Err(GenerateError::EngineCrashed("stopped just now".into())),
        };
        // From here on, a caller that goes away (a dropped future) cancels the request.
        let mut guard = CancelOnDrop {
            conn: conn.clone(),
            id,
            armed: true,
        };
        conn.send(&Command::Generate {
            id,
            tenant: tenant.to_string(),
            request: req,
        })?;
        let answer = answer.await.map_err(|_| {
            GenerateError::EngineCrashed("stopped while generating this image".into())
        });
        guard.armed = false;
        let (width, height, png) = answer??;
        Ok(GeneratedImage {
            png,
            width,
            height,
            cache_hit: false,
            generation_key: key,
        })
    }
}

impl Conn {
    /// Queues one command for the writer task (in order, whole lines).
    fn send(&self, command: &Command) -> Result<(), GenerateError> {
        self.lines
            .send(protocol::encode(command))
            .map_err(|_| GenerateError::EngineCrashed("is no longer reading requests".into()))
    }

    /// The engine stopped: every request still waiting fails with `why`, later ones at once.
    fn fail_all(&self, why: &str) {
        let pending = lock(&self.pending).take().unwrap_or_default();
        if !pending.is_empty() {
            let ids: Vec<u64> = pending.keys().copied().collect();
            tracing::warn!(pid = self.pid, requests = ?ids, "requests in flight when the engine stopped fail, to be retried");
        }
        for (_, p) in pending {
            let _ = p
                .reply
                .send(Err(GenerateError::EngineCrashed(why.to_string())));
        }
    }

    fn take_pending(&self, id: u64) -> Option<Pending> {
        lock(&self.pending).as_mut().and_then(|p| p.remove(&id))
    }

    fn dispatch(&self, event: Event) {
        match event {
            Event::Progress { id, step, total } => {
                let progress = lock(&self.pending)
                    .as_ref()
                    .and_then(|p| p.get(&id))
                    .and_then(|p| p.progress.clone());
                if let Some(progress) = progress {
                    progress(Progress { step, total });
                }
            }
            Event::Done {
                id,
                width,
                height,
                png_base64,
            } => {
                if let Some(p) = self.take_pending(id) {
                    let png = protocol::decode_png(&png_base64);
                    let _ = p.reply.send(png.map(|png| (width, height, png)));
                }
            }
            Event::Error { id, error } => {
                if let Some(p) = self.take_pending(id) {
                    let _ = p.reply.send(Err(GenerateError::from(error)));
                }
            }
            Event::Ready { .. } | Event::Failed { .. } => {
                tracing::warn!(pid = self.pid, ?event, "unexpected engine event ignored");
            }
        }
    }
}

/// Stops the request in the engine when the caller stops waiting for it.
struct CancelOnDrop {
    conn: Arc<Conn>,
    id: u64,
    /// False once the answer is in.
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed && self.conn.take_pending(self.id).is_some() {
            let _ = self.conn.send(&Command::Cancel { id: self.id });
        }
    }
}

/// Starts one engine process and reads until it is ready.
async fn spawn(launch: &EngineLaunch, ready_timeout: Duration) -> Result<Running, GenerateError> {
    let program = launch.program.display().to_string();
    let mut child = launch.command().spawn().map_err(|e| {
        GenerateError::EngineCrashed(format!("{program} could not be started: {e}"))
    })?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(GenerateError::EngineCrashed(
            "was started without its pipes".into(),
        ));
    };
    let mut events = BufReader::new(stdout);
    let first = tokio::time::timeout(ready_timeout, read_event(&mut events)).await;
    let failed = |child: &mut Child, why: String| {
        let _ = child.start_kill();
        GenerateError::EngineCrashed(why)
    };
    match first {
        Ok(Ok(Some(Event::Ready { protocol, .. }))) if protocol != PROTOCOL_VERSION => Err(failed(
            &mut child,
            format!(
                "{program} speaks protocol {protocol}, this daemon {PROTOCOL_VERSION}: install pressroom and pressroom-engine from the same build"
            ),
        )),
        Ok(Ok(Some(Event::Ready {
            identity,
            device,
            pid,
            ..
        }))) => {
            tracing::info!(pid, %device, model = %launch.model.display(), "engine process ready");
            let (lines, queued) = mpsc::unbounded_channel();
            let writer = AbortOnDrop(tokio::spawn(write_lines(stdin, queued)));
            let conn = Arc::new(Conn {
                pid,
                identity,
                lines,
                pending: Mutex::new(Some(HashMap::new())),
            });
            Ok(Running {
                child,
                device,
                events,
                conn,
                _writer: writer,
            })
        }
        Ok(Ok(Some(Event::Failed { message }))) => {
            if tokio::time::timeout(EXIT_GRACE, child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
            }
            Err(GenerateError::EngineCrashed(format!(
                "could not start: {message}"
            )))
        }
        Ok(Ok(Some(other))) => Err(failed(
            &mut child,
            format!("answered {other:?} before it was ready"),
        )),
        Ok(Ok(None)) => {
            let status = child.wait().await;
            Err(GenerateError::EngineCrashed(format!(
                "exited before its model was loaded ({})",
                describe_exit(status.ok())
            )))
        }
        Ok(Err(e)) => Err(failed(&mut child, format!("sent an unreadable line: {e}"))),
        Err(_) => Err(failed(
            &mut child,
            format!(
                "did not load {} within {}s",
                launch.model.display(),
                ready_timeout.as_secs()
            ),
        )),
    }
}

/// Forwards events until the engine stops, then restarts it (with backoff) for as long as
/// the daemon runs.
async fn supervise(shared: Arc<Shared>, launch: EngineLaunch, mut running: Running) {
    let timings = shared.timings.clone();
    let mut backoff = timings.backoff_min;
    loop {
        let since = Instant::now();
        let why = forward_events(&mut running).await;
        // No new request goes to it; a process that closed its output but lingers (wedged)
        // is killed after a grace period.
        shared.conn.send_replace(None);
        if why.is_some() {
            let _ = running.child.start_kill();
        }
        let status = match tokio::time::timeout(EXIT_GRACE, running.child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                let _ = running.child.start_kill();
                running.child.wait().await.ok()
            }
        };
        let reason = match why {
            Some(why) => format!("stopped ({why}; {})", describe_exit(status)),
            None => format!("stopped ({})", describe_exit(status)),
        };
        running.conn.fail_all(&reason);
        tracing::error!(pid = running.conn.pid, %reason, "engine process stopped; restarting it");
        if since.elapsed() >= timings.healthy_after {
            backoff = timings.backoff_min;
        }
        running = loop {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(timings.backoff_max);
            match spawn(&launch, timings.ready_timeout).await {
                Ok(next) => break next,
                Err(e) => tracing::error!(error = %e, retry_in = ?backoff, "engine restart failed"),
            }
        };
        shared.restarts.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(super::ENGINE_RESTARTS, "model" => launch.model.display().to_string())
            .increment(1);
        {
            let mut identity = lock(&shared.identity);
            if *identity != running.conn.identity {
                tracing::warn!(before = %identity, after = %running.conn.identity, "the restarted engine reports another model identity");
                *identity = running.conn.identity.clone();
            }
        }
        tracing::info!(pid = running.conn.pid, "engine process restarted");
        shared.conn.send_replace(Some(running.conn.clone()));
    }
}

/// Writes queued lines to the engine's stdin until it closes or the queue does.
async fn write_lines(mut stdin: ChildStdin, mut lines: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(line) = lines.recv().await {
        if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
            return;
        }
    }
}

/// The setting that starts an engine on the device a `ready` event named.
fn device_of(described: &str) -> DeviceSetting {
    if described.starts_with("Cuda") {
        DeviceSetting::Cuda
    } else {
        DeviceSetting::Cpu
    }
}

/// How long an engine that closed its output has to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// Dispatches events until end of output (None) or a broken line (Some(why)).
async fn forward_events(running: &mut Running) -> Option<String> {
    loop {
        match read_event(&mut running.events).await {
            Ok(Some(event)) => running.conn.dispatch(event),
            Ok(None) => return None,
            Err(e) => return Some(format!("unreadable output: {e}")),
        }
    }
}

/// The next event, None at end of output.
async fn read_event(events: &mut BufReader<ChildStdout>) -> std::io::Result<Option<Event>> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let limit = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX);
        let n = (&mut *events)
            .take(limit)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(None);
        }
        if line.last() != Some(&b'\n') && line.len() >= MAX_LINE_BYTES {
            return Err(std::io::Error::other(format!(
                "a line longer than {MAX_LINE_BYTES} bytes"
            )));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        return serde_json::from_slice(&line)
            .map(Some)
            .map_err(std::io::Error::other);
    }
}

/// "killed by signal 9 (SIGKILL: out of memory or killed by hand)", "exit status 101", ...
fn describe_exit(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match status {
        None => "exit status unknown".into(),
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(9)) => {
                "killed by signal 9 (SIGKILL: out of memory, or killed by hand)".into()
            }
            (None, Some(sig)) => format!("killed by signal {sig}"),
            (None, None) => "exit status unknown".into(),
        },
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_keep_the_device_the_engine_first_found() {
        assert_eq!(device_of("Cuda(0)/Half"), DeviceSetting::Cuda);
        assert_eq!(device_of("Cpu/Float"), DeviceSetting::Cpu);
    }

    #[test]
    fn exits_are_described_for_people() {
        use std::os::unix::process::ExitStatusExt as _;
        assert!(describe_exit(Some(ExitStatus::from_raw(9))).contains("SIGKILL"));
        assert_eq!(
            describe_exit(Some(ExitStatus::from_raw(3 << 8))),
            "exit status 3"
        );
        assert_eq!(describe_exit(None), "exit status unknown");
    }
}
