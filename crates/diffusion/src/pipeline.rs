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
use crate::scheduler::{NoiseScheduler, Sampler, timestep_tensor};
use crate::tokenizer::ClipTokenizer;
use crate::unet::UNet;
use crate::vae::Vae;
use crate::weights::Weights;

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
    /// Loads a diffusers-layout folder (SD 1.x / 2.x, incl. SD-Turbo).
    pub fn load(dir: &Path, device: DeviceChoice) -> Result<Self> {
        let started = std::time::Instant::now();
        let index_path = dir.join("model_index.json");
        let index: ModelIndex = read_json(&index_path)?;
        if let Some(class) = index._class_name.as_ref().filter(|c| c.contains("XL")) {
            return Err(DiffusionError::Unsupported(format!(
                "{class}: SDXL pipelines are not supported yet"
            )));
        }
        let mut id = Sha256::new();
        let mut config_file = |rel: &str| -> Result<PathBuf> {
            let p = dir.join(rel);
            let bytes = std::fs::read(&p).map_err(|e| crate::error::io_err(&p, "config", e))?;
            id.update(rel.as_bytes());
            id.update(&bytes);
            Ok(p)
        };
        let unet_cfg_path = config_file("unet/config.json")?;
        let vae_cfg_path = config_file("vae/config.json")?;
        let clip_cfg_path = config_file("text_encoder/config.json")?;
        let sched_path = config_file("scheduler/scheduler_config.json")?;
        let unet_cfg: UNetConfig = read_json(&unet_cfg_path)?;
        unet_cfg.validate(&unet_cfg_path)?;
        let vae_cfg: VaeConfig = read_json(&vae_cfg_path)?;
        let clip_cfg: ClipConfig = read_json(&clip_cfg_path)?;
        let scheduler_config: SchedulerConfig = read_json(&sched_path)?;
        for tok_file in [
            "tokenizer/tokenizer.json",
            "tokenizer/vocab.json",
            "tokenizer/merges.txt",
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
        let te_w = Weights::load(
            &weights_file(&dir.join("text_encoder"), "model")?,
            dev,
            kind,
        )?;
        let text_encoder = ClipTextModel::load(&te_w.root(), &clip_cfg)?;
        te_w.warn_unused(&["text_model.embeddings.position_ids", "text_projection"]);
        let unet_w = Weights::load(
            &weights_file(&dir.join("unet"), "diffusion_pytorch_model")?,
            dev,
            kind,
        )?;
        let unet = UNet::load(&unet_w.root(), &unet_cfg)?;
        unet_w.warn_unused(&[]);
        let vae_w = Weights::load(
            &weights_file(&dir.join("vae"), "diffusion_pytorch_model")?,
            dev,
            // The VAE decodes in the run precision, as diffusers' SD pipeline does (it ignores
            // `force_upcast`); a decode that overflows is redone in fp32 (see `decode`).
            kind,
        )?;
        let vae = Vae::load(&vae_w.root(), &vae_cfg)?;
        vae_w.warn_unused(&[]);
        for w in [&te_w, &unet_w, &vae_w] {
            id.update(w.digest().as_bytes());
        }
        let digest = hex::encode(id.finalize());
        let identity = format!(
            "sd-unet{:?}@sha256:{}",
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
            unet,
            vae,
            scheduler_config,
            device,
            vae_fp32: OnceCell::new(),
            vae_upcast: Cell::new(false),
            identity,
            dir: dir.to_path_buf(),
        })
    }

    /// Stable identity: architecture plus a digest of configs, tokenizer and all weights.
    pub fn identity(&self) -> &str {
        &self.identity
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

    /// Text conditioning for `prompts`: `(n, 77, hidden)`.
    pub fn encode_text(&self, prompts: &[&str]) -> Result<Tensor> {
        let _g = tch::no_grad_guard();
        let mut ids = Vec::new();
        for p in prompts {
            ids.extend(self.tokenizer.encode(p)?);
        }
        let len = self.tokenizer.max_len() as i64;
        let ids = Tensor::from_slice(&ids)
            .view([prompts.len() as i64, len])
            .to_device(self.device.device);
        Ok(self.text_encoder.forward(&ids))
    }

    /// The initial latents diffusers draws for `seed` with a CPU `torch.Generator`.
    pub fn initial_noise(&self, seed: u64, params: &BatchParams) -> Tensor {
        let shape = self.latent_shape(params);
        noise_draw(seed, &shape, 0)
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

        let mut texts: Vec<&str> = Vec::new();
        if cfg {
            texts.extend(
                prompts
                    .iter()
                    .map(|p| p.negative_prompt.as_deref().unwrap_or("")),
            );
        }
        texts.extend(prompts.iter().map(|p| p.prompt.as_str()));
        let ctx = self.encode_text(&texts)?;
        // The prompt's cross-attention keys and values, once for all steps.
        let ctx_kv = self.unet.context_kv(&ctx);

        let mut sampler = Sampler::new(
            params.scheduler,
            &self.scheduler_config,
            params.steps as usize,
        )?;
        let shape = self.latent_shape(params);
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
            None => {
                let draws: Vec<Tensor> = prompts
                    .iter()
                    .map(|p| noise_draw(p.seed, &shape, 0))
                    .collect();
                Tensor::cat(&draws, 0)
            }
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
                .forward_kv(&xin, &tt, &ctx_kv)
                .to_kind(Kind::Float);
            let eps = if cfg {
                let parts = out.chunk(2, 0);
                let (u, c) = (&parts[0], &parts[1]);
                u + &guidance * (c - u)
            } else {
                out
            };
            let mut fresh = || {
                // Replays each request's generator: diffusers keeps drawing from the same
                // per-request CPU generator after the initial latents, so step i's noise is
                // draw number i + 1 of that seed.
                let draws: Vec<Tensor> = prompts
                    .iter()
                    .map(|p| noise_draw(p.seed, &shape, i + 1))
                    .collect();
                upload(Tensor::cat(&draws, 0), dev)
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
    /// Decodes in the run precision; when that gives NaN or infinity (fp16 overflows in some
    /// VAEs, e.g. SDXL's) it decodes again in fp32 and keeps doing so for this model.
    pub fn decode(&self, latents: &Tensor) -> Result<Vec<RgbImage>> {
        let _g = tch::no_grad_guard();
        let latents = latents.to_device(self.device.device);
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
            .permute([0, 2, 3, 1])
            .contiguous()
            .to_device(Device::Cpu);
        let s = px.size();
        let (n, h, w) = (s[0], s[1], s[2]);
        (0..n)
            .map(|i| {
                let data = Vec::<u8>::try_from(&px.get(i).flatten(0, -1))?;
                Ok(RgbImage {
                    width: w as u32,
                    height: h as u32,
                    data,
                })
            })
            .collect()
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

/// Draw number `index` (0-based) of shape `shape` from a CPU generator seeded with `seed`.
fn noise_draw(seed: u64, shape: &[i64], index: usize) -> Tensor {
    let _rng = RNG_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tch::manual_seed(seed as i64);
    let mut t = Tensor::randn(shape, (Kind::Float, Device::Cpu));
    for _ in 0..index {
        t = Tensor::randn(shape, (Kind::Float, Device::Cpu));
    }
    t
}
