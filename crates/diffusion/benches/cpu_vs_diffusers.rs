//! Benchmark: our engine vs Python diffusers on the same SD1.5-sized random-weight model
//! folder, same device (CPU), precision (fp32) and thread count. Measures one UNet call at
//! 256×256 with CFG (batch 2, 32×32 latents) and a 4-step 256×256 CFG pipeline, and writes
//! the ratios and achieved GFLOP/s to `crates/diffusion/BENCHMARKS.md`.
//!
//! `cargo bench -p pressroom-diffusion --bench cpu_vs_diffusers`
//! (the model is written once to `bench-out/sd15-random`, ~4.3 GB).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use pressroom_diffusion::{BatchParams, DeviceChoice, NoiseScheduler, Prompt, StableDiffusion};
use tch::{Kind, Tensor};

/// Where BENCHMARKS.md's GPU section starts; everything from it on survives a rewrite.
const GPU_MARKER: &str = "\n## GPU";

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

fn main() -> anyhow::Result<()> {
    let script = root().join("scripts/diffusion/bench_reference.py");
    let model = root().join("bench-out/sd15-random");
    if !model.join("model_index.json").exists() {
        eprintln!(
            "writing SD1.5-sized random model to {} ...",
            model.display()
        );
        let st = Command::new(python())
            .arg(&script)
            .arg("make")
            .arg(&model)
            .status()?;
        anyhow::ensure!(st.success(), "bench_reference.py make failed");
    }
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
    let out = Command::new(python())
        .arg(&script)
        .arg("time")
        .arg(&model)
        .arg(threads.to_string())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "bench_reference.py time failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let theirs: serde_json::Value = serde_json::from_str(line)?;
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
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
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
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    // This bench owns the CPU part; the GPU section (scripts/gpu/run.sh) is kept as written.
    let gpu = std::fs::read_to_string(&path)
        .ok()
        .and_then(|old| old.find(GPU_MARKER).map(|i| old[i..].to_string()))
        .unwrap_or_default();
    std::fs::write(&path, format!("{md}{gpu}"))?;
    println!("{md}");
    eprintln!("wrote {}", path.display());
    Ok(())
}
