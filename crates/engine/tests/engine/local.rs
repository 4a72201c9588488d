//! The engine inside one process ([`DiffusionGenerator`]): the tiny model behind the
//! `Generator` trait with progress, cache and batching, cancellation, a full queue, and the
//! `pressroom-engine generate` command's contract.

use std::sync::Arc;

use pressroom_engine::{DeviceChoice, DiffusionGenerator, EngineConfig, init_tiny_model};
use pressroom_generate::{
    CachedGenerator, GenerateError, Generator, NoiseScheduler, Progress, ProgressFn,
};

use crate::small;

#[tokio::test]
async fn diffusion_generator_runs_the_tiny_model_with_progress_and_cache() {
    let model = tempfile::tempdir().expect("tempdir");
    init_tiny_model(model.path(), 11).expect("tiny");
    let engine =
        DiffusionGenerator::load_async(model.path(), DeviceChoice::cpu(), EngineConfig::default())
            .await
            .expect("load");
    let identity = engine.identity();
    assert!(identity.contains("sha256:"), "{identity}");
    // Device and precision are part of the identity, hence of the cache key.
    assert!(identity.ends_with("|device=cpu|dtype=fp32"), "{identity}");
    let cache = tempfile::tempdir().expect("tempdir");
    let g = CachedGenerator::new(engine, cache.path()).expect("cache");
    let steps = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = steps.clone();
    let progress: ProgressFn = Arc::new(move |p: Progress| {
        if let Ok(mut v) = s2.lock() {
            v.push(p);
        }
    });
    let mut req = small("a lighthouse at dusk", 3);
    req.scheduler = NoiseScheduler::Euler;
    req.steps = 3;
    req.width = 128;
    let img = g
        .generate(req.clone(), Some(progress))
        .await
        .expect("generate");
    assert_eq!((img.width, img.height), (128, 64));
    assert!(!img.cache_hit);
    assert_eq!(
        steps.lock().expect("lock").last(),
        Some(&Progress { step: 3, total: 3 })
    );
    let again = g.generate(req, None).await.expect("again");
    assert!(again.cache_hit);
    assert_eq!(again.png, img.png);

    // Concurrent compatible requests share the engine and each gets its own image.
    let g = Arc::new(g);
    let a = tokio::spawn({
        let g = g.clone();
        async move { g.generate(small("one", 1), None).await }
    });
    let b = tokio::spawn({
        let g = g.clone();
        async move { g.generate(small("two", 2), None).await }
    });
    let (a, b) = (
        a.await.expect("join").expect("a"),
        b.await.expect("join").expect("b"),
    );
    assert_ne!(a.png, b.png);
}

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    args: pressroom_engine::cli::GenerateArgs,
}

#[tokio::test]
async fn cli_contract_parses_and_writes_a_png() {
    use clap::Parser as _;
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tmp.path().join("tiny");
    pressroom_engine::cli::run_init_tiny(pressroom_engine::cli::InitTinyArgs {
        dir: model.clone(),
        seed: 1,
    })
    .expect("init-tiny");
    let out = tmp.path().join("out/kite.png");
    let model_s = model.to_string_lossy().to_string();
    let out_s = out.to_string_lossy().to_string();
    let cli = Cli::try_parse_from([
        "generate",
        "--model",
        &model_s,
        "--seed",
        "3",
        "--steps",
        "2",
        "--scheduler",
        "dpmpp-2m",
        "--guidance",
        "6.5",
        "--width",
        "64",
        "--height",
        "48",
        "--negative",
        "blurry",
        "--output",
        &out_s,
        "--device",
        "cpu",
        "a kite over the sea",
    ])
    .expect("parse");
    assert_eq!(cli.args.scheduler, NoiseScheduler::DpmPp2m);
    assert_eq!(cli.args.negative.as_deref(), Some("blurry"));
    pressroom_engine::cli::run_generate(cli.args)
        .await
        .expect("generate");
    let png = std::fs::read(&out).expect("output written");
    let dims = image::ImageReader::new(std::io::Cursor::new(png))
        .with_guessed_format()
        .expect("format")
        .into_dimensions()
        .expect("dims");
    assert_eq!(dims, (64, 48));
    assert!(
        Cli::try_parse_from([
            "generate",
            "--model",
            "m",
            "--output",
            "o",
            "--scheduler",
            "pndm",
            "p"
        ])
        .is_err()
    );
}

#[tokio::test]
async fn dropping_the_waiting_future_cancels_the_engine_work() {
    let model = tempfile::tempdir().expect("tempdir");
    init_tiny_model(model.path(), 11).expect("tiny");
    let engine = Arc::new(
        DiffusionGenerator::load_async(model.path(), DeviceChoice::cpu(), EngineConfig::default())
            .await
            .expect("load"),
    );
    let (started_tx, started) = tokio::sync::mpsc::unbounded_channel();
    let progress: ProgressFn = Arc::new(move |_| {
        let _ = started_tx.send(());
    });
    let mut long = small("a very long job", 1);
    long.steps = 500;
    let task = tokio::spawn({
        let engine = engine.clone();
        async move { engine.generate_for("ws-a", long, Some(progress)).await }
    });
    let mut started = started;
    started.recv().await.expect("the long job runs");
    // The HTTP client hangs up: its handler future, and this one with it, is dropped.
    task.abort();
    // The engine serves one batch at a time: this one runs after the long one has stopped.
    engine
        .generate_for("ws-b", small("next", 2), None)
        .await
        .expect("next");
    let steps = engine.engine().stats().steps;
    assert!(steps < 50, "the dropped request ran on: {steps} steps");
}

#[tokio::test]
async fn a_full_engine_queue_is_a_rate_limit_to_retry() {
    let model = tempfile::tempdir().expect("tempdir");
    init_tiny_model(model.path(), 11).expect("tiny");
    let config = EngineConfig {
        queue_capacity: 0,
        busy_retry_after: std::time::Duration::from_secs(9),
        ..EngineConfig::default()
    };
    let engine = DiffusionGenerator::load_async(model.path(), DeviceChoice::cpu(), config)
        .await
        .expect("load");
    let err = engine
        .generate(small("busy", 1), None)
        .await
        .expect_err("no room");
    assert!(err.is_retryable(), "{err}");
    assert!(
        matches!(
            err,
            GenerateError::RateLimited {
                retry_after: Some(d),
                ..
            } if d == std::time::Duration::from_secs(9)
        ),
        "{err}"
    );
}
