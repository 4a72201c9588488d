//! The engine end to end on the tiny random model written by `init_tiny_model`: loading,
//! every sampler, determinism, batching, and the load-time error messages.

use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};

use pressroom_diffusion::{
    BatchParams, DeviceChoice, DiffusionError, Engine, EngineConfig, EngineRequest, EngineStats,
    NoiseScheduler, Prompt, StableDiffusion, init_tiny_model,
};

fn tiny(dir: &Path) -> StableDiffusion {
    init_tiny_model(dir, 7).expect("init tiny");
    StableDiffusion::load(dir, DeviceChoice::cpu()).expect("load tiny")
}

fn params(scheduler: NoiseScheduler, steps: u32, size: u32) -> BatchParams {
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
    for kind in NoiseScheduler::ALL {
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
    let p = params(NoiseScheduler::EulerAncestral, 2, 64);
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
    let p = params(NoiseScheduler::EulerAncestral, 2, 64);
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
    // A long window so that slow CI cannot split the batch; a full batch starts at once.
    let engine = Engine::start(
        dir.path(),
        DeviceChoice::cpu(),
        EngineConfig {
            batch_window: std::time::Duration::from_secs(2),
            max_batch: 3,
            ..EngineConfig::default()
        },
    )
    .expect("engine");
    assert!(engine.identity().contains("sha256:"));
    assert_eq!(engine.stats(), EngineStats::default());
    let (tx, rx) = mpsc::channel();
    let progress = Arc::new(Mutex::new(Vec::new()));
    // Three compatible requests, then one with other steps that cannot join their batch.
    for (seed, steps) in [(0u64, 2u32), (1, 2), (2, 2), (3, 1)] {
        let tx = tx.clone();
        let progress = progress.clone();
        engine.submit(EngineRequest {
            params: params(NoiseScheduler::Ddim, steps, 64),
            prompt: prompt("lighthouse", seed, 6.0),
            tenant: "ws".into(),
            cancel: Default::default(),
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
    for _ in 0..4 {
        let (seed, r) = rx.recv().expect("reply");
        got.push((seed, r.expect("image").width));
    }
    got.sort();
    assert_eq!(got, vec![(0, 64), (1, 64), (2, 64), (3, 64)]);
    assert_eq!(
        engine.stats(),
        EngineStats {
            batches: 2,
            requests: 4,
            largest_batch: 3,
            steps: 3,
        },
        "the three compatible requests ran as one batch, the fourth alone"
    );
    let p = progress.lock().expect("lock").clone();
    assert_eq!(
        p.len(),
        7,
        "two steps for three requests, one for the fourth: {p:?}"
    );
    // In one batch every request hears step 1 before any hears step 2.
    let first_step2 = p.iter().position(|&(_, s, t)| (s, t) == (2, 2));
    let last_step1 = p.iter().rposition(|&(seed, s, _)| seed < 3 && s == 1);
    assert!(last_step1 < first_step2, "{p:?}");
}

#[test]
fn invalid_requests_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = tiny(dir.path());
    let err = sd
        .generate(
            &params(NoiseScheduler::Ddim, 2, 60),
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

/// A 256×256 request (the demo size) comes back at that size with a non-constant image.
/// Speed is measured by the benchmark, never asserted here.
#[test]
fn tiny_256_generation_has_the_requested_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = tiny(dir.path());
    let imgs = sd
        .generate(
            &params(NoiseScheduler::Euler, 4, 256),
            &[prompt("demo", 42, 7.0)],
            &mut |_, _| {},
        )
        .expect("generate");
    assert_eq!((imgs[0].width, imgs[0].height), (256, 256));
    assert_eq!(imgs[0].data.len(), 256 * 256 * 3);
    let min = imgs[0].data.iter().min().copied().unwrap_or(0);
    let max = imgs[0].data.iter().max().copied().unwrap_or(0);
    assert!(max > min, "image is constant");
}

#[test]
fn vae_with_legacy_attention_names_loads_and_matches() {
    vae_with_legacy_attention_loads_and_matches(false);
}

/// VAE files converted from the original LDM checkpoints keep the legacy names and store the
/// projections as `[c, c, 1, 1]` 1x1 convolutions.
#[test]
fn vae_with_legacy_conv_attention_weights_loads_and_matches() {
    vae_with_legacy_attention_loads_and_matches(true);
}

fn vae_with_legacy_attention_loads_and_matches(as_conv: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = tiny(dir.path());
    let _g = tch::no_grad_guard();
    tch::manual_seed(3);
    let latents = tch::Tensor::randn([1, 4, 8, 8], (tch::Kind::Float, tch::Device::Cpu));
    let pixels =
        tch::Tensor::rand([1, 3, 64, 64], (tch::Kind::Float, tch::Device::Cpu)) * 2.0 - 1.0;
    let decoded = sd.vae.decode(&latents);
    let encoded = sd.vae.encode(&pixels);
    drop(sd);

    // Rewrite the VAE file with the names older diffusers/LDM conversions use.
    let vae_file = dir.path().join("vae/diffusion_pytorch_model.safetensors");
    let tensors = tch::Tensor::read_safetensors(&vae_file).expect("read");
    let mut renamed = 0;
    let mut reshaped = 0;
    let legacy: Vec<(String, tch::Tensor)> = tensors
        .into_iter()
        .map(|(k, v)| {
            let mut name = k.clone();
            let mut v = v;
            for (new, old) in [
                (".to_q.", ".query."),
                (".to_k.", ".key."),
                (".to_v.", ".value."),
                (".to_out.0.", ".proj_attn."),
            ] {
                if k.contains(".attentions.0") && k.contains(new) {
                    name = k.replace(new, old);
                    renamed += 1;
                    if as_conv && name.ends_with(".weight") {
                        let s = v.size();
                        v = v.reshape([s[0], s[1], 1, 1]);
                        reshaped += 1;
                    }
                }
            }
            (name, v)
        })
        .collect();
    // Encoder and decoder mid blocks: 4 projections × (weight, bias) each.
    assert_eq!(renamed, 16);
    assert_eq!(reshaped, if as_conv { 8 } else { 0 });
    assert!(!legacy.iter().any(|(k, _)| k.contains("to_q")));
    tch::Tensor::write_safetensors(&legacy, &vae_file).expect("write legacy");

    let sd = StableDiffusion::load(dir.path(), DeviceChoice::cpu()).expect("load legacy names");
    let max_diff = |a: &tch::Tensor, b: &tch::Tensor| (a - b).abs().max().double_value(&[]);
    assert_eq!(max_diff(&decoded, &sd.vae.decode(&latents)), 0.0);
    assert_eq!(max_diff(&encoded, &sd.vae.encode(&pixels)), 0.0);
}

#[test]
fn half_precision_weight_files_load_and_match() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = tiny(dir.path());
    let p = params(NoiseScheduler::Ddim, 2, 64);
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

    // SD 2.x folders pad with "!" instead of the end-of-text token (transformers reads it
    // from special_tokens_map.json over tokenizer_config.json, so both say it here).
    for file in ["tokenizer_config.json", "special_tokens_map.json"] {
        let path = tok_dir.join(file);
        let mut cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        cfg["pad_token"] = serde_json::json!("!");
        std::fs::write(&path, cfg.to_string()).expect("write");
    }
    let tok = pressroom_diffusion::tokenizer::ClipTokenizer::load(&tok_dir, 77).expect("tokenizer");
    let padded = tok.encode("The cat").expect("encode");
    assert_eq!(padded[..used], ids[..used]);
    assert!(
        padded[used..].iter().all(|&i| i == 0),
        "`!` is the first byte token, id 0"
    );
}

/// Explicit initial noise (what the GPU check passes to both us and diffusers) gives the
/// seeded image when it is the seed's own draw, another image otherwise; the per-step hook
/// sees every step's latents.
#[test]
fn given_initial_noise_replaces_the_seeded_draw() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = tiny(dir.path());
    for kind in [NoiseScheduler::Ddim, NoiseScheduler::EulerAncestral] {
        let p = params(kind, 3, 64);
        let reqs = [prompt("a lighthouse", 11, 7.5)];
        let seeded = sd.generate(&p, &reqs, &mut |_, _| {}).expect("seeded");
        let noise = sd.initial_noise(11, &p);
        let mut seen = Vec::new();
        let given = sd
            .generate_with(&p, &reqs, Some(&noise), &mut |s, t, x| {
                let finite = x.isfinite().all().int64_value(&[]) != 0;
                seen.push((s, t, x.size(), finite));
            })
            .expect("given noise");
        assert_eq!(
            given[0].data, seeded[0].data,
            "{kind}: same noise, same image"
        );
        assert_eq!(
            seen,
            (1..=3)
                .map(|s| (s, 3, vec![1, 4, 8, 8], true))
                .collect::<Vec<_>>()
        );
        let other = sd.initial_noise(12, &p);
        let moved = sd
            .generate_with(&p, &reqs, Some(&other), &mut |_, _, _| {})
            .expect("other noise");
        assert_ne!(
            moved[0].data, seeded[0].data,
            "{kind}: the given noise is used"
        );
    }
    let p = params(NoiseScheduler::Ddim, 2, 64);
    let wrong = tch::Tensor::zeros([1, 4, 4, 4], (tch::Kind::Float, tch::Device::Cpu));
    let err = sd
        .generate_with(&p, &[prompt("x", 1, 7.5)], Some(&wrong), &mut |_, _, _| {})
        .expect_err("wrong shape");
    assert!(matches!(err, DiffusionError::InvalidRequest(_)), "{err}");
}

/// A VAE decode that overflows the run precision (fp16 tops out at 65504) is redone in fp32,
/// and later decodes stay in fp32. Runs the fp16 path on CPU, where libtorch has the kernels.
#[test]
fn vae_overflow_in_half_precision_falls_back_to_fp32() {
    let dir = tempfile::tempdir().expect("tempdir");
    init_tiny_model(dir.path(), 7).expect("init tiny");
    let half = DeviceChoice {
        device: tch::Device::Cpu,
        kind: tch::Kind::Half,
    };
    let sd16 = StableDiffusion::load(dir.path(), half).expect("load fp16");
    let sd32 = StableDiffusion::load(dir.path(), DeviceChoice::cpu()).expect("load fp32");
    tch::manual_seed(5);
    let z = tch::Tensor::randn([1, 4, 8, 8], (tch::Kind::Float, tch::Device::Cpu));

    sd16.decode(&z).expect("ordinary decode");
    assert!(!sd16.vae_upcast(), "ordinary latents decode in fp16");

    let huge = &z * 1e6;
    let _g = tch::no_grad_guard();
    let in_half = sd16.vae.decode(&huge.to_kind(tch::Kind::Half));
    assert_eq!(
        in_half.isfinite().all().int64_value(&[]),
        0,
        "the test input must overflow fp16"
    );
    let img = sd16.decode(&huge).expect("decode with fallback");
    assert!(sd16.vae_upcast());
    assert_eq!(img[0].data, sd32.decode(&huge).expect("fp32")[0].data);
    // Sticky: an ordinary decode now runs in fp32 too, giving the fp32 pixels.
    assert_eq!(
        sd16.decode(&z).expect("after")[0].data,
        sd32.decode(&z).expect("fp32")[0].data
    );
}

/// A folder without a manifest is hashed once: the digests are remembered beside the weights
/// and trusted while each file keeps its size and mtime (a remembered digest that is wrong
/// shows in the identity, which proves it was not recomputed); a file touched since is
/// hashed again.
#[test]
fn weights_without_a_manifest_are_hashed_once_and_again_when_changed() {
    use pressroom_diffusion::digest_cache::FILE;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = tiny(dir.path()).identity().to_owned();
    let cache = dir.path().join(FILE);
    let text = std::fs::read_to_string(&cache).expect("the digests are remembered");
    let mut entries: Vec<serde_json::Value> = serde_json::from_str(&text).expect("JSON");
    assert_eq!(entries.len(), 3, "text encoder, UNet and VAE: {text}");
    let again = StableDiffusion::load(dir.path(), DeviceChoice::cpu()).expect("load");
    assert_eq!(again.identity(), first);

    let unet = entries
        .iter_mut()
        .find(|e| e["path"] == "unet/diffusion_pytorch_model.safetensors")
        .expect("the UNet's entry");
    unet["sha256"] = serde_json::json!("0".repeat(64));
    std::fs::write(&cache, serde_json::to_string(&entries).expect("JSON")).expect("write");
    let trusted = StableDiffusion::load(dir.path(), DeviceChoice::cpu()).expect("load");
    assert_ne!(trusted.identity(), first, "the remembered digest was used");

    let weights = dir.path().join("unet/diffusion_pytorch_model.safetensors");
    let file = std::fs::File::options()
        .write(true)
        .open(&weights)
        .expect("open");
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .expect("touch");
    drop(file);
    let rehashed = StableDiffusion::load(dir.path(), DeviceChoice::cpu()).expect("load");
    assert_eq!(rehashed.identity(), first, "a changed file is hashed again");
}
