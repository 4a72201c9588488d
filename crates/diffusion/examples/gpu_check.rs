//! Our side of the GPU check (issue 17), driven by `scripts/gpu/run.sh`: one process per
//! precision loads the model once and runs the parts asked for, writing images and one JSON
//! object of figures. Works on CPU too (`--device cpu`, tiny models) so the script is tested
//! without a GPU.
//!
//! ```text
//! gpu_check probe-sdxl DIR
//! gpu_check run --model DIR --work DIR --device cuda|cpu --dtype fp16|bf16|fp32 --out FILE.json
//!     [--parts correctness,unet,pipeline,turbo,engine,vae-fallback] [--size 512] [--steps 20]
//!     [--batches 1,2,4,8] [--unet-iters 10] [--pipe-iters 3] [--engine-requests 8]
//!     [--schedulers ddim,euler,euler-a,dpmpp-2m,turbo]
//! ```
//!
//! Correctness reads `WORK/latents.safetensors` (key `latents`, `(1, C, size/8, size/8)` fp32)
//! and writes `WORK/ours_<dtype>_<scheduler>.safetensors` (key `image`, uint8 HWC).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pressroom_diffusion::{
    BatchParams, CancelFlag, DeviceChoice, Engine, EngineConfig, EngineRequest, NoiseScheduler,
    Prompt, StableDiffusion,
};
use serde_json::{Value, json};
use tch::{Device, Kind, Tensor};

const PROMPT: &str = "a photo of an astronaut riding a horse on the moon";
const SEED: u64 = 1234;
const GUIDANCE: f32 = 7.5;

struct Args {
    kv: HashMap<String, String>,
}

impl Args {
    fn parse(rest: &[String]) -> anyhow::Result<Self> {
        let mut kv = HashMap::new();
        let mut it = rest.iter();
        while let Some(k) = it.next() {
            let Some(name) = k.strip_prefix("--") else {
                bail!("unexpected argument `{k}`");
            };
            let v = it
                .next()
                .with_context(|| format!("--{name} needs a value"))?;
            kv.insert(name.to_string(), v.clone());
        }
        Ok(Self { kv })
    }

    fn get(&self, k: &str, default: &str) -> String {
        self.kv
            .get(k)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    fn need(&self, k: &str) -> anyhow::Result<String> {
        self.kv
            .get(k)
            .cloned()
            .with_context(|| format!("--{k} is required"))
    }

    fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> anyhow::Result<T> {
        match self.kv.get(k) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| anyhow::anyhow!("--{k}: bad number `{v}`")),
        }
    }

    fn list(&self, k: &str, default: &str) -> Vec<String> {
        self.get(k, default)
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("probe-sdxl") => {
            let dir = argv.get(1).context("probe-sdxl DIR")?;
            let answer = match StableDiffusion::load(Path::new(dir), DeviceChoice::cpu()) {
                Err(pressroom_diffusion::DiffusionError::Unsupported(m)) if m.contains("SDXL") => {
                    json!({"sdxl": "refused", "message": m})
                }
                Err(e) => json!({"sdxl": "error", "message": e.to_string()}),
                Ok(_) => json!({"sdxl": "loaded"}),
            };
            println!("{answer}");
            Ok(())
        }
        Some("run") => {
            let args = Args::parse(&argv[1..])?;
            let out = PathBuf::from(args.need("out")?);
            let report = run(&args)?;
            std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
            eprintln!("wrote {}", out.display());
            Ok(())
        }
        _ => bail!("usage: gpu_check probe-sdxl DIR | gpu_check run --model DIR ... (see source)"),
    }
}

fn device_choice(device: &str, dtype: &str) -> anyhow::Result<DeviceChoice> {
    let device = match device {
        "cpu" => Device::Cpu,
        "cuda" => {
            anyhow::ensure!(tch::Cuda::is_available(), "--device cuda: no CUDA device");
            Device::Cuda(0)
        }
        other => bail!("--device {other}: cpu or cuda"),
    };
    let kind = match dtype {
        "fp32" => Kind::Float,
        "fp16" => Kind::Half,
        "bf16" => Kind::BFloat16,
        other => bail!("--dtype {other}: fp32, fp16 or bf16"),
    };
    Ok(DeviceChoice { device, kind })
}

fn stats(v: &[f64]) -> Value {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let median = if s.is_empty() {
        f64::NAN
    } else {
        s[s.len() / 2]
    };
    let mean = s.iter().sum::<f64>() / s.len().max(1) as f64;
    json!({"best_s": s.first(), "median_s": median, "mean_s": mean, "runs": v})
}

fn run(args: &Args) -> anyhow::Result<Value> {
    let model = PathBuf::from(args.need("model")?);
    let work = PathBuf::from(args.need("work")?);
    let dtype = args.get("dtype", "fp16");
    let dev = device_choice(&args.get("device", "cuda"), &dtype)?;
    let parts = args.list(
        "parts",
        "correctness,unet,pipeline,turbo,engine,vae-fallback",
    );
    let has = |p: &str| parts.iter().any(|x| x == p);
    let size: u32 = args.num("size", 512)?;
    let steps: u32 = args.num("steps", 20)?;
    let mut report = json!({"dtype": dtype, "device": dev.describe()});

    let t0 = Instant::now();
    let sd = StableDiffusion::load(&model, dev)?;
    dev.synchronize();
    report["load_s"] = json!(t0.elapsed().as_secs_f64());
    report["identity"] = json!(sd.identity());

    let params = |scheduler, steps| BatchParams {
        steps,
        scheduler,
        width: size,
        height: size,
    };
    let prompt = |guidance| Prompt {
        prompt: PROMPT.into(),
        negative_prompt: None,
        seed: SEED,
        guidance,
    };

    if has("correctness") {
        let latents: HashMap<String, Tensor> =
            Tensor::read_safetensors(work.join("latents.safetensors"))
                .context("reading latents.safetensors")?
                .into_iter()
                .collect();
        let noise = latents.get("latents").context("no `latents` tensor")?;
        let mut results = serde_json::Map::new();
        for name in args.list("schedulers", "ddim,euler,euler-a,dpmpp-2m,turbo") {
            let kind: NoiseScheduler = name.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let (st, g) = if kind == NoiseScheduler::Turbo {
                (1, 0.0)
            } else {
                (steps, GUIDANCE)
            };
            let mut first_bad: Option<u32> = None;
            let started = Instant::now();
            let imgs = sd.generate_with(
                &params(kind, st),
                &[prompt(g)],
                Some(noise),
                &mut |s, _, x| {
                    let finite = x.isfinite().all().int64_value(&[]) != 0;
                    if !finite && first_bad.is_none() {
                        first_bad = Some(s);
                    }
                },
            )?;
            let img = &imgs[0];
            let t = Tensor::from_slice(&img.data).view([img.height as i64, img.width as i64, 3]);
            let file = work.join(format!("ours_{dtype}_{name}.safetensors"));
            Tensor::write_safetensors(&[("image", &t)], &file)?;
            results.insert(
                name.clone(),
                json!({
                    "steps": st, "guidance": g,
                    "nonfinite_latents_at_step": first_bad,
                    "seconds_incl_nan_checks": started.elapsed().as_secs_f64(),
                    "image": file.file_name().map(|f| f.to_string_lossy().to_string()),
                }),
            );
        }
        report["correctness"] = Value::Object(results);
    }

    if has("unet") {
        let iters: usize = args.num("unet-iters", 10)?;
        let lat = (size / 8) as i64;
        let c = sd.unet.config.in_channels;
        let ctx_dim = sd.unet.config.cross_attention_dim;
        let mut per = serde_json::Map::new();
        let _g = tch::no_grad_guard();
        for b in args.list("batches", "1,2,4,8") {
            let b: i64 = b.parse().context("--batches")?;
            let x = Tensor::randn([b, c, lat, lat], (dev.kind, dev.device));
            let ctx = Tensor::randn([b, 77, ctx_dim], (dev.kind, dev.device));
            let t = Tensor::full([b], 500.0, (Kind::Float, dev.device));
            // As in the sampling loop: the prompt's K/V once, then one forward per step.
            let kv = sd.unet.context_kv(&ctx);
            for _ in 0..3 {
                let _ = sd.unet.forward_kv(&x, &t, &kv);
            }
            dev.synchronize();
            let s = Instant::now();
            for _ in 0..iters {
                let _ = sd.unet.forward_kv(&x, &t, &kv);
            }
            dev.synchronize();
            let step = s.elapsed().as_secs_f64() / iters as f64;
            per.insert(b.to_string(), json!({"step_s": step, "iters": iters}));
        }
        report["unet"] = Value::Object(per);
    }

    let pipe_iters: usize = args.num("pipe-iters", 3)?;
    let time_gen = |kind, st, g| -> anyhow::Result<Value> {
        let p = params(kind, st);
        sd.generate(&p, &[prompt(g)], &mut |_, _| {})?; // warm-up (and cuDNN autotuning)
        let mut runs = Vec::new();
        for _ in 0..pipe_iters {
            dev.synchronize();
            let s = Instant::now();
            sd.generate(&p, &[prompt(g)], &mut |_, _| {})?;
            runs.push(s.elapsed().as_secs_f64());
        }
        Ok(stats(&runs))
    };
    if has("pipeline") {
        let mut v = time_gen(NoiseScheduler::Ddim, steps, GUIDANCE)?;
        v["steps"] = json!(steps);
        v["scheduler"] = json!("ddim");
        report["pipeline"] = v;
    }
    if has("turbo") {
        let mut v = time_gen(NoiseScheduler::Turbo, 1, 0.0)?;
        v["steps"] = json!(1);
        report["turbo"] = v;
    }

    if has("vae-fallback") {
        // Latents this large overflow fp16 on the way into the VAE (max 65504), so the
        // decode in fp16 gives inf/NaN; the fallback must redo it in fp32 and give pixels.
        let lat = (size / 8) as i64;
        let z = Tensor::randn([1, 4, lat, lat], (Kind::Float, Device::Cpu)) * 1e6;
        let before = sd.vae_upcast();
        let r = sd.decode(&z);
        report["vae_fallback"] = json!({
            "dtype": dtype,
            "upcast_before": before,
            "decoded": r.is_ok(),
            "error": r.as_ref().err().map(|e| e.to_string()),
            "upcast_after": sd.vae_upcast(),
            "applies": dev.kind != Kind::Float,
        });
    }
    drop(sd);

    if has("engine") {
        report["engine"] = engine_bench(args, &model, dev, size, steps)?;
    }
    Ok(report)
}

/// `n` requests through the engine's batching: all submitted at once vs one after another.
fn engine_bench(
    args: &Args,
    model: &Path,
    dev: DeviceChoice,
    size: u32,
    steps: u32,
) -> anyhow::Result<Value> {
    let n: usize = args.num("engine-requests", 8)?;
    let engine = Engine::start(
        model,
        dev,
        EngineConfig {
            batch_window: Duration::from_millis(50),
            max_batch: n,
            queue_capacity: 4 * n,
            ..EngineConfig::default()
        },
    )?;
    let submit = |i: usize, tx: mpsc::Sender<anyhow::Result<()>>| {
        engine.submit(EngineRequest {
            params: BatchParams {
                steps,
                scheduler: NoiseScheduler::Ddim,
                width: size,
                height: size,
            },
            prompt: Prompt {
                prompt: format!("{PROMPT}, variation {i}"),
                negative_prompt: None,
                seed: SEED + i as u64,
                guidance: GUIDANCE,
            },
            tenant: format!("t{i}"),
            cancel: CancelFlag::default(),
            progress: None,
            reply: Box::new(move |r| {
                let _ = tx.send(r.map(|_| ()).map_err(anyhow::Error::from));
            }),
        });
    };
    let together = |count: usize| -> anyhow::Result<f64> {
        let (tx, rx) = mpsc::channel();
        let s = Instant::now();
        for i in 0..count {
            submit(i, tx.clone());
        }
        for _ in 0..count {
            rx.recv().context("engine reply")??;
        }
        Ok(s.elapsed().as_secs_f64())
    };
    // Warm-up: both batch shapes once (cuDNN autotunes per shape).
    together(n)?;
    together(1)?;
    let before = engine.stats();
    let mut one_by_one = 0.0;
    for _ in 0..n {
        one_by_one += together(1)?;
    }
    let mid = engine.stats();
    let concurrent = together(n)?;
    let after = engine.stats();
    Ok(json!({
        "requests": n,
        "steps": steps,
        "one_by_one_s": one_by_one,
        "concurrent_s": concurrent,
        "throughput_ratio": one_by_one / concurrent,
        "batches_one_by_one": mid.batches - before.batches,
        "batches_concurrent": after.batches - mid.batches,
        "largest_batch": after.largest_batch,
    }))
}
