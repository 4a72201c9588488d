//! The engine as the daemon runs it: the real `pressroom-engine` binary started and
//! supervised by `EngineProcess`. Same pixels as the engine in-process; a SIGKILL fails only
//! what was in flight, and the engine comes back.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pressroom_engine::{DeviceChoice, DiffusionGenerator, EngineConfig, init_tiny_model};
use pressroom_generate::process::SupervisorTimings;
use pressroom_generate::{
    DeviceSetting, EngineLaunch, EngineOptions, EngineProcess, GenerateError, Generator, Progress,
    ProgressFn,
};

use crate::small;

fn launch(model: &Path, device: DeviceSetting) -> EngineLaunch {
    EngineLaunch {
        program: PathBuf::from(env!("CARGO_BIN_EXE_pressroom-engine")),
        model: model.to_path_buf(),
        device,
        options: EngineOptions::default(),
        log_level: "warn".into(),
        log_json: false,
        create_tiny: false,
    }
}

fn quick_restarts() -> SupervisorTimings {
    SupervisorTimings {
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_secs(1),
        ..SupervisorTimings::default()
    }
}

#[tokio::test]
async fn the_engine_process_answers_what_the_engine_in_process_answers() {
    let model = tempfile::tempdir().expect("tempdir");
    init_tiny_model(model.path(), 7).expect("tiny");
    let process = EngineProcess::start(launch(model.path(), DeviceSetting::Cpu), quick_restarts())
        .await
        .expect("the engine starts");
    let local =
        DiffusionGenerator::load_async(model.path(), DeviceChoice::cpu(), EngineConfig::default())
            .await
            .expect("load in-process");
    assert_eq!(process.identity(), local.identity());

    let steps = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = steps.clone();
    let progress: ProgressFn = Arc::new(move |p: Progress| {
        if let Ok(mut v) = seen.lock() {
            v.push(p);
        }
    });
    let mut req = small("a lighthouse at dusk", 3);
    req.steps = 3;
    req.width = 96;
    let there = process
        .generate_for("ws", req.clone(), Some(progress))
        .await
        .expect("generate in the engine process");
    let here = local.generate(req, None).await.expect("generate here");
    assert_eq!((there.width, there.height), (96, 64));
    assert_eq!(there.png, here.png, "the same pixels across the boundary");
    assert_eq!(there.generation_key, here.generation_key);
    assert_eq!(
        steps.lock().expect("lock").last(),
        Some(&Progress { step: 3, total: 3 })
    );

    // Concurrent requests go through the one pipe and each gets its own image.
    let process = Arc::new(process);
    let (a, b) = tokio::join!(
        process.generate_for("ws-a", small("one", 1), None),
        process.generate_for("ws-b", small("two", 2), None)
    );
    assert_ne!(a.expect("a").png, b.expect("b").png);
}

#[tokio::test]
async fn a_killed_engine_fails_what_was_in_flight_and_is_restarted() {
    let model = tempfile::tempdir().expect("tempdir");
    init_tiny_model(model.path(), 7).expect("tiny");
    let process = EngineProcess::start(launch(model.path(), DeviceSetting::Cpu), quick_restarts())
        .await
        .expect("the engine starts");
    let identity = process.identity();
    let first_pid = process.pid().expect("running");
    let before = process
        .generate(small("before", 4), None)
        .await
        .expect("before the kill");

    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let progress: ProgressFn = Arc::new(move |_| {
        let _ = started_tx.send(());
    });
    let mut long = small("killed mid-way", 1);
    long.steps = 500;
    let process = Arc::new(process);
    let in_flight = tokio::spawn({
        let process = process.clone();
        async move { process.generate_for("ws", long, Some(progress)).await }
    });
    started.recv().await.expect("the long request runs");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first_pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());

    let err = in_flight
        .await
        .expect("join")
        .expect_err("the request in flight fails");
    assert!(matches!(err, GenerateError::EngineCrashed(_)), "{err}");
    assert!(err.is_retryable(), "a crash is retried: {err}");
    assert!(err.to_string().contains("signal 9"), "{err}");

    // The next request waits for the restart and is served by a new process, same model.
    let after = process
        .generate(small("before", 4), None)
        .await
        .expect("after the restart");
    assert_eq!(after.png, before.png);
    assert_eq!(process.restarts(), 1);
    assert_ne!(process.pid(), Some(first_pid));
    assert_eq!(process.identity(), identity);
}

#[tokio::test]
async fn an_engine_that_cannot_start_is_an_error_with_its_reason() {
    let empty = tempfile::tempdir().expect("tempdir");
    let err = EngineProcess::start(launch(empty.path(), DeviceSetting::Cpu), quick_restarts())
        .await
        .err()
        .expect("no model, no engine");
    let msg = err.to_string();
    assert!(msg.contains("could not start"), "{msg}");
    assert!(msg.contains(&empty.path().display().to_string()), "{msg}");

    if !tch::Cuda::is_available() {
        let model = tempfile::tempdir().expect("tempdir");
        init_tiny_model(model.path(), 7).expect("tiny");
        let err = EngineProcess::start(launch(model.path(), DeviceSetting::Cuda), quick_restarts())
            .await
            .err()
            .expect("cuda without a GPU is refused");
        assert!(err.to_string().contains("generation.device"), "{err}");
    }
}
