//! Imported single-file checkpoints generate what their diffusers folders generate:
//! `scripts/models/make_single_file.py` builds tiny SD 1.x, SD 2.x and SDXL pipelines (published
//! configs, the real CLIP vocabulary) and the same weights in the A1111 single-file layout
//! (proved by diffusers' `from_single_file`); `pressroom_models::import` converts the file, and
//! our engine must render identical pixels from both folders with every sampler.
//!
//! Needs the project venv (`scripts/setup.sh`); set `PRESSROOM_PYTHON` to use another python.

use std::path::Path;
use std::sync::OnceLock;

use pressroom_diffusion::{BatchParams, DeviceChoice, NoiseScheduler, Prompt, StableDiffusion};
use pressroom_models::ModelStore;
use pressroom_models::import::{ImportOptions, Prediction, import};

use crate::reference::run_script;

const PROMPT: &str = "a photo of an astronaut riding a horse on the moon";
const NEGATIVE: &str = "blurry, low quality";

/// The script's output (OUT/<family>/{diffusers/, model.safetensors}), made once.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        run_script(
            "models/make_single_file.py",
            &["--families", "sd1,sd2,sdxl"],
        )
    })
    .path()
}

fn std_of(pixels: &[u8]) -> f64 {
    let n = pixels.len() as f64;
    let mean = pixels.iter().map(|&p| p as f64).sum::<f64>() / n;
    (pixels
        .iter()
        .map(|&p| (p as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
}

fn check(family: &str, prediction: Option<Prediction>) {
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = ModelStore::under(store_dir.path());
    let options = ImportOptions {
        name: Some(family.into()),
        prediction,
        force: false,
    };
    let file = fixtures().join(family).join("model.safetensors");
    let imported = import(&store, &file, &options).expect("import");
    let ours = StableDiffusion::load(&imported.path, DeviceChoice::cpu()).expect("load imported");
    let reference = fixtures().join(family).join("diffusers");
    let theirs = StableDiffusion::load(&reference, DeviceChoice::cpu()).expect("load reference");
    let _g = tch::no_grad_guard();
    for scheduler in NoiseScheduler::ALL {
        let turbo = scheduler == NoiseScheduler::Turbo;
        let params = BatchParams {
            steps: if turbo { 1 } else { 3 },
            scheduler,
            width: 64,
            height: 64,
        };
        let prompts = [Prompt {
            prompt: PROMPT.into(),
            negative_prompt: (!turbo).then(|| NEGATIVE.to_string()),
            seed: 1234,
            guidance: if turbo { 0.0 } else { 7.5 },
        }];
        let a = ours
            .generate(&params, &prompts, &mut |_, _| {})
            .expect("generate from the imported folder");
        let b = theirs
            .generate(&params, &prompts, &mut |_, _| {})
            .expect("generate from the diffusers folder");
        let (a, b) = (&a[0].data, &b[0].data);
        assert!(
            std_of(b) > 5.0,
            "{family} {scheduler:?}: the reference image is flat"
        );
        let d = a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| (*x as i32 - *y as i32).abs())
            .max()
            .unwrap_or(255);
        assert_eq!(a.len(), b.len(), "{family} {scheduler:?}: image sizes");
        assert_eq!(
            d, 0,
            "{family} {scheduler:?}: imported and diffusers folders differ by {d}/255"
        );
    }
}

#[test]
fn imported_sd1_checkpoint_renders_like_its_diffusers_folder() {
    check("sd1", None);
}

#[test]
fn imported_sd2_v_checkpoint_renders_like_its_diffusers_folder() {
    check("sd2", Some(Prediction::V));
}

#[test]
fn imported_sdxl_checkpoint_renders_like_its_diffusers_folder() {
    check("sdxl", None);
}
