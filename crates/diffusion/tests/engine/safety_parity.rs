//! The image safety checker against diffusers' `StableDiffusionSafetyChecker`:
//! `scripts/diffusion/make_reference_safety.py` builds a tiny random checker whose concept
//! embeddings come from its test images (one flagged by a concept, one only through the
//! special-care adjustment, two not; two of the size of generated images, so the
//! preprocessing downscales them), and we compare preprocessing, embeddings and verdicts;
//! then the engine withholds an image such a checker flags.

use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use pressroom_diffusion::safety::SafetyChecker;
use pressroom_diffusion::{
    DeviceChoice, DiffusionError, Engine, EngineConfig, RgbImage, init_tiny_model,
};
use tch::{Device, Kind, Tensor};

use crate::engine_limits::request;
use crate::parity::load_ref;
use crate::reference::run_script;

fn reference_dir() -> std::path::PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| run_script::<&str>("diffusion/make_reference_safety.py", &[]))
        .path()
        .join("safety")
}

fn rgb(t: &Tensor) -> RgbImage {
    let s = t.size();
    RgbImage {
        width: s[1] as u32,
        height: s[0] as u32,
        data: Vec::<u8>::try_from(&t.flatten(0, -1)).expect("u8"),
    }
}

#[test]
fn verdicts_match_diffusers() {
    let root = reference_dir();
    let r = load_ref(&root.join("reference.safetensors"));
    let checker = SafetyChecker::load_from(&root.join("model"), Device::Cpu)
        .expect("load")
        .expect("the folder has a safety checker");
    let mut images = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let img = rgb(&r[&format!("image_{name}")]);
        let pixels = checker.preprocess(&img).expect("preprocess");
        let theirs = &r[&format!("pixels_{name}")];
        // Bicubic resampling (PIL's vs the image crate's) differs by a level or two of 255
        // at some pixels; in CLIP-normalised units one level is about 0.015.
        let d = (&pixels - theirs).abs().max().double_value(&[]);
        let mean = (&pixels - theirs)
            .abs()
            .mean(Kind::Double)
            .double_value(&[]);
        eprintln!("safety {name}: preprocessing max diff {d:.4}, mean {mean:.5}");
        assert!(
            mean < 0.01,
            "{name}: preprocessing differs on average by {mean}"
        );
        let ours = checker.image_embeds(&pixels);
        let theirs = &r[&format!("embeds_{name}")];
        let cos = Tensor::cosine_similarity(&ours, theirs, -1, 1e-8).double_value(&[0]);
        eprintln!("safety {name}: embedding cosine to diffusers' {cos:.6}");
        assert!(cos > 0.999, "{name}: embedding differs (cosine {cos})");
        images.push(img);
    }
    let verdicts = checker.check(&images).expect("check");
    let flags: Vec<u8> = verdicts.iter().map(|v| u8::from(v.flagged())).collect();
    let want = Vec::<u8>::try_from(&r["flagged"]).expect("flags");
    assert_eq!(flags, want, "flags (a, b, c, d)");
    assert_eq!(verdicts[0].concepts, vec![0], "a matches concept 0");
    assert_eq!(
        (verdicts[2].special.clone(), verdicts[2].concepts.clone()),
        (vec![0], vec![2]),
        "c is flagged only through the special-care adjustment"
    );
    assert!(verdicts[2].reason().contains("special care 0"));
}

#[test]
fn the_engine_withholds_a_flagged_image() {
    let root = reference_dir();
    let dir = tempfile::tempdir().expect("tempdir");
    init_tiny_model(dir.path(), 3).expect("tiny model");
    for part in ["safety_checker", "feature_extractor"] {
        let from = root.join("flag_all").join(part);
        let to = dir.path().join(part);
        std::fs::create_dir_all(&to).expect("mkdir");
        for entry in std::fs::read_dir(&from).expect("read dir") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
    let engine =
        Engine::start(dir.path(), DeviceChoice::cpu(), EngineConfig::default()).expect("engine");
    let (tx, rx) = mpsc::channel();
    engine.submit(request("", "flagged", 2, &tx));
    let (_, reply) = rx
        .recv_timeout(Duration::from_secs(300))
        .expect("the engine answers");
    match reply {
        Err(DiffusionError::Unsafe(reason)) => {
            assert!(reason.contains("safety checker flagged"), "{reason}")
        }
        other => panic!("expected the image withheld, got {other:?}"),
    }
}
