//! Parity with the reference implementation: `scripts/diffusion/make_reference.py` builds tiny
//! random pipelines with Python diffusers (SD 1.x-style, and SD 2.x-style with linear
//! projections and v-prediction), and we compare tokenizer ids, text encoder, UNet and VAE
//! outputs, and full images per sampler. It also renders the folder our `init_tiny_model`
//! writes, to prove diffusers accepts it.
//!
//! Needs the project venv (`scripts/setup.sh`); set `PRESSROOM_PYTHON` to use another python.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::OnceLock;

use pressroom_diffusion::{
    BatchParams, DeviceChoice, NoiseScheduler, Prompt, StableDiffusion, init_tiny_model,
};
use tch::{Kind, Tensor};

use crate::reference::run_script_in;

const PROMPT: &str = "a photo of an astronaut riding a horse on the moon";
const NEGATIVE: &str = "blurry, low quality";
const SEED: u64 = 1234;

/// Runs the reference script once per test binary; returns its output directory.
fn reference_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let ours = dir.path().join("ours-model");
        init_tiny_model(&ours, 5).expect("init tiny");
        run_script_in(
            dir,
            "diffusion/make_reference.py",
            &[OsStr::new("--ours"), ours.as_os_str()],
        )
    })
    .path()
}

pub(crate) fn load_ref(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .expect("reference tensors")
        .into_iter()
        .collect()
}

pub(crate) fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[])
}

pub(crate) fn image_diff(ours: &[u8], theirs: &Tensor) -> i32 {
    let theirs = Vec::<u8>::try_from(&theirs.flatten(0, -1)).expect("u8");
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(&theirs)
        .map(|(a, b)| (*a as i32 - *b as i32).abs())
        .max()
        .unwrap_or(0)
}

pub(crate) fn std_of(img: &Tensor) -> f64 {
    img.to_kind(Kind::Double).std(true).double_value(&[])
}

fn check_variant(variant: &str) {
    let root = reference_dir().join(variant);
    let r = load_ref(&root.join("reference.safetensors"));
    let sd = StableDiffusion::load(&root.join("model"), DeviceChoice::cpu()).expect("load");
    let _g = tch::no_grad_guard();

    // Tokenizer (this folder has transformers' tokenizer.json).
    let ids: Vec<i64> = [PROMPT, ""]
        .iter()
        .flat_map(|p| sd.tokenizer.encode(p).expect("encode"))
        .collect();
    let want = Vec::<i64>::try_from(&r["ids"].flatten(0, -1)).expect("ids");
    assert_eq!(ids, want, "{variant}: token ids");

    // Text encoder.
    let emb = sd.encode_text(&[PROMPT, ""]).expect("text");
    let d = max_abs(&emb, &r["text_emb"]);
    assert!(d < 1e-4, "{variant}: text encoder differs by {d}");

    // UNet on fixed inputs.
    let out = sd.unet.forward(&r["unet_in"], &r["unet_t"], &r["text_emb"]);
    let d = max_abs(&out, &r["unet_out"]);
    assert!(d < 1e-4, "{variant}: unet differs by {d}");

    // VAE decode.
    let img = sd.vae.decode(&r["vae_in"]);
    let d = max_abs(&img, &r["vae_out"]);
    assert!(d < 1e-4, "{variant}: vae differs by {d}");

    // Initial latents from the seed.
    let params = |scheduler| BatchParams {
        steps: 4,
        scheduler,
        width: 64,
        height: 64,
    };
    let noise = sd.initial_noise(SEED, &params(NoiseScheduler::Ddim));
    assert_eq!(
        max_abs(&noise, &r["latents0"]),
        0.0,
        "{variant}: initial latents"
    );

    // Full pipeline images.
    for (kind, key, negative, steps, guidance) in [
        (NoiseScheduler::Ddim, "image_ddim", None, 4, 7.5),
        (NoiseScheduler::Euler, "image_euler", None, 4, 7.5),
        (
            NoiseScheduler::EulerAncestral,
            "image_euler-a",
            None,
            4,
            7.5,
        ),
        (NoiseScheduler::DpmPp2m, "image_dpmpp-2m", None, 4, 7.5),
        (
            NoiseScheduler::Ddim,
            "image_ddim_neg",
            Some(NEGATIVE),
            4,
            7.5,
        ),
        (NoiseScheduler::Turbo, "image_turbo", None, 1, 0.0),
    ] {
        let prompt = Prompt {
            prompt: PROMPT.into(),
            negative_prompt: negative.map(str::to_string),
            seed: SEED,
            guidance,
        };
        let p = BatchParams {
            steps,
            ..params(kind)
        };
        let ours = sd
            .generate(&p, &[prompt], &mut |_, _| {})
            .expect("generate");
        let theirs = &r[key];
        assert!(
            std_of(theirs) > 5.0,
            "{variant}/{key}: reference image is flat"
        );
        let d = image_diff(&ours[0].data, theirs);
        eprintln!("{variant} {key}: max pixel difference {d}/255");
        assert!(d <= 2, "{variant} {key}: max pixel difference {d}/255");
    }

    // clip_skip = 1: the second-to-last hidden state, final-layer-normed.
    let sd = sd.with_clip_skip(1).expect("clip skip");
    let emb = sd.encode_text(&[PROMPT]).expect("text");
    let d = max_abs(&emb, &r["text_emb_skip1"]);
    assert!(d < 1e-4, "{variant}: clip_skip 1 text differs by {d}");
    let ours = sd
        .generate(
            &params(NoiseScheduler::Ddim),
            &[Prompt {
                prompt: PROMPT.into(),
                negative_prompt: None,
                seed: SEED,
                guidance: 7.5,
            }],
            &mut |_, _| {},
        )
        .expect("generate");
    let d = image_diff(&ours[0].data, &r["image_ddim_skip1"]);
    assert!(d <= 2, "{variant}: clip_skip 1 image differs by {d}/255");
    assert!(
        sd.with_clip_skip(5).is_err(),
        "a clip skip of every layer is refused"
    );
}

#[test]
fn sd1_style_matches_diffusers() {
    check_variant("sd1");
}

#[test]
fn sd2_style_linear_projection_v_prediction_matches_diffusers() {
    check_variant("sd2");
}

/// SD 1.5's published scheduler config (PNDM, no `timestep_spacing` key): each sampler takes
/// its own class's default spacing, as diffusers' `from_config` does: "linspace" for Euler,
/// Euler ancestral and DPM++ (the writing class's "leading" put Euler 43/255 apart).
#[test]
fn published_sd15_scheduler_config_spaces_timesteps_like_diffusers() {
    check_variant("sd1-pndm");
}

#[test]
fn diffusers_renders_our_tiny_model_like_we_do() {
    let dir = reference_dir();
    let r = load_ref(&dir.join("ours/reference.safetensors"));
    let sd = StableDiffusion::load(&dir.join("ours-model"), DeviceChoice::cpu()).expect("load");
    let ours = sd
        .generate(
            &BatchParams {
                steps: 3,
                scheduler: NoiseScheduler::Ddim,
                width: 128,
                height: 128,
            },
            &[Prompt {
                prompt: PROMPT.into(),
                negative_prompt: None,
                seed: SEED,
                guidance: 7.5,
            }],
            &mut |_, _| {},
        )
        .expect("generate");
    let d = image_diff(&ours[0].data, &r["image_ddim"]);
    eprintln!("tiny model via diffusers: max pixel difference {d}/255");
    assert!(
        d <= 2,
        "our tiny model renders differently in diffusers: {d}/255"
    );
}
