//! Benchmark: our engine vs Python diffusers on the same SD1.5-sized random-weight model
//! folder, same device (CPU), precision (fp32) and thread count. Measures one UNet call at
//! 256×256 with CFG (batch 2, 32×32 latents) and a 4-step 256×256 CFG pipeline, and writes
//! the ratios and achieved GFLOP/s to `crates/diffusion/BENCHMARKS.md`.
//!
//! The same run also measures, first, an SDXL-base-sized random model: one SDXL UNet
//! call at 256×256 with CFG and the added conditioning, and one text encoding of a prompt
//! pair through both text encoders; those rows go to BENCHMARKS.md's "SDXL (CPU)" section.
//!
//! `cargo bench -p pressroom-diffusion --bench cpu_vs_diffusers`
//! (the models are written once to `bench-out/sd15-random`, ~4.3 GB, and
//! `bench-out/sdxl-random`, ~14 GB; `PRESSROOM_BENCH_DIR` puts them elsewhere).
//! `PRESSROOM_BENCH_ONLY=sdxl` (or `sd15`) runs one part and keeps the other's section as it
//! was; `PRESSROOM_BENCH_TINY=1` uses a tiny SDXL (`sdxl-tiny`) to smoke-test the SDXL code
//! and writes `$TMPDIR/BENCHMARKS-tiny.md` instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use pressroom_diffusion::{BatchParams, DeviceChoice, NoiseScheduler, Prompt, StableDiffusion};
use tch::{Kind, Tensor};

/// Where BENCHMARKS.md's GPU section starts; everything from it on survives a rewrite.
const GPU_MARKER: &str = "\n## GPU";

/// Where BENCHMARKS.md's SDXL section starts (between the SD1.5 and GPU sections).
const SDXL_MARKER: &str = "\n## SDXL";

/// The prompt pair of the SDXL text-encoding row (the same strings as bench_reference.py).
const PROMPT_XL: &str = "a lighthouse on a cliff at dusk";
const NEGATIVE_XL: &str = "blurry, low quality";

/// An SD1.5 UNet forward at 64×64 latents, batch 1 (PyTorch flop counter).
const GFLOP_SD15_64: f64 = 677.0;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    std::env::var("PRESSROOM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv/bin/python"))
}

/// Minimum of the runs: on a shared machine interference only ever adds time.
fn best(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// CPU seconds this process has used (user + system), from /proc/self/stat. Less sensitive
/// than wall time to other processes competing for the cores.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or_default();
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    if f.len() < 13 {
        return f64::NAN;
    }
    (f[11] + f[12]) / 100.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Where the random models are written: `PRESSROOM_BENCH_DIR`, else `bench-out/`.
fn bench_dir() -> PathBuf {
    std::env::var("PRESSROOM_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("bench-out"))
}

fn script() -> PathBuf {
    root().join("scripts/diffusion/bench_reference.py")
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn utc_now() -> String {
    Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Runs `bench_reference.py <cmd> <model> <threads>` and parses the JSON of its last line.
fn diffusers_json(cmd: &str, model: &Path, threads: i32) -> anyhow::Result<serde_json::Value> {
    let out = Command::new(python())
        .arg(script())
        .arg(cmd)
        .arg(model)
        .arg(threads.to_string())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "bench_reference.py {cmd} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    Ok(serde_json::from_str(line)?)
}

/// Writes a random model with `bench_reference.py <cmd> <model>` unless it is there already.
fn ensure_model(cmd: &str, model: &Path, what: &str) -> anyhow::Result<()> {
    if model.join("model_index.json").exists() {
        return Ok(());
    }
    eprintln!("writing {what} random model to {} ...", model.display());
    let st = Command::new(python())
        .arg(script())
        .arg(cmd)
        .arg(model)
        .status()?;
    anyhow::ensure!(st.success(), "bench_reference.py {cmd} failed");
    Ok(())
}

/// `PRESSROOM_BENCH_TINY=1`: a tiny SDXL model, to smoke-test the SDXL code path.
fn tiny() -> bool {
    std::env::var("PRESSROOM_BENCH_TINY").is_ok_and(|v| v == "1")
}

/// Which parts run: `PRESSROOM_BENCH_ONLY=sdxl` or `sd15` runs one; unset runs both.
#[derive(Clone, Copy, PartialEq)]
enum Only {
    Both,
    Sd15,
    Sdxl,
}

fn main() -> anyhow::Result<()> {
    let only = match std::env::var("PRESSROOM_BENCH_ONLY").as_deref() {
        Err(_) | Ok("") => Only::Both,
        Ok("sd15") => Only::Sd15,
        Ok("sdxl") => Only::Sdxl,
        Ok(other) => anyhow::bail!("PRESSROOM_BENCH_ONLY={other:?}: expected \"sd15\" or \"sdxl\""),
    };
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&committed).unwrap_or_default();
    // Tiny smoke-test figures never overwrite the real ones.
    let path = if tiny() {
        std::env::temp_dir().join("BENCHMARKS-tiny.md")
    } else {
        committed
    };
    let old = Sections::split(&old);
    // SDXL first: it is the newer part, and its table is written before the long SD1.5 part.
    let xl = if only == Only::Sd15 {
        None
    } else {
        let (section, date) = sdxl()?;
        write_md(&path, &old.sd15, &xl_when(&section, &date, false), &old.gpu)?;
        Some((section, date))
    };
    if only != Only::Sdxl {
        let s = sd15()?;
        let xl = match &xl {
            Some((section, date)) => xl_when(section, date, true),
            None => old.sdxl.clone(),
        };
        write_md(&path, &s, &xl, &old.gpu)?;
    }
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// BENCHMARKS.md's parts: the SD1.5 CPU section, the SDXL CPU section and the GPU section
/// (scripts/gpu/run.sh; kept as written).
struct Sections {
    sd15: String,
    sdxl: String,
    gpu: String,
}

impl Sections {
    fn split(md: &str) -> Self {
        let gpu_at = md.find(GPU_MARKER).unwrap_or(md.len());
        let xl_at = md[..gpu_at].find(SDXL_MARKER).unwrap_or(gpu_at);
        Self {
            sd15: md[..xl_at].to_string(),
            sdxl: md[xl_at..gpu_at].to_string(),
            gpu: md[gpu_at..].to_string(),
        }
    }
}

fn write_md(path: &Path, sd15: &str, sdxl: &str, gpu: &str) -> anyhow::Result<()> {
    let sd15 = sd15.trim_end();
    std::fs::write(
        path,
        format!(
            "{sd15}
{sdxl}{gpu}"
        ),
    )?;
    Ok(())
}

/// The SD1.5 part: returns its BENCHMARKS.md section.
fn sd15() -> anyhow::Result<String> {
    let model = bench_dir().join("sd15-random");
    ensure_model("make", &model, "SD1.5-sized")?;
    let threads = tch::get_num_threads();
    let load_before = loadavg();

    eprintln!("ours: loading ...");
    let t0 = Instant::now();
    let sd = StableDiffusion::load(&model, DeviceChoice::cpu())?;
    let load_s = t0.elapsed().as_secs_f64();
    let (unet_s, unet_all, vae_s, pipe_s, pipe_all, unet_cpu, pipe_cpu) = {
        let _g = tch::no_grad_guard();
        tch::manual_seed(0);
        let x = Tensor::randn([2, 4, 32, 32], (Kind::Float, tch::Device::Cpu));
        let ctx = Tensor::randn([2, 77, 768], (Kind::Float, tch::Device::Cpu));
        let t = Tensor::from_slice(&[500.0f32, 500.0]);
        let _ = sd.unet.forward(&x, &t, &ctx); // warm-up
        let (mut unet, mut unet_cpu) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let (s, c) = (Instant::now(), cpu_seconds());
            let _ = sd.unet.forward(&x, &t, &ctx);
            unet.push(s.elapsed().as_secs_f64());
            unet_cpu.push(cpu_seconds() - c);
        }
        let params = BatchParams {
            steps: 4,
            scheduler: NoiseScheduler::Ddim,
            width: 256,
            height: 256,
        };
        let prompt = Prompt {
            prompt: "a lighthouse on a cliff at dusk".into(),
            negative_prompt: None,
            seed: 1,
            guidance: 7.5,
        };
        let z = Tensor::randn([1, 4, 32, 32], (Kind::Float, tch::Device::Cpu));
        let mut vae = Vec::new();
        for _ in 0..2 {
            let s = Instant::now();
            let _ = sd.vae.decode(&z);
            vae.push(s.elapsed().as_secs_f64());
        }
        let (mut pipe, mut pipe_cpu) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            let (s, c) = (Instant::now(), cpu_seconds());
            sd.generate(&params, std::slice::from_ref(&prompt), &mut |_, _| {})?;
            pipe.push(s.elapsed().as_secs_f64());
            pipe_cpu.push(cpu_seconds() - c);
        }
        (
            best(&unet),
            unet,
            best(&vae),
            best(&pipe),
            pipe,
            best(&unet_cpu),
            best(&pipe_cpu),
        )
    };
    drop(sd);
    eprintln!("ours: unet {unet_s:.3}s {unet_all:?}, pipeline {pipe_s:.3}s {pipe_all:?}");

    eprintln!("diffusers: timing ...");
    let theirs = diffusers_json("time", &model, threads)?;
    let their_unet = theirs["unet_s"].as_f64().unwrap_or(f64::NAN);
    let their_pipe = theirs["pipeline_s"].as_f64().unwrap_or(f64::NAN);
    let their_vae = theirs["vae_s"].as_f64().unwrap_or(f64::NAN);
    let load_after = loadavg();
    let their_unet_cpu = theirs["unet_cpu_s"].as_f64().unwrap_or(f64::NAN);
    let their_pipe_cpu = theirs["pipeline_cpu_s"].as_f64().unwrap_or(f64::NAN);
    eprintln!("diffusers: unet {their_unet:.3}s, pipeline {their_pipe:.3}s");

    // 32×32 latents = 1/4 of 64×64; CFG doubles the batch.
    let unet_gflop = GFLOP_SD15_64 * (32.0 * 32.0) / (64.0 * 64.0) * 2.0;
    let pipe_gflop = unet_gflop * 4.0;
    let cpu = cpu_name();
    let date = utc_now();
    let md = format!(
        "# pressroom-diffusion benchmarks\n\n\
Written by `cargo bench -p pressroom-diffusion --bench cpu_vs_diffusers` on {date}.\n\n\
Same model folder (SD1.5-sized UNet/VAE/CLIP with random weights, written by\n\
`scripts/diffusion/bench_reference.py make`), same device (CPU), precision (fp32) and thread\n\
count ({threads}) for both, run one after the other. CPU: {cpu}. diffusers side: torch {torch}.\n\
Load average before/after: {load_before} / {load_after} (other builds on the same cores inflate\n\
both sides; each figure is the best of its runs).\n\n\
| workload | ours | diffusers | ours/diffusers | ours GFLOP/s | diffusers GFLOP/s |\n\
|---|---|---|---|---|---|\n\
| one UNet call, 256×256, CFG (batch 2, 32×32 latents), best of 3 | {unet_s:.3} s | {their_unet:.3} s | **{ru:.3}** | {gu:.0} | {tgu:.0} |\n\
| VAE decode to 256×256, best of 2 | {vae_s:.3} s | {their_vae:.3} s | {rv:.3} | | |\n\
| 4-step DDIM pipeline, 256×256, CFG (text encoder + 4 UNet calls + VAE decode), best of 2 | {pipe_s:.3} s | {their_pipe:.3} s | **{rp:.3}** | {gp:.0}* | {tgp:.0}* |\n\n\
CPU time (user+system seconds of the process, less disturbed by other load):\n\n\
| workload | ours | diffusers | ours/diffusers |\n\
|---|---|---|---|\n\
| one UNet call, CFG, 256×256 | {unet_cpu:.2} s | {their_unet_cpu:.2} s | **{rcu:.3}** |\n\
| 4-step pipeline, CFG, 256×256 | {pipe_cpu:.2} s | {their_pipe_cpu:.2} s | **{rcp:.3}** |\n\n\
GFLOP counts: an SD1.5 UNet forward is 677 GFLOP at 64×64 latents, batch 1; scaled by latent\n\
pixels and batch, one CFG call at 32×32 is {unet_gflop:.1} GFLOP. *Pipeline GFLOP/s count only\n\
the UNet work ({pipe_gflop:.0} GFLOP); the VAE decode and text encoder are extra work in both.\n\n\
Ours: model load {load_s:.1} s; UNet runs {unet_all:?}; pipeline runs {pipe_all:?}.\n\
diffusers: UNet runs {tua}; pipeline runs {tpa}.\n\n\
Goal: ours/diffusers ≤ 1.0 at the same precision. No GPU was available for this run; the GPU\n\
goals (fp16 512×512 20-step latency, batch-8 throughput) are not measured yet.\n",
        torch = theirs["torch"].as_str().unwrap_or("?"),
        ru = unet_s / their_unet,
        rv = vae_s / their_vae,
        rcu = unet_cpu / their_unet_cpu,
        rcp = pipe_cpu / their_pipe_cpu,
        rp = pipe_s / their_pipe,
        gu = unet_gflop / unet_s,
        tgu = unet_gflop / their_unet,
        gp = pipe_gflop / pipe_s,
        tgp = pipe_gflop / their_pipe,
        tua = theirs["unet_all"],
        tpa = theirs["pipeline_all"],
    );
    println!("{md}");
    Ok(md)
}

/// Stands for the sentence that says which run the SDXL rows came from ([`xl_when`]).
const WHEN: &str = "{WHEN}";

/// The SDXL section with [`WHEN`] filled in: `same_run` when the SD1.5 tables above it were
/// measured by this run too.
fn xl_when(section: &str, date: &str, same_run: bool) -> String {
    let when = if same_run {
        format!("Same run as the SD1.5 tables above; this part ran first, on {date}.")
    } else {
        format!(
            "These rows come from a **separate run** (`PRESSROOM_BENCH_ONLY=sdxl`, or a run whose\n\
SD1.5 part had not finished) on {date}, not the run that wrote the SD1.5 tables above."
        )
    };
    section.replacen(WHEN, &when, 1)
}

/// The SDXL part: returns its BENCHMARKS.md section, with [`WHEN`] to fill in, and the date.
fn sdxl() -> anyhow::Result<(String, String)> {
    let tiny = tiny();
    let model = bench_dir().join(if tiny { "sdxl-tiny" } else { "sdxl-random" });
    ensure_model("make-xl", &model, "SDXL-sized")?;
    let threads = tch::get_num_threads();
    let load_before = loadavg();

    // A folder without a manifest is hashed on its first load only (digest_cache).
    let remembered = model.join(pressroom_diffusion::digest_cache::FILE).exists();
    eprintln!("ours (SDXL): loading ...");
    let t0 = Instant::now();
    let sd = StableDiffusion::load(&model, DeviceChoice::cpu())?;
    let load_s = t0.elapsed().as_secs_f64();
    anyhow::ensure!(
        sd.unet.needs_added_conditioning() && sd.xl.is_some(),
        "{} did not load as SDXL",
        model.display()
    );
    let (unet_all, unet_cpu, text_all, text_cpu) = {
        let _g = tch::no_grad_guard();
        let cfg = &sd.unet.config;
        let time_dim = cfg.addition_time_embed_dim.unwrap_or(256);
        let pooled_dim = cfg.projection_class_embeddings_input_dim.unwrap_or(2816) - 6 * time_dim;
        let cpu = (Kind::Float, tch::Device::Cpu);
        tch::manual_seed(0);
        let x = Tensor::randn([2, 4, 32, 32], cpu);
        let ctx = Tensor::randn([2, 77, cfg.cross_attention_dim], cpu);
        let pooled = Tensor::randn([2, pooled_dim], cpu);
        let ids = Tensor::from_slice(&[256.0f32, 256.0, 0.0, 0.0, 256.0, 256.0]);
        let time_ids = Tensor::stack(&[&ids, &ids], 0);
        let t = Tensor::from_slice(&[500.0f32, 500.0]);
        // One call as diffusers' `unet(x, t, ctx, added_cond_kwargs)`: the conditioning's K/V
        // and the added embedding are part of it.
        let call = || {
            let kv = sd.unet.context_kv(&ctx);
            let added = sd.unet.added_embedding(&pooled, &time_ids);
            sd.unet.forward_added(&x, &t, &kv, added.as_ref())
        };
        let _ = call(); // warm-up
        let (mut unet, mut unet_cpu) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            let (s, c) = (Instant::now(), cpu_seconds());
            let _ = call();
            unet.push(s.elapsed().as_secs_f64());
            unet_cpu.push(cpu_seconds() - c);
        }
        let (mut text, mut text_cpu) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            let (s, c) = (Instant::now(), cpu_seconds());
            let _ = sd.encode_text_xl(&[NEGATIVE_XL, PROMPT_XL])?;
            text.push(s.elapsed().as_secs_f64());
            text_cpu.push(cpu_seconds() - c);
        }
        (unet, best(&unet_cpu), text, best(&text_cpu))
    };
    drop(sd);
    let (unet_s, text_s) = (best(&unet_all), best(&text_all));
    eprintln!("ours (SDXL): unet {unet_s:.3}s {unet_all:?}, text {text_s:.3}s {text_all:?}");

    eprintln!("diffusers (SDXL): timing ...");
    let theirs = diffusers_json("time-xl", &model, threads)?;
    let load_after = loadavg();
    let num = |k: &str| theirs[k].as_f64().unwrap_or(f64::NAN);
    let (their_unet, their_text) = (num("unet_s"), num("text_s"));
    eprintln!("diffusers (SDXL): unet {their_unet:.3}s, text {their_text:.3}s");
    let gflop = num("unet_gflop");
    let date = utc_now();
    let size = if tiny {
        "**TINY smoke-test sizes (`PRESSROOM_BENCH_TINY=1`): these figures mean nothing**;\n\
fp32, a few MB"
    } else {
        "SDXL-base sizes: UNet 320/640/1280 with 1/2/10 transformer layers, 2048-wide\n\
cross-attention and the 2816-wide added conditioning; CLIP ViT-L (768, 12 layers) and OpenCLIP\n\
bigG-sized (1280, 32 layers, projection 1280) text encoders; SDXL VAE;\n\
fp32, ~14 GB"
    };
    let section = format!(
        "\n## SDXL (CPU)\n\n\
{WHEN}\n\n\
Random-weight SDXL pipeline written by `scripts/diffusion/bench_reference.py make-xl` ({size}). Same folder, device (CPU), precision (fp32) and thread count ({threads}) for both,\n\
one after the other (never both models in memory). CPU: {cpu}. diffusers side: torch {torch}.\n\
Load average before/after: {load_before} / {load_after}.\n\n\
| workload | ours | diffusers | ours/diffusers | ours GFLOP/s | diffusers GFLOP/s |\n\
|---|---|---|---|---|---|\n\
| one SDXL UNet call, 256×256, CFG (batch 2, 32×32 latents, added conditioning), best of 2 | {unet_s:.3} s | {their_unet:.3} s | **{ru:.3}** | {gu:.0} | {tgu:.0} |\n\
| text encoding of a prompt + negative prompt through both encoders, best of 2 | {text_s:.3} s | {their_text:.3} s | **{rt:.3}** | | |\n\
| model load (to CPU memory) | {load_s:.1} s | {their_load:.1} s | {rl:.3} | | |\n\n\
CPU time (user+system seconds of the process):\n\n\
| workload | ours | diffusers | ours/diffusers |\n\
|---|---|---|---|\n\
| one SDXL UNet call, CFG, 256×256 | {unet_cpu:.2} s | {their_unet_cpu:.2} s | **{rcu:.3}** |\n\
| text encoding, prompt pair | {text_cpu:.2} s | {their_text_cpu:.2} s | **{rct:.3}** |\n\n\
GFLOP count: one CFG call of this UNet at 32×32 latents is {gflop:.1} GFLOP (PyTorch's flop\n\
counter on the diffusers UNet at batch 1, times 2, with the plain matmul attention processor\n\
because the counter has no formula for the CPU SDPA kernel). Both sides' UNet call includes\n\
the added embedding and the cross-attention K/V of the text. Text encoding: ours encodes the\n\
pair as one batch of 2 per encoder (`encode_text_xl`, what our pipeline does); diffusers'\n\
`encode_prompt` runs each encoder on the prompt and on the negative prompt separately.\n\n\
Model load: {load_note}; diffusers memory-maps the\n\
safetensors files, so its pages are read on first use (the untimed warm-up call) and its load\n\
figure leaves that reading out. Neither load figure is a like-for-like comparison.\n\
\n\
Ours: UNet runs {unet_all:?}; text runs {text_all:?}.\n\
diffusers: UNet runs {tua}; text runs {tta}.\n",
        load_note = if remembered {
            "this folder has no `pressroom-model.json` manifest, and ours took the weights' \
             digests from the `.pressroom-digests.json` its first load wrote (that first load \
             hashes every weights file, ~14 GB of sha256)"
        } else {
            "this folder has no `pressroom-model.json` manifest and had not been loaded \
             before, so ours hashed every weights file (sha256 of ~14 GB) and remembered the \
             digests for later loads (pulled and imported models have a manifest and skip it)"
        },
        cpu = cpu_name(),
        torch = theirs["torch"].as_str().unwrap_or("?"),
        their_load = num("load_s"),
        their_unet_cpu = num("unet_cpu_s"),
        their_text_cpu = num("text_cpu_s"),
        ru = unet_s / their_unet,
        rt = text_s / their_text,
        rl = load_s / num("load_s"),
        rcu = unet_cpu / num("unet_cpu_s"),
        rct = text_cpu / num("text_cpu_s"),
        gu = gflop / unet_s,
        tgu = gflop / their_unet,
        tua = theirs["unet_all"],
        tta = theirs["text_all"],
        WHEN = WHEN,
    );
    println!("{section}");
    Ok((section, date))
}
