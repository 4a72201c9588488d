//! SDXL parity with diffusers: `scripts/diffusion/make_reference_sdxl.py` builds a tiny random
//! StableDiffusionXLPipeline (two text encoders, the second with a projection; a UNet with
//! size/crop conditioning and per-block transformer depths) and we compare token ids, the
//! concatenated text conditioning and pooled embedding, the UNet with its added conditioning,
//! and full images per sampler, with and without a negative prompt (zeros when absent), with
//! clip skip, and at a non-square size (the size ids differ).

use std::path::Path;
use std::sync::OnceLock;

use pressroom_diffusion::{BatchParams, DeviceChoice, NoiseScheduler, Prompt, StableDiffusion};
use tch::Tensor;

use crate::parity::{image_diff, load_ref, max_abs, std_of};
use crate::reference::run_script;

const PROMPT: &str = "a photo of an astronaut riding a horse on the moon";
const NEGATIVE: &str = "blurry, low quality";
const SEED: u64 = 1234;

fn reference_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| run_script::<&str>("diffusion/make_reference_sdxl.py", &[]))
        .path()
}

fn ids_of(sd: &StableDiffusion, second: bool) -> Vec<i64> {
    let tok = match (&sd.xl, second) {
        (Some(xl), true) => &xl.tokenizer_2,
        _ => &sd.tokenizer,
    };
    [PROMPT, ""]
        .iter()
        .flat_map(|p| tok.encode(p).expect("encode"))
        .collect()
}

#[test]
fn sdxl_matches_diffusers() {
    let root = reference_dir().join("sdxl");
    let r = load_ref(&root.join("reference.safetensors"));
    let sd = StableDiffusion::load(&root.join("model"), DeviceChoice::cpu()).expect("load SDXL");
    let _g = tch::no_grad_guard();

    for (second, key) in [(false, "ids"), (true, "ids_2")] {
        let want = Vec::<i64>::try_from(&r[key].flatten(0, -1)).expect("ids");
        assert_eq!(ids_of(&sd, second), want, "{key}: token ids");
    }

    let (ctx, pooled) = sd.encode_text_xl(&[PROMPT]).expect("text");
    let d = max_abs(&ctx, &r["prompt_embeds"]);
    assert!(d < 1e-4, "SDXL prompt embeddings differ by {d}");
    let d = max_abs(&pooled, &r["pooled"]);
    assert!(d < 1e-4, "SDXL pooled embedding differs by {d}");

    let added = sd
        .unet
        .added_embedding(&r["pooled"], &r["unet_time_ids"])
        .expect("an SDXL UNet has added conditioning");
    let kv = sd.unet.context_kv(&r["prompt_embeds"]);
    let t = Tensor::from_slice(&[500f32]);
    let out = sd.unet.forward_added(&r["unet_in"], &t, &kv, Some(&added));
    let d = max_abs(&out, &r["unet_out"]);
    assert!(d < 1e-4, "SDXL UNet differs by {d}");

    let image = |sd: &StableDiffusion,
                 scheduler,
                 steps,
                 (width, height),
                 negative: Option<&str>,
                 guidance| {
        sd.generate(
            &BatchParams {
                steps,
                scheduler,
                width,
                height,
            },
            &[Prompt {
                prompt: PROMPT.into(),
                negative_prompt: negative.map(str::to_string),
                seed: SEED,
                guidance,
            }],
            &mut |_, _| {},
        )
        .expect("generate")
        .remove(0)
    };
    let check = |key: &str, ours: &[u8]| {
        let theirs = &r[key];
        assert!(std_of(theirs) > 5.0, "{key}: reference image is flat");
        let d = image_diff(ours, theirs);
        eprintln!("sdxl {key}: max pixel difference {d}/255");
        assert!(d <= 2, "sdxl {key}: max pixel difference {d}/255");
    };
    for (kind, key) in [
        (NoiseScheduler::Ddim, "image_ddim"),
        (NoiseScheduler::Euler, "image_euler"),
        (NoiseScheduler::EulerAncestral, "image_euler-a"),
        (NoiseScheduler::DpmPp2m, "image_dpmpp-2m"),
    ] {
        check(key, &image(&sd, kind, 4, (64, 64), None, 7.5).data);
    }
    let neg = image(&sd, NoiseScheduler::Euler, 4, (64, 64), Some(NEGATIVE), 7.5);
    check("image_euler_neg", &neg.data);
    let wide = image(&sd, NoiseScheduler::Euler, 4, (96, 64), None, 7.5);
    assert_eq!((wide.width, wide.height), (96, 64));
    check("image_euler_wide", &wide.data);
    check(
        "image_turbo",
        &image(&sd, NoiseScheduler::Turbo, 1, (64, 64), None, 0.0).data,
    );
    let sd = sd.with_clip_skip(1).expect("clip skip");
    check(
        "image_euler_skip1",
        &image(&sd, NoiseScheduler::Euler, 4, (64, 64), None, 7.5).data,
    );
}
