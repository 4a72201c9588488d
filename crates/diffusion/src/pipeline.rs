//! A loaded Stable Diffusion model and the text-to-image loop, batched over requests that
//! share size, steps and sampler while each keeps its own prompt, seed and guidance.

use std::cell::{Cell, OnceCell};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use crate::clip::ClipTextModel;
use crate::config::{ClipConfig, ModelIndex, SchedulerConfig, UNetConfig, VaeConfig, read_json};
use crate::device::DeviceChoice;
use crate::error::{DiffusionError, Result};
use crate::image::RgbImage;
use crate::safety::{SafetyChecker, SafetyVerdict};
use crate::scheduler::{NoiseScheduler, Sampler, timestep_tensor};
use crate::tokenizer::ClipTokenizer;
use crate::unet::UNet;
use crate::vae::Vae;
use crate::weights::Weights;

/// The most pixels of one generated image. The VAE decoder's last blocks hold several
/// full-resolution activations of 128-256 channels: about 10 GiB in fp32 at 2048², 5 GiB
/// at this size (per image; batches decode one image at a time).
pub const MAX_PIXELS: u64 = pressroom_core::campaign::GenerationSpec::MAX_LOCAL_PIXELS;

/// Settings shared by every request of one batch.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchParams {
    pub steps: u32,
    pub scheduler: NoiseScheduler,
    pub width: u32,
    pub height: u32,
}

/// What each request in a batch keeps to itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub seed: u64,
    /// Classifier-free guidance scale; ≤ 1 disables the unconditional pass (as diffusers).
    pub guidance: f32,
}

/// The components of a diffusers folder, loaded onto one device.
pub struct StableDiffusion {
    pub tokenizer: ClipTokenizer,
    pub text_encoder: ClipTextModel,
    /// SDXL's second tokenizer and text encoder (with projection), and its pipeline options.
    pub xl: Option<XlParts>,
    pub unet: UNet,
    pub vae: Vae,
    pub scheduler_config: SchedulerConfig,
    device: DeviceChoice,
    /// The VAE in fp32, loaded the first time a decode in the run precision overflows.
    vae_fp32: OnceCell<Vae>,
    /// Set after the first overflow: later decodes go straight to fp32.
    vae_upcast: Cell<bool>,
    identity: String,
    dir: PathBuf,
    /// Text encoder layers skipped from the end (diffusers' `clip_skip`; 0 = none).
    clip_skip: usize,
    /// The model's image safety checker, when its folder has one (see [`crate::safety`]).
    safety: Option<SafetyChecker>,
}

/// What an SDXL pipeline adds to SD 1.x/2.x.
pub struct XlParts {
    pub tokenizer_2: ClipTokenizer,
    pub text_encoder_2: ClipTextModel,
    /// model_index.json's `force_zeros_for_empty_prompt`: without a negative prompt, the
    /// unconditional embeddings are zeros rather than the encoding of "".
    pub force_zeros_for_empty_prompt: bool,
}

/// The sha256 of each file of a model folder, from the manifest (`pressroom-model.json`) that
/// `pressroom model pull` and `model import` write after verifying every byte; empty for
/// folders without one (their weights are hashed at load).
fn known_digests(dir: &Path) -> std::collections::HashMap<PathBuf, String> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        files: Vec<File>,
    }
    #[derive(serde::Deserialize)]
    struct File {
        path: String,
        sha256: String,
    }
    let Ok(text) = std::fs::read_to_string(dir.join("pressroom-model.json")) else {
        return Default::default();
    };
    match serde_json::from_str::<Manifest>(&text) {
        Ok(m) => m
            .files
            .into_iter()
            .map(|f| (dir.join(f.path), f.sha256))
            .collect(),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "unreadable model manifest; hashing the weights instead");
            Default::default()
        }
    }
}

/// The weights file of a component: fp32 if present, else the fp16 variant.
fn weights_file(dir: &Path, stem: &str) -> Result<PathBuf> {
    let full = dir.join(format!("{stem}.safetensors"));
    if full.exists() {
        return Ok(full);
    }
    let half = dir.join(format!("{stem}.fp16.safetensors"));
    if half.exists() {
        return Ok(half);
    }
    let bin = dir.join(format!("{stem}.bin"));
    Err(DiffusionError::MissingFile {
        path: full,
        what: if bin.exists() {
            "weights (only a pickle .bin is present; convert it to safetensors)".into()
        } else {
            "weights (.safetensors or .fp16.safetensors)".into()
        },
    })
}

impl StableDiffusion {
    /// Loads a diffusers-layout folder (SD 1.x / 2.x, SD-Turbo, SDXL), with its safety
    /// checker when the folder has one.
    pub fn load(dir: &Path, device: DeviceChoice) -> Result<Self> {
        Self::load_with(dir, device, true)
    }

    /// [`StableDiffusion::load`]; `safety_checker = false` neither loads nor runs the
    /// folder's safety checker (the identity then says the images are unchecked).
    pub fn load_with(dir: &Path, device: DeviceChoice, safety_checker: bool) -> Result<Self> {
        let started = std::time::Instant::now();
        let index_path = dir.join("model_index.json");
        let index: ModelIndex = read_json(&index_path)?;
        let is_xl = index._class_name.as_ref().is_some_and(|c| c.contains("XL"));
        let mut id = Sha256::new();
        let mut config_file = |rel: &str| -> Result<PathBuf> {
            let p = dir.join(rel);
            let bytes = std::fs::read(&p).map_err(|e| crate::error::io_err(&p, "config", e))?;
            id.update(rel.as_bytes());
            id.update(&bytes);
            Ok(p)
        };
        // model_index.json carries pipeline options (force_zeros_for_empty_prompt).
        config_file("model_index.json")?;
        let unet_cfg_path = config_file("unet/config.json")?;
        let vae_cfg_path = config_file("vae/config.json")?;
        let clip_cfg_path = config_file("text_encoder/config.json")?;
        let sched_path = config_file("scheduler/scheduler_config.json")?;
        let unet_cfg: UNetConfig = read_json(&unet_cfg_path)?;
        unet_cfg.validate(&unet_cfg_path)?;
        let vae_cfg: VaeConfig = read_json(&vae_cfg_path)?;
        let clip_cfg: ClipConfig = read_json(&clip_cfg_path)?;
        let scheduler_config: SchedulerConfig = read_json(&sched_path)?;
        let clip2_cfg: Option<ClipConfig> = if is_xl {
            Some(read_json(&config_file("text_encoder_2/config.json")?)?)
        } else {
            None
        };
        for tok_file in [
            "tokenizer/tokenizer.json",
            "tokenizer/vocab.json",
            "tokenizer/merges.txt",
            "tokenizer_2/tokenizer.json",
            "tokenizer_2/vocab.json",
            "tokenizer_2/merges.txt",
            "tokenizer_2/special_tokens_map.json",
            "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer_config.json",
            "tokenizer_2/tokenizer_config.json",
        ] {
            if let Ok(bytes) = std::fs::read(dir.join(tok_file)) {
                id.update(tok_file.as_bytes());
                id.update(&bytes);
            }
        }

        let dev = device.device;
        let kind = device.kind;
        if dev.is_cuda() {
            // Lets cuDNN time its convolution algorithms on the first call of each shape and
            // keep the fastest (the UNet's shapes repeat every step).
            tch::Cuda::cudnn_set_benchmark(true);
        }

        let tokenizer = ClipTokenizer::load(
            &dir.join("tokenizer"),
            clip_cfg.max_position_embeddings as usize,
        )?;
        // What the manifest vouches for wins over what an earlier load remembered.
        let mut known = crate::digest_cache::read(dir);
        known.extend(known_digests(dir));
        // Weights hashed by this load (no manifest, nothing remembered): remembered below.
        let hashed = std::cell::RefCell::new(Vec::new());
        let load_weights = |component: &str, stem: &str| -> Result<Weights> {
            let path = weights_file(&dir.join(component), stem)?;
            let sha = known.get(&path).cloned();
            let w = Weights::load_known(&path, dev, kind, true, sha.clone())?;
            if sha.is_none() {
                hashed.borrow_mut().push((path, w.digest().to_owned()));
            }
            Ok(w)
        };
        let te_w = load_weights("text_encoder", "model")?;
        let text_encoder = ClipTextModel::load(&te_w.root(), &clip_cfg)?;
        te_w.warn_unused(&["text_model.embeddings.position_ids", "text_projection"]);
        let unet_w = load_weights("unet", "diffusion_pytorch_model")?;
        let unet = UNet::load(&unet_w.root(), &unet_cfg)?;
        unet_w.warn_unused(&[]);
        // The VAE decodes in the run precision, as diffusers' SD pipeline does (it ignores
        // `force_upcast`); a decode that overflows is redone in fp32 (see `decode`).
        let vae_w = load_weights("vae", "diffusion_pytorch_model")?;
        let vae = Vae::load(&vae_w.root(), &vae_cfg)?;
        vae_w.warn_unused(&[]);
        for w in [&te_w, &unet_w, &vae_w] {
            id.update(w.digest().as_bytes());
        }
        let xl = match clip2_cfg {
            Some(cfg2) => {
                let w = load_weights("text_encoder_2", "model")?;
                let text_encoder_2 = ClipTextModel::load(&w.root(), &cfg2)?;
                w.warn_unused(&["text_model.embeddings.position_ids"]);
                id.update(w.digest().as_bytes());
                if text_encoder_2.config.projection_dim.is_none()
                    || !text_encoder_2.config.with_projection()
                {
                    return Err(DiffusionError::Config {
                        path: dir.join("text_encoder_2").join("config.json"),
                        message: "an SDXL pipeline's second text encoder must be a CLIPTextModelWithProjection (architectures) with a projection_dim".into(),
                    });
                }
                Some(XlParts {
                    tokenizer_2: ClipTokenizer::load(
                        &dir.join("tokenizer_2"),
                        cfg2.max_position_embeddings as usize,
                    )?,
                    text_encoder_2,
                    force_zeros_for_empty_prompt: index.force_zeros_for_empty_prompt,
                })
            }
            None => None,
        };
        let hashed = hashed.into_inner();
        if !hashed.is_empty() {
            let mut all: Vec<(PathBuf, String)> = known.into_iter().collect();
            all.extend(hashed);
            crate::digest_cache::remember(dir, &all);
        }
        let has_checker = SafetyChecker::present_in(dir);
        let safety = if safety_checker {
            SafetyChecker::load_from(dir, dev)?
        } else {
            None
        };
        if safety.is_some() {
            tracing::info!(dir = %dir.display(), "image safety checker loaded");
        }
        if xl.is_some() != unet.needs_added_conditioning() {
            return Err(DiffusionError::Config {
                path: dir.join("unet").join("config.json"),
                message: format!(
                    "addition_embed_type \"text_time\" goes with an SDXL pipeline (model_index.json's _class_name: {})",
                    index._class_name.as_deref().unwrap_or("none")
                ),
            });
        }
        let digest = hex::encode(id.finalize());
        // Images kept by the generation cache are reused only under the same check: one
        // made without the folder's checker (or with another) is never served as checked.
        let checked = match (&safety, has_checker) {
            (Some(c), _) => format!("+safety:{}", c.digest().get(..16).unwrap_or("")),
            (None, true) => "+unchecked".to_string(),
            (None, false) => String::new(),
        };
        let identity = format!(
            "sd-unet{:?}@sha256:{}{checked}",
            unet_cfg.block_out_channels,
            &digest[..32]
        );
        device.synchronize();
        tracing::info!(
            dir = %dir.display(),
            device = %device.describe(),
            identity = %identity,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded stable diffusion model"
        );
        Ok(Self {
            tokenizer,
            text_encoder,
            xl,
            unet,
            vae,
            scheduler_config,
            device,
            vae_fp32: OnceCell::new(),
            vae_upcast: Cell::new(false),
            identity,
            dir: dir.to_path_buf(),
            clip_skip: 0,
            safety,
        })
    }

    /// Stable identity: architecture plus a digest of configs, tokenizer and all weights
    /// (and the clip skip, which changes every image).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Whether generated images are checked ([`StableDiffusion::check_safety`]).
    pub fn has_safety_checker(&self) -> bool {
        self.safety.is_some()
    }

    /// The safety checker's verdict on each image; `None` each when the model has none.
    pub fn check_safety(&self, images: &[RgbImage]) -> Result<Vec<Option<SafetyVerdict>>> {
        match &self.safety {
            Some(checker) => Ok(checker.check(images)?.into_iter().map(Some).collect()),
            None => Ok(vec![None; images.len()]),
        }
    }

    /// Uses the text encoder's output `skip` layers before the last (diffusers' `clip_skip`;
    /// A1111's "clip skip 2" is 1 here), as models fine-tuned that way expect.
    pub fn with_clip_skip(mut self, skip: u32) -> Result<Self> {
        // SDXL already starts one layer before the last.
        let layers = self.text_encoder.config.num_hidden_layers - i64::from(self.xl.is_some());
        if i64::from(skip) >= layers {
            return Err(DiffusionError::InvalidRequest(format!(
                "generation.clip_skip: {skip} must be less than {layers} for this model's text encoder"
            )));
        }
        if let Some((base, _)) = self.identity.split_once("+clip_skip") {
            self.identity = base.to_string();
        }
        self.clip_skip = skip as usize;
        if skip != 0 {
            self.identity = format!("{}+clip_skip{skip}", self.identity);
        }
        Ok(self)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn device(&self) -> DeviceChoice {
        self.device
    }

    /// Image pixels per latent pixel.
    pub fn vae_scale_factor(&self) -> i64 {
        self.vae.config.scale_factor()
    }

    /// Text conditioning for `prompts`: `(n, 77, hidden)`. For SDXL see
    /// [`StableDiffusion::encode_text_xl`].
    pub fn encode_text(&self, prompts: &[&str]) -> Result<Tensor> {
        self.encode_sd(prompts, self.clip_skip)
    }

    fn encode_sd(&self, prompts: &[&str], skip: usize) -> Result<Tensor> {
        let _g = tch::no_grad_guard();
        let ids = self.token_ids(&self.tokenizer, prompts)?;
        Ok(self.text_encoder.forward_skip(&ids, skip))
    }

    /// SDXL's text conditioning: both encoders' hidden states before their last layer,
    /// concatenated (`(n, 77, w1 + w2)`), and the second encoder's projected pooled output
    /// (`(n, projection_dim)`).
    pub fn encode_text_xl(&self, prompts: &[&str]) -> Result<(Tensor, Tensor)> {
        self.encode_xl(prompts, self.clip_skip)
    }

    fn encode_xl(&self, prompts: &[&str], skip: usize) -> Result<(Tensor, Tensor)> {
        let _g = tch::no_grad_guard();
        let xl = self.xl.as_ref().ok_or_else(|| {
            DiffusionError::InvalidRequest("encode_text_xl on a model that is not SDXL".into())
        })?;
        let first = self
            .text_encoder
            .forward_xl(&self.token_ids(&self.tokenizer, prompts)?, skip);
        let second = xl
            .text_encoder_2
            .forward_xl(&self.token_ids(&xl.tokenizer_2, prompts)?, skip);
        let pooled = second.pooled.ok_or_else(|| {
            DiffusionError::Unsupported("SDXL's text_encoder_2 has no projection".into())
        })?;
        Ok((Tensor::cat(&[first.hidden, second.hidden], -1), pooled))
    }

    fn token_ids(&self, tokenizer: &ClipTokenizer, prompts: &[&str]) -> Result<Tensor> {
        let mut ids = Vec::new();
        for p in prompts {
            ids.extend(tokenizer.encode(p)?);
        }
        let len = tokenizer.max_len() as i64;
        Ok(Tensor::from_slice(&ids)
            .view([prompts.len() as i64, len])
            .to_device(self.device.device))
    }

    /// The conditioning of a batch's rows (the negative prompts first when `cfg`, then the
    /// prompts): the cross-attention context and, for SDXL, the added embedding of the pooled
    /// text and the size ids (original = target = the requested size, no crop). Clip skip
    /// applies to the prompts only: diffusers encodes negative prompts without it.
    fn conditioning(
        &self,
        prompts: &[Prompt],
        cfg: bool,
        params: &BatchParams,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let positive: Vec<&str> = prompts.iter().map(|p| p.prompt.as_str()).collect();
        let negative: Vec<&str> = prompts
            .iter()
            .map(|p| p.negative_prompt.as_deref().unwrap_or(""))
            .collect();
        let rows = if cfg {
            2 * prompts.len()
        } else {
            prompts.len()
        };
        let Some(xl) = &self.xl else {
            let ctx = self.encode_sd(&positive, self.clip_skip)?;
            let ctx = if cfg {
                Tensor::cat(&[self.encode_sd(&negative, 0)?, ctx], 0)
            } else {
                ctx
            };
            return Ok((ctx, None));
        };
        let (ctx, pooled) = self.encode_xl(&positive, self.clip_skip)?;
        let (mut ctx, mut pooled) = if cfg {
            let (nctx, npooled) = self.encode_xl(&negative, 0)?;
            (
                Tensor::cat(&[nctx, ctx], 0),
                Tensor::cat(&[npooled, pooled], 0),
            )
        } else {
            (ctx, pooled)
        };
        if cfg && xl.force_zeros_for_empty_prompt {
            // Rows of requests without a negative prompt are zeros (diffusers' zero-out).
            let keep: Vec<f32> = prompts
                .iter()
                .map(|p| {
                    if p.negative_prompt.is_some() {
                        1.0
                    } else {
                        0.0
                    }
                })
                .chain(prompts.iter().map(|_| 1.0))
                .collect();
            let keep = Tensor::from_slice(&keep)
                .to_device(self.device.device)
                .to_kind(ctx.kind());
            ctx = &ctx * keep.view([-1, 1, 1]);
            pooled = &pooled * keep.view([-1, 1]);
        }
        let (h, w) = (f64::from(params.height), f64::from(params.width));
        let ids: Vec<f32> = (0..rows)
            .flat_map(|_| [h, w, 0.0, 0.0, h, w])
            .map(|v| v as f32)
            .collect();
        let time_ids = Tensor::from_slice(&ids)
            .view([rows as i64, 6])
            .to_device(self.device.device)
            .to_kind(self.device.kind);
        let added = self.unet.added_embedding(&pooled, &time_ids);
        Ok((ctx, added))
    }

    /// The initial latents diffusers draws for `seed` with a CPU `torch.Generator`.
    pub fn initial_noise(&self, seed: u64, params: &BatchParams) -> Tensor {
        let shape = self.latent_shape(params);
        noise_draws(seed, &shape, 1).remove(0)
    }

    /// Whether a VAE decode overflowed in the run precision, so decodes now run in fp32.
    pub fn vae_upcast(&self) -> bool {
        self.vae_upcast.get()
    }

    fn latent_shape(&self, p: &BatchParams) -> [i64; 4] {
        let f = self.vae_scale_factor();
        [
            1,
            self.unet.config.in_channels,
            p.height as i64 / f,
            p.width as i64 / f,
        ]
    }

    fn validate(&self, params: &BatchParams, prompts: &[Prompt]) -> Result<()> {
        if prompts.is_empty() {
            return Err(DiffusionError::InvalidRequest("empty batch".into()));
        }
        for (name, v) in [("width", params.width), ("height", params.height)] {
            if v == 0 || v % 8 != 0 || v > 4096 {
                return Err(DiffusionError::InvalidRequest(format!(
                    "{name} must be a positive multiple of 8, at most 4096 (got {v})"
                )));
            }
        }
        let pixels = u64::from(params.width) * u64::from(params.height);
        if pixels > MAX_PIXELS {
            return Err(DiffusionError::InvalidRequest(format!(
                "width × height: {}×{} is {pixels} pixels, over the engine's {MAX_PIXELS} \
                 (1536×1536; the VAE decode of larger images needs more memory than a machine \
                 can be assumed to have): generate at most that and upscale",
                params.width, params.height
            )));
        }
        if params.steps == 0 || params.steps > 1000 {
            return Err(DiffusionError::InvalidRequest(format!(
                "steps must be between 1 and 1000 (got {})",
                params.steps
            )));
        }
        for p in prompts {
            if !p.guidance.is_finite() || p.guidance < 0.0 || p.guidance > 100.0 {
                return Err(DiffusionError::InvalidRequest(format!(
                    "guidance must be between 0 and 100 (got {})",
                    p.guidance
                )));
            }
        }
        // The model's schedule may take fewer steps than 1000 (DDIM "leading" with an offset).
        Sampler::new(
            params.scheduler,
            &self.scheduler_config,
            params.steps as usize,
        )?;
        Ok(())
    }

    /// Runs the sampler for a batch and decodes the images. `progress(step, total)` is called
    /// after every denoising step.
    pub fn generate(
        &self,
        params: &BatchParams,
        prompts: &[Prompt],
        progress: &mut dyn FnMut(u32, u32),
    ) -> Result<Vec<RgbImage>> {
        self.generate_with(params, prompts, None, &mut |s, t, _| progress(s, t))
    }

    /// [`StableDiffusion::generate`] with the options of [`StableDiffusion::sample_with`].
    pub fn generate_with(
        &self,
        params: &BatchParams,
        prompts: &[Prompt],
        initial_noise: Option<&Tensor>,
        on_step: &mut dyn FnMut(u32, u32, &Tensor),
    ) -> Result<Vec<RgbImage>> {
        let latents = self.sample_with(params, prompts, initial_noise, on_step)?;
        self.decode(&latents)
    }

    /// The denoising loop; returns final latents `(n, 4, h/f, w/f)` in fp32.
    pub fn sample(
        &self,
        params: &BatchParams,
        prompts: &[Prompt],
        progress: &mut dyn FnMut(u32, u32),
    ) -> Result<Tensor> {
        self.sample_with(params, prompts, None, &mut |s, t, _| progress(s, t))
    }

    /// The denoising loop with two options for checks and benchmarks:
    /// - `initial_noise`: unit-variance starting noise `(n, C, h/f, w/f)` instead of each
    ///   seed's first draw (as diffusers' `latents=` argument: scaled by the sampler's initial
    ///   σ here). Ancestral samplers still draw their per-step noise from the seeds.
    /// - `on_step(step, total, latents)`: called after every step, once the device has
    ///   finished it, with the fp32 latents.
    ///
    /// Apart from that one synchronisation per step (so that progress means done), the loop
    /// never waits for the device: no values are read back, and ancestral noise is copied up
    /// from pinned memory without blocking.
    pub fn sample_with(
        &self,
        params: &BatchParams,
        prompts: &[Prompt],
        initial_noise: Option<&Tensor>,
        on_step: &mut dyn FnMut(u32, u32, &Tensor),
    ) -> Result<Tensor> {
        self.validate(params, prompts)?;
        let _g = tch::no_grad_guard();
        let started = std::time::Instant::now();
        let dev = self.device.device;
        let kind = self.device.kind;
        let n = prompts.len() as i64;
        // Turbo models are distilled for guidance-free sampling.
        let turbo = params.scheduler == NoiseScheduler::Turbo;
        let cfg = !turbo && prompts.iter().any(|p| p.guidance > 1.0);

        let (ctx, added) = self.conditioning(prompts, cfg, params)?;
        // The prompt's cross-attention keys and values, once for all steps.
        let ctx_kv = self.unet.context_kv(&ctx);

        let mut sampler = Sampler::new(
            params.scheduler,
            &self.scheduler_config,
            params.steps as usize,
        )?;
        let shape = self.latent_shape(params);
        // Each request's noise, drawn once from its seed in the order diffusers draws it from
        // the request's CPU generator: the initial latents, then one draw per step for
        // ancestral samplers (libtorch has no per-request generator to keep between steps).
        let per_step = if sampler.needs_noise() {
            sampler.timesteps().len()
        } else {
            0
        };
        let mut draws: Vec<Vec<Tensor>> = prompts
            .iter()
            .map(|p| noise_draws(p.seed, &shape, 1 + per_step))
            .collect();
        let first: Vec<Tensor> = draws.iter_mut().map(|d| d.remove(0)).collect();
        let noise = match initial_noise {
            Some(t) => {
                let want = [n, shape[1], shape[2], shape[3]];
                if t.size() != want {
                    return Err(DiffusionError::InvalidRequest(format!(
                        "initial noise has shape {:?}, the batch needs {want:?}",
                        t.size()
                    )));
                }
                t.to_kind(Kind::Float)
            }
            None => Tensor::cat(&first, 0),
        };
        // The sample stays in fp32 between steps (diffusers' Euler and DPM++ steps upcast
        // too); only the UNet runs in the run precision. On CPU fp32 these casts are no-ops.
        let mut latents = upload(noise, dev) * sampler.init_noise_sigma();
        let guidance = Tensor::from_slice(
            &prompts
                .iter()
                .map(|p| if cfg { p.guidance.max(1.0) } else { 1.0 })
                .collect::<Vec<f32>>(),
        )
        .view([n, 1, 1, 1]);
        let guidance = upload(guidance, dev);

        let timesteps = sampler.timesteps().to_vec();
        let total = timesteps.len() as u32;
        for (i, &t) in timesteps.iter().enumerate() {
            let xin = sampler.scale_model_input(&latents, i).to_kind(kind);
            let xin = if cfg {
                Tensor::cat(&[&xin, &xin], 0)
            } else {
                xin
            };
            let tt = timestep_tensor(t, xin.size()[0], dev);
            let out = self
                .unet
                .forward_added(&xin, &tt, &ctx_kv, added.as_ref())
                .to_kind(Kind::Float);
            let eps = if cfg {
                let parts = out.chunk(2, 0);
                let (u, c) = (&parts[0], &parts[1]);
                u + &guidance * (c - u)
            } else {
                out
            };
            let mut fresh = || {
                // Step i's noise is draw number i + 1 of each request's seed.
                let step: Vec<&Tensor> = draws.iter().map(|d| &d[i]).collect();
                upload(Tensor::cat(&step, 0), dev)
            };
            latents = sampler.step(&eps, i, &latents, &mut fresh);
            self.device.synchronize();
            on_step(i as u32 + 1, total, &latents);
        }
        tracing::debug!(
            batch = n,
            steps = total,
            cfg,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sampled"
        );
        Ok(latents)
    }

    /// Latents to 8-bit RGB images, rounded exactly like diffusers' image processor.
    ///
    /// Decodes one image at a time: the decoder's full-resolution activations dominate its
    /// memory, so a batch of n would need n times as much at once. Decodes in the run
    /// precision (as diffusers' SD pipeline does); when that gives NaN or infinity (fp16
    /// overflows in some VAEs, e.g. SDXL's) it decodes again in fp32 and keeps doing so for
    /// this model (as A1111 does).
    pub fn decode(&self, latents: &Tensor) -> Result<Vec<RgbImage>> {
        let _g = tch::no_grad_guard();
        let latents = latents.to_device(self.device.device);
        (0..latents.size()[0])
            .map(|i| self.decode_one(&latents.narrow(0, i, 1)))
            .collect()
    }

    fn decode_one(&self, latents: &Tensor) -> Result<RgbImage> {
        let kind = self.device.kind;
        let x = if kind == Kind::Float {
            self.vae.decode(&latents.to_kind(kind))
        } else if self.vae_upcast.get() {
            self.vae_fp32()?.decode(&latents.to_kind(Kind::Float))
        } else {
            let x = self.vae.decode(&latents.to_kind(kind));
            if all_finite(&x) {
                x
            } else {
                tracing::warn!(
                    dtype = self.device.dtype_name(),
                    "VAE decode overflowed in the run precision; decoding in fp32 from now on"
                );
                self.vae_upcast.set(true);
                self.vae_fp32()?.decode(&latents.to_kind(Kind::Float))
            }
        };
        let px = (x.to_kind(Kind::Float) / 2.0 + 0.5).clamp(0.0, 1.0) * 255.0;
        let px = px
            .round()
            .to_kind(Kind::Uint8)
            .get(0)
            .permute([1, 2, 0])
            .contiguous()
            .to_device(Device::Cpu);
        let s = px.size();
        let data = Vec::<u8>::try_from(&px.flatten(0, -1))?;
        Ok(RgbImage {
            width: s[1] as u32,
            height: s[0] as u32,
            data,
        })
    }
}

impl StableDiffusion {
    /// The fp32 VAE for the overflow fallback, loaded on first use.
    fn vae_fp32(&self) -> Result<&Vae> {
        if let Some(v) = self.vae_fp32.get() {
            return Ok(v);
        }
        let w = Weights::load(
            &weights_file(&self.dir.join("vae"), "diffusion_pytorch_model")?,
            self.device.device,
            Kind::Float,
        )?;
        let vae = Vae::load(&w.root(), &self.vae.config)?;
        Ok(self.vae_fp32.get_or_init(|| vae))
    }
}

/// Whether every element is finite (reads one value back from the device).
fn all_finite(x: &Tensor) -> bool {
    x.isfinite().all().int64_value(&[]) != 0
}

/// A CPU tensor onto `device`: on CUDA through pinned memory and without blocking, so the
/// host can queue the next kernels while the copy runs.
fn upload(t: Tensor, device: Device) -> Tensor {
    if device.is_cuda() {
        t.pin_memory(device)
            .to_device_(device, t.kind(), true, false)
    } else {
        t.to_device(device)
    }
}

/// libtorch's default CPU generator is process-global: every seeded draw in this crate holds
/// this lock from `manual_seed` to its last `randn`, so concurrent engines (or tests) cannot
/// interleave draws and break determinism.
pub(crate) static RNG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The first `count` draws of shape `shape` from a CPU generator seeded with `seed`.
fn noise_draws(seed: u64, shape: &[i64], count: usize) -> Vec<Tensor> {
    let _rng = RNG_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tch::manual_seed(seed as i64);
    (0..count)
        .map(|_| Tensor::randn(shape, (Kind::Float, Device::Cpu)))
        .collect()
}
