//! The engine end to end on the tiny random model written by `init_tiny_model`: loading,
//! every sampler, determinism, batching, and the load-time error messages.

use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};

use pressroom_diffusion::{
    BatchParams, DeviceChoice, DiffusionError, Engine, EngineConfig, EngineRequest, Prompt,
    SchedulerKind, StableDiffusion, init_tiny_model,
};

fn tiny(dir: &Path) -> StableDiffusion {
    init_tiny_model(dir, 7).expect("init tiny");
    StableDiffusion::load(dir, DeviceChoice::cpu()).expect("load tiny")
}

fn params(scheduler: SchedulerKind, steps: u32, size: u32) -> BatchParams {
    BatchParams {
        steps,
        scheduler,
        width: size,
        height: size,
    }
}

fn prompt(text: &str, seed: u64, guidance: f32) -> Prompt {
    Prompt {
        prompt: text.into(),
        negative_prompt: None,
        seed,
        guidance,
    }
}

#[test]
fn tiny_model_generates_with_every_scheduler() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = tiny(dir.path());
    for kind in SchedulerKind::ALL {
        let mut steps_seen = Vec::new();
        let imgs = sd
            .generate(
                &params(kind, 3, 64),
                &[prompt("a red bicycle", 1, 7.5)],
                &mut |s, t| steps_seen.push((s, t)),
            )
            .expect("generate");
        assert_eq!(imgs.len(), 1);
        let img = &imgs[0];
        assert_eq!((img.width, img.height), (64, 64));
        assert_eq!(img.data.len(), 64 * 64 * 3);
        assert_eq!(steps_seen, vec![(1, 3), (2, 3), (3, 3)], "{kind}");
        let min = img.data.iter().min().copied().unwrap_or(0);
        let max = img.data.iter().max().copied().unwrap_or(0);
        assert!(max > min, "{kind}: image is constant");
        let png = img.to_png().expect("png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}

#[test]
fn same_seed_same_image_and_seeds_differ() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = tiny(dir.path());
    let p = params(SchedulerKind::EulerAncestral, 2, 64);
    let a = sd
        .generate(&p, &[prompt("cat", 5, 5.0)], &mut |_, _| {})
        .expect("a");
    let b = sd
        .generate(&p, &[prompt("cat", 5, 5.0)], &mut |_, _| {})
        .expect("b");
    let c = sd
        .generate(&p, &[prompt("cat", 6, 5.0)], &mut |_, _| {})
        .expect("c");
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn batched_requests_match_single_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = tiny(dir.path());
    let p = params(SchedulerKind::EulerAncestral, 2, 64);
    let reqs = [prompt("one", 1, 4.0), prompt("two", 2, 9.0)];
    let batched = sd.generate(&p, &reqs, &mut |_, _| {}).expect("batch");
    for (i, r) in reqs.iter().enumerate() {
        let single = sd
            .generate(&p, std::slice::from_ref(r), &mut |_, _| {})
            .expect("single");
        let diff = single[0]
            .data
            .iter()
            .zip(&batched[i].data)
            .map(|(a, b)| (*a as i32 - *b as i32).abs())
            .max()
            .unwrap_or(0);
        assert!(
            diff <= 1,
            "request {i}: batched differs from single by {diff}"
        );
    }
}

#[test]
fn engine_thread_batches_and_reports_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    init_tiny_model(dir.path(), 3).expect("init");
    let engine = Engine::start(
        dir.path(),
        DeviceChoice::cpu(),
        EngineConfig {
            batch_window: std::time::Duration::from_millis(200),
            max_batch: 4,
        },
    )
    .expect("engine");
    assert!(engine.identity().contains("sha256:"));
    let (tx, rx) = mpsc::channel();
    let progress = Arc::new(Mutex::new(Vec::new()));
    for seed in 0..3u64 {
        let tx = tx.clone();
        let progress = progress.clone();
        engine.submit(EngineRequest {
            params: params(SchedulerKind::Ddim, 2, 64),
            prompt: prompt("lighthouse", seed, 6.0),
            progress: Some(Box::new(move |s, t| {
                if let Ok(mut p) = progress.lock() {
                    p.push((seed, s, t));
                }
            })),
            reply: Box::new(move |r| {
                let _ = tx.send((seed, r));
            }),
        });
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        let (seed, r) = rx.recv().expect("reply");
        got.push((seed, r.expect("image").width));
    }
    got.sort();
    assert_eq!(got, vec![(0, 64), (1, 64), (2, 64)]);
    let p = progress.lock().expect("lock").clone();
    assert_eq!(p.len(), 6, "two steps for each of three requests: {p:?}");
}

#[test]
fn invalid_requests_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = tiny(dir.path());
    let err = sd
        .generate(
            &params(SchedulerKind::Ddim, 2, 60),
            &[prompt("x", 1, 1.0)],
            &mut |_, _| {},
        )
        .expect_err("60 is not a multiple of 8");
    assert!(matches!(err, DiffusionError::InvalidRequest(_)), "{err}");
}

#[test]
fn load_errors_name_the_file_and_tensor() {
    let dir = tempfile::tempdir().expect("tempdir");
    init_tiny_model(dir.path(), 1).expect("init");

    // Shape mismatch: claim a wider cross-attention than the weights have.
    let cfg_path = dir.path().join("unet/config.json");
    let original = std::fs::read_to_string(&cfg_path).expect("read");
    let mut cfg: serde_json::Value = serde_json::from_str(&original).expect("json");
    cfg["cross_attention_dim"] = serde_json::json!(48);
    std::fs::write(&cfg_path, cfg.to_string()).expect("write");
    let err = StableDiffusion::load(dir.path(), DeviceChoice::cpu())
        .err()
        .expect("mismatch");
    let msg = err.to_string();
    assert!(
        msg.contains("attn2.to_k.weight") && msg.contains("[32, 48]") && msg.contains("[32, 32]"),
        "{msg}"
    );
    std::fs::write(&cfg_path, &original).expect("restore");

    // Missing tensor: one more layer than the file has.
    let te_cfg = dir.path().join("text_encoder/config.json");
    let te_original = std::fs::read_to_string(&te_cfg).expect("read");
    let mut te: serde_json::Value = serde_json::from_str(&te_original).expect("json");
    te["num_hidden_layers"] = serde_json::json!(3);
    std::fs::write(&te_cfg, te.to_string()).expect("write");
    let err = StableDiffusion::load(dir.path(), DeviceChoice::cpu())
        .err()
        .expect("missing");
    assert!(
        matches!(&err, DiffusionError::MissingTensor { name, .. } if name == "text_model.encoder.layers.2.layer_norm1.weight"),
        "{err}"
    );
    std::fs::write(&te_cfg, &te_original).expect("restore");

    // Missing file.
    std::fs::remove_file(dir.path().join("vae/diffusion_pytorch_model.safetensors")).expect("rm");
    let err = StableDiffusion::load(dir.path(), DeviceChoice::cpu())
        .err()
        .expect("missing file");
    assert!(matches!(err, DiffusionError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("vae"), "{err}");
}

#[test]
fn tiny_256_generation_is_fast_on_cpu() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = tiny(dir.path());
    let started = std::time::Instant::now();
    let imgs = sd
        .generate(
            &params(SchedulerKind::Euler, 4, 256),
            &[prompt("demo", 42, 7.0)],
            &mut |_, _| {},
        )
        .expect("generate");
    let elapsed = started.elapsed();
    assert_eq!((imgs[0].width, imgs[0].height), (256, 256));
    assert!(elapsed.as_secs_f64() < 20.0, "took {elapsed:?}");
    eprintln!("tiny 256x256, 4 steps with CFG: {elapsed:?}");
}

#[test]
fn half_precision_weight_files_load_and_match() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = tiny(dir.path());
    let p = params(SchedulerKind::Ddim, 2, 64);
    let reqs = [prompt("harbour", 4, 6.0)];
    let full = sd.generate(&p, &reqs, &mut |_, _| {}).expect("fp32");
    drop(sd);

    // Replace the UNet weights by an fp16 variant file, as many hub folders ship.
    let unet = dir.path().join("unet");
    let f32_file = unet.join("diffusion_pytorch_model.safetensors");
    let tensors = tch::Tensor::read_safetensors(&f32_file).expect("read");
    let half: Vec<(String, tch::Tensor)> = tensors
        .into_iter()
        .map(|(k, v)| (k, v.to_kind(tch::Kind::Half)))
        .collect();
    tch::Tensor::write_safetensors(&half, unet.join("diffusion_pytorch_model.fp16.safetensors"))
        .expect("write fp16");
    std::fs::remove_file(&f32_file).expect("rm fp32");

    let sd = StableDiffusion::load(dir.path(), DeviceChoice::cpu()).expect("load fp16 file");
    let from_half = sd
        .generate(&p, &reqs, &mut |_, _| {})
        .expect("fp16 weights");
    let diff = full[0]
        .data
        .iter()
        .zip(&from_half[0].data)
        .map(|(a, b)| (*a as i32 - *b as i32).abs())
        .max()
        .unwrap_or(0);
    assert!(
        diff <= 8,
        "fp16-rounded weights changed the image by {diff}/255"
    );
}

#[test]
fn tokenizer_pads_with_the_configured_token_and_truncates() {
    let dir = tempfile::tempdir().expect("tempdir");
    init_tiny_model(dir.path(), 2).expect("init");
    let tok_dir = dir.path().join("tokenizer");
    let tok = pressroom_diffusion::tokenizer::ClipTokenizer::load(&tok_dir, 77).expect("tokenizer");
    let ids = tok.encode("The cat").expect("encode");
    assert_eq!(ids.len(), 77);
    let long = tok.encode(&"word ".repeat(200)).expect("encode long");
    assert_eq!(long.len(), 77);
    // The tiny tokenizer pads with its end-of-text token, so the last id is EOS.
    let eos = ids[76];
    let used = ids.iter().position(|&i| i == eos).expect("eos") + 1;
    assert!(used > 3, "bos, some tokens, eos: {:?}", &ids[..used]);
    // BOS first, EOS last after truncation.
    assert_eq!(long[0], ids[0]);
    assert_eq!(long[76], eos, "eos closes a truncated prompt");
    assert_ne!(long[75], eos);

    // SD 2.x folders pad with "!" instead of the end-of-text token.
    let cfg_path = tok_dir.join("tokenizer_config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).expect("read")).expect("json");
    cfg["pad_token"] = serde_json::json!("!");
    std::fs::write(&cfg_path, cfg.to_string()).expect("write");
    let tok = pressroom_diffusion::tokenizer::ClipTokenizer::load(&tok_dir, 77).expect("tokenizer");
    let padded = tok.encode("The cat").expect("encode");
    assert_eq!(padded[..used], ids[..used]);
    assert!(
        padded[used..].iter().all(|&i| i == 0),
        "`!` is the first byte token, id 0"
    );
}
