//! `pressroom-engine generate` and `pressroom-engine init-tiny` (what `pressroom generate` and
//! `pressroom model init-tiny` run: the daemon's binary does not load libtorch).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use pressroom_diffusion::{EngineConfig, NoiseScheduler, init_tiny_model};
use pressroom_generate::{
    CachedGenerator, DeviceSetting, GenerationRequest, Generator, Progress, ProgressFn,
};

use crate::device::choose;
use crate::local::DiffusionGenerator;

/// Generate one image with the local engine.
#[derive(clap::Args, Debug, Clone)]
pub struct GenerateArgs {
    /// Model folder in the diffusers layout (model_index.json, unet/, vae/, ...).
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 20)]
    pub steps: u32,
    /// ddim, euler, euler-a, dpmpp-2m or turbo.
    #[arg(long, default_value = "euler-a")]
    pub scheduler: NoiseScheduler,
    /// Classifier-free guidance scale; 0 or 1 disables the unconditional pass.
    #[arg(long, default_value_t = 7.5)]
    pub guidance: f32,
    #[arg(long, default_value_t = 512)]
    pub width: u32,
    #[arg(long, default_value_t = 512)]
    pub height: u32,
    /// Negative prompt: what the image should not contain.
    #[arg(long)]
    pub negative: Option<String>,
    /// Where to write the PNG.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Optional generation cache directory; a repeat request is answered from it.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// auto (CUDA fp16 if present, else CPU fp32), cpu or cuda.
    #[arg(long, default_value = "auto")]
    pub device: DeviceSetting,
    pub prompt: String,
}

/// Runs `pressroom generate`.
pub async fn run_generate(args: GenerateArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let device = choose(args.device).map_err(|e| anyhow::anyhow!("--device: {e}"))?;
    let req = GenerationRequest {
        prompt: args.prompt.clone(),
        negative_prompt: args.negative.clone(),
        seed: args.seed,
        steps: args.steps,
        guidance: args.guidance,
        scheduler: args.scheduler,
        width: args.width,
        height: args.height,
    };
    req.validate()?;
    eprintln!(
        "loading {} on {} ...",
        args.model.display(),
        device.describe()
    );
    let engine = DiffusionGenerator::load_async(&args.model, device, EngineConfig::default())
        .await
        .with_context(|| format!("loading model {}", args.model.display()))?;
    let generator: Arc<dyn Generator> = match &args.cache {
        Some(dir) => Arc::new(CachedGenerator::new(engine, dir.clone())?),
        None => Arc::new(engine),
    };

    let bar = indicatif::ProgressBar::new(u64::from(args.steps));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} step {pos}/{len} [{bar:30}] {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let progress_bar = bar.clone();
    let progress: ProgressFn = Arc::new(move |p: Progress| {
        progress_bar.set_length(u64::from(p.total));
        progress_bar.set_position(u64::from(p.step));
    });
    let img = generator.generate(req, Some(progress)).await?;
    bar.finish_and_clear();
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    pressroom_generate::cache::write_durably(&args.output, &img.png)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "wrote {} ({}x{}, {}key {}, {:.1}s)",
        args.output.display(),
        img.width,
        img.height,
        if img.cache_hit { "cache hit, " } else { "" },
        &img.generation_key[..16],
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Write a tiny random-weight model (for demos and tests without real weights).
#[derive(clap::Args, Debug, Clone)]
pub struct InitTinyArgs {
    /// Folder to write the model into (created if missing).
    pub dir: PathBuf,
    /// Seed for the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs `pressroom model init-tiny`.
pub fn run_init_tiny(args: InitTinyArgs) -> anyhow::Result<()> {
    init_tiny_model(&args.dir, args.seed)
        .with_context(|| format!("writing tiny model to {}", args.dir.display()))?;
    println!(
        "wrote a tiny random-weight Stable Diffusion model to {}",
        args.dir.display()
    );
    println!(
        "note: its weights are random, so it produces noise-like images, not pictures. \
         It is for demos and tests; point --model at a real diffusers folder \
         (e.g. SD 1.5 or SD-Turbo) for real images."
    );
    Ok(())
}
