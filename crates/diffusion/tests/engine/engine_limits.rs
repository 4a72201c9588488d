//! The engine's limits on the tiny random model: a bounded queue, tenants served in turn,
//! cancellation within a step, and a drop that does not wait for a stuck thread.

use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use pressroom_diffusion::{
    BatchParams, CancelFlag, DeviceChoice, DiffusionError, Engine, EngineConfig, EngineRequest,
    NoiseScheduler, Prompt, init_tiny_model,
};

/// Generous bound for "it returns at all"; not a speed assertion.
const PATIENCE: Duration = Duration::from_secs(120);

pub(crate) type Reply = (String, Result<(), DiffusionError>);

fn engine(dir: &std::path::Path, config: EngineConfig) -> Engine {
    init_tiny_model(dir, 5).expect("init");
    Engine::start(dir, DeviceChoice::cpu(), config).expect("engine")
}

/// One request at a time, no batching window, so the order of service is observable.
fn serial() -> EngineConfig {
    EngineConfig {
        batch_window: Duration::ZERO,
        max_batch: 1,
        ..EngineConfig::default()
    }
}

pub(crate) fn request(
    tenant: &str,
    name: &str,
    steps: u32,
    replies: &Sender<Reply>,
) -> EngineRequest {
    let tx = replies.clone();
    let name = name.to_string();
    EngineRequest {
        params: BatchParams {
            steps,
            scheduler: NoiseScheduler::Ddim,
            width: 64,
            height: 64,
        },
        prompt: Prompt {
            prompt: "a quiet harbour".into(),
            negative_prompt: None,
            seed: 1,
            guidance: 1.0,
        },
        tenant: tenant.into(),
        cancel: CancelFlag::default(),
        progress: None,
        reply: Box::new(move |r| {
            let _ = tx.send((name, r.map(|_| ())));
        }),
    }
}

/// A request whose first step blocks until `release` is dropped or sent to; `started` hears
/// when it runs. Keeps the engine busy while a test fills its queue.
fn blocker(replies: &Sender<Reply>) -> (EngineRequest, Receiver<()>, Sender<()>) {
    let (started_tx, started) = mpsc::channel();
    let (release, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let mut req = request("a", "blocker", 2, replies);
    req.progress = Some(Box::new(move |step, _| {
        if step == 1 {
            let _ = started_tx.send(());
            if let Ok(g) = gate.lock() {
                let _ = g.recv_timeout(PATIENCE);
            }
        }
    }));
    (req, started, release)
}

#[test]
fn a_full_queue_refuses_at_once_with_a_retry_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let retry = Duration::from_secs(7);
    let engine = engine(
        dir.path(),
        EngineConfig {
            queue_capacity: 2,
            busy_retry_after: retry,
            ..serial()
        },
    );
    let (tx, rx) = mpsc::channel();
    let (b, started, release) = blocker(&tx);
    engine.submit(b);
    started.recv_timeout(PATIENCE).expect("blocker runs");
    engine.submit(request("a", "one", 1, &tx));
    engine.submit(request("b", "two", 1, &tx));
    assert!(rx.try_recv().is_err(), "two requests fit the queue");
    engine.submit(request("c", "three", 1, &tx));
    let (name, r) = rx.try_recv().expect("the third is answered at once");
    assert_eq!(name, "three");
    match r {
        Err(DiffusionError::QueueFull {
            capacity,
            retry_after,
        }) => assert_eq!((capacity, retry_after), (2, retry)),
        other => panic!("expected QueueFull, got {other:?}"),
    }
    drop(release);
    let mut done: Vec<String> = (0..3)
        .map(|_| rx.recv_timeout(PATIENCE).expect("reply"))
        .map(|(n, r)| {
            assert!(r.is_ok(), "{n}: {r:?}");
            n
        })
        .collect();
    done.sort();
    assert_eq!(done, ["blocker", "one", "two"]);
}

#[test]
fn workspaces_are_served_in_turn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), serial());
    let (tx, rx) = mpsc::channel();
    let (b, started, release) = blocker(&tx);
    engine.submit(b);
    started.recv_timeout(PATIENCE).expect("blocker runs");
    // Workspace a queues a burst before b asks at all.
    for name in ["a1", "a2", "a3"] {
        engine.submit(request("a", name, 1, &tx));
    }
    for name in ["b1", "b2"] {
        engine.submit(request("b", name, 1, &tx));
    }
    drop(release);
    let order: Vec<String> = (0..6)
        .map(|_| rx.recv_timeout(PATIENCE).expect("reply").0)
        .collect();
    assert_eq!(order, ["blocker", "a1", "b1", "a2", "b2", "a3"]);
}

#[test]
fn a_cancelled_request_stops_within_a_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), serial());
    let (tx, rx) = mpsc::channel();
    let mut req = request("a", "long", 500, &tx);
    let cancel = req.cancel.clone();
    // The caller goes away after the second step.
    req.progress = Some(Box::new(move |step, _| {
        if step == 2 {
            cancel.cancel();
        }
    }));
    engine.submit(req);
    let (_, r) = rx.recv_timeout(PATIENCE).expect("reply");
    assert!(matches!(r, Err(DiffusionError::Cancelled)), "{r:?}");
    let steps = engine.stats().steps;
    assert!(steps <= 3, "ran {steps} of 500 steps after the cancel");
}

#[test]
fn a_cancelled_waiting_request_never_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), serial());
    let (tx, rx) = mpsc::channel();
    let (b, started, release) = blocker(&tx);
    engine.submit(b);
    started.recv_timeout(PATIENCE).expect("blocker runs");
    let waiting = request("b", "gone", 50, &tx);
    waiting.cancel.cancel();
    engine.submit(waiting);
    drop(release);
    let mut got: Vec<(String, bool)> = (0..2)
        .map(|_| rx.recv_timeout(PATIENCE).expect("reply"))
        .map(|(n, r)| (n, matches!(r, Err(DiffusionError::Cancelled))))
        .collect();
    got.sort();
    assert_eq!(got, [("blocker".into(), false), ("gone".into(), true)]);
    assert_eq!(engine.stats().requests, 1, "only the blocker ran");
}

#[test]
fn the_handle_is_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Engine>();
}

/// Drops `engine` on another thread and waits (boundedly) for the drop to return.
fn drop_returns(engine: Engine) -> bool {
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        drop(engine);
        let _ = done_tx.send(());
    });
    done.recv_timeout(PATIENCE / 2).is_ok()
}

#[test]
fn drop_cancels_the_running_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), serial());
    let (tx, rx) = mpsc::channel();
    let (started_tx, started) = mpsc::channel();
    let mut req = request("a", "long", 500, &tx);
    req.progress = Some(Box::new(move |_, _| {
        let _ = started_tx.send(());
    }));
    engine.submit(req);
    started.recv_timeout(PATIENCE).expect("runs");
    assert!(drop_returns(engine), "drop did not return");
    let (_, r) = rx.recv_timeout(PATIENCE).expect("reply");
    assert!(matches!(r, Err(DiffusionError::Cancelled)), "{r:?}");
}

#[test]
fn drop_leaves_a_stuck_thread_behind_after_the_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(
        dir.path(),
        EngineConfig {
            shutdown_timeout: Duration::from_millis(100),
            ..serial()
        },
    );
    let (tx, _rx) = mpsc::channel();
    // A step that does not come back (until the test ends and drops `release`).
    let (b, started, release) = blocker(&tx);
    engine.submit(b);
    started.recv_timeout(PATIENCE).expect("blocker runs");
    // The stuck step would hold a joining drop for PATIENCE; the drop is given half that.
    assert!(drop_returns(engine), "drop waited for the stuck thread");
    drop(release);
}
