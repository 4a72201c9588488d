#!/usr/bin/env python3
"""The Python half of scripts/gpu/run.sh (issue 17): environment, random-weight models, the
diffusers reference (images from explicit latents, timings), PSNR and the report.

  env OUT.json                            GPU, driver, torch/diffusers/transformers versions
  make DIR --size sd15|tiny [--device D]  random-weight SD 1.x pipeline (fp32 safetensors)
  latents MODEL SIZE OUT                  the initial latents both sides start from
  run --model M --work W --device D --dtype T --out F [--parts ...]   diffusers side
  report OUT_DIR                          PSNR + results.json + results.md from the parts

Everything is timed warm, with the device synchronised before each clock read.
"""

import argparse
import glob
import json
import math
import os
import platform
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "diffusion"))

PROMPT = "a photo of an astronaut riding a horse on the moon"
SEED = 1234
GUIDANCE = 7.5
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
# Dense bf16 tensor-core peak, TFLOP/s (vendor datasheets, SXM parts).
PEAKS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.1, "L4": 121.0}


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def env(out):
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
    }
    for mod in ("diffusers", "transformers"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception as e:  # reported, not fatal: the script says what is missing
            info[mod] = f"missing ({e.__class__.__name__})"
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        p = torch.cuda.get_device_properties(0)
        info["gpu_memory_gib"] = round(p.total_memory / 2**30, 1)
        info["sm_count"] = p.multi_processor_count
        try:
            q = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version,clocks.max.sm,power.limit", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20,
            )
            info["nvidia_smi"] = q.stdout.strip()
            info["driver"] = q.stdout.split(",")[0].strip()
        except Exception as e:
            info["nvidia_smi"] = f"unavailable ({e})"
        info["peak_bf16_tflops"] = next((v for k, v in PEAKS.items() if k in info["gpu"]), None)
    else:
        info["gpu"] = None
    with open(out, "w") as f:
        json.dump(info, f, indent=2)
    print(json.dumps(info))


def make(d, size, device):
    """SD1.5-sized (or tiny) random-weight pipeline; built on `device` for speed, saved fp32."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    from make_reference import write_tokenizer

    torch.manual_seed(0)
    with torch.device(device):
        if size == "tiny":
            unet = UNet2DConditionModel(
                block_out_channels=(32, 64), layers_per_block=2, sample_size=32,
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                cross_attention_dim=32, attention_head_dim=(2, 4), norm_num_groups=32,
            )
            vae = AutoencoderKL(
                block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D"] * 2,
                up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4,
            )
            text = CLIPTextConfig(
                bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37, num_attention_heads=4,
                num_hidden_layers=5, pad_token_id=1, vocab_size=1000, projection_dim=32,
            )
        else:
            unet = UNet2DConditionModel(
                sample_size=64, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                cross_attention_dim=768, attention_head_dim=8,
                down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            )
            vae = AutoencoderKL(
                block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
                up_block_types=["UpDecoderBlock2D"] * 4, layers_per_block=2, latent_channels=4, sample_size=512,
            )
            text = CLIPTextConfig(
                vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768,
            )
        text_encoder = CLIPTextModel(text)
    # Default inits leave images near flat; widen them so differences would show.
    with torch.no_grad():
        for m in (unet, vae, text_encoder):
            for _, p in m.named_parameters():
                if p.dim() > 1:
                    p.mul_(1.5 if size == "tiny" else 1.2)
    tokenizer = write_tokenizer(os.path.join(d + "-tokenizer"))
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        set_alpha_to_one=False, steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(d, safe_serialization=True)


def latents(model, size, out):
    from safetensors.torch import save_file

    cfg = json.load(open(os.path.join(model, "unet", "config.json")))
    vae = json.load(open(os.path.join(model, "vae", "config.json")))
    f = 2 ** (len(vae["block_out_channels"]) - 1)
    shape = (1, cfg.get("in_channels", 4), size // f, size // f)
    # The seed's first draw: the numbers our engine draws for SEED, and diffusers on CPU.
    z = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(SEED), dtype=torch.float32)
    save_file({"latents": z.contiguous()}, out)


def patch_ancestral_noise():
    """diffusers draws Euler-ancestral noise in the pipeline dtype from the CPU generator; our
    engine draws fp32 and casts. Make diffusers draw like us so both use the same noise."""
    import diffusers.schedulers.scheduling_euler_ancestral_discrete as ea

    def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):
        z = torch.randn(shape, generator=generator, dtype=torch.float32, device="cpu")
        return z.to(device=device, dtype=dtype)

    ea.randn_tensor = randn_tensor


def scheduler_for(name, base):
    from make_reference import SCHEDULERS

    return SCHEDULERS[name](base)


def timed(fn, iters, device):
    fn()  # warm-up
    runs = []
    for _ in range(iters):
        sync(device)
        s = time.perf_counter()
        fn()
        sync(device)
        runs.append(time.perf_counter() - s)
    s = sorted(runs)
    return {"best_s": s[0], "median_s": s[len(s) // 2], "mean_s": sum(s) / len(s), "runs": runs}


@torch.inference_mode()
def run(a):
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import load_file, save_file

    patch_ancestral_noise()
    dtype = DTYPES[a.dtype]
    dev = a.device
    parts = set(a.parts.split(","))
    pipe = StableDiffusionPipeline.from_pretrained(
        a.model, torch_dtype=dtype, safety_checker=None, requires_safety_checker=False
    ).to(dev)
    pipe.set_progress_bar_config(disable=True)
    base = pipe.scheduler.config
    rep = {
        "dtype": a.dtype, "device": dev,
        "attention_processor": type(pipe.unet.attn_processors[next(iter(pipe.unet.attn_processors))]).__name__,
    }
    size = a.size
    if "correctness" in parts:
        z0 = load_file(os.path.join(a.work, "latents.safetensors"))["latents"]
        res = {}
        for name in a.schedulers.split(","):
            steps, g = (1, 0.0) if name == "turbo" else (a.steps, GUIDANCE)
            pipe.scheduler = scheduler_for(name, base)
            gen = torch.Generator("cpu").manual_seed(SEED)
            torch.randn(z0.shape, generator=gen)  # the draw the latents came from
            bad = []

            def on_step(p, i, t, kw):
                if not bad and not torch.isfinite(kw["latents"]).all():
                    bad.append(i + 1)
                return kw

            img = pipe(
                PROMPT, num_inference_steps=steps, guidance_scale=g, height=size, width=size,
                latents=z0.to(dev, dtype), generator=gen, output_type="np", callback_on_step_end=on_step,
            ).images[0]
            import numpy as np

            px = torch.from_numpy(np.ascontiguousarray((img * 255).round().astype(np.uint8)))
            fname = f"diffusers_{a.dtype}_{name}.safetensors"
            save_file({"image": px}, os.path.join(a.work, fname))
            res[name] = {"steps": steps, "guidance": g, "nonfinite_latents_at_step": bad[0] if bad else None,
                         "image": fname}
        rep["correctness"] = res
        pipe.scheduler = scheduler_for("ddim", base)

    lat = size // 8
    if "unet" in parts:
        per = {}
        for b in [int(x) for x in a.batches.split(",")]:
            x = torch.randn((b, 4, lat, lat), device=dev, dtype=dtype)
            ctx = torch.randn((b, 77, pipe.unet.config.cross_attention_dim), device=dev, dtype=dtype)
            t = torch.full((b,), 500.0, device=dev)
            for _ in range(3):  # warm-up
                pipe.unet(x, t, encoder_hidden_states=ctx)
            sync(dev)
            s = time.perf_counter()
            for _ in range(a.unet_iters):
                pipe.unet(x, t, encoder_hidden_states=ctx)
            sync(dev)
            per[str(b)] = {"step_s": (time.perf_counter() - s) / a.unet_iters, "iters": a.unet_iters}
        rep["unet"] = per
        # FLOPs of one batch-1 UNet call (PyTorch's flop counter: 2 per multiply-add).
        from torch.utils.flop_counter import FlopCounterMode

        x = torch.randn((1, 4, lat, lat), device=dev, dtype=dtype)
        ctx = torch.randn((1, 77, pipe.unet.config.cross_attention_dim), device=dev, dtype=dtype)
        with FlopCounterMode(display=False) as fc:
            pipe.unet(x, torch.full((1,), 500.0, device=dev), encoder_hidden_states=ctx)
        rep["unet_flops_batch1"] = fc.get_total_flops()

    def gen(steps, g, name):
        pipe.scheduler = scheduler_for(name, base)
        return lambda: pipe(
            PROMPT, num_inference_steps=steps, guidance_scale=g, height=size, width=size,
            generator=torch.Generator("cpu").manual_seed(SEED), output_type="np",
        )

    if "pipeline" in parts:
        rep["pipeline"] = dict(timed(gen(a.steps, GUIDANCE, "ddim"), a.pipe_iters, dev), steps=a.steps,
                               scheduler="ddim")
    if "turbo" in parts:
        rep["turbo"] = dict(timed(gen(1, 0.0, "turbo"), a.pipe_iters, dev), steps=1)
    with open(a.out, "w") as f:
        json.dump(rep, f, indent=2)


def psnr(a, b):
    mse = ((a.double() - b.double()) ** 2).mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def fmt_s(v):
    if v is None:
        return "–"
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"


def ratio(ours, theirs):
    return f"**{ours / theirs:.2f}**" if ours and theirs else "–"


def report(out):
    from safetensors.torch import load_file

    def load(name):
        p = os.path.join(out, name)
        return json.load(open(p)) if os.path.exists(p) else None

    env_ = load("env.json") or {}
    meta = load("meta.json") or {}
    sdxl = load("sdxl.json") or {}
    res = {"env": env_, "meta": meta, "sdxl": sdxl, "dtypes": {}}
    work = os.path.join(out, "work")
    md = []
    md.append(f"GPU check ({meta.get('command', 'scripts/gpu/run.sh')}), {meta.get('date', '?')}.\n")
    md.append(
        f"Device: **{env_.get('gpu') or 'CPU: ' + str(env_.get('cpu'))}**, driver {env_.get('driver', '–')}, "
        f"torch {env_.get('torch')} (CUDA {env_.get('torch_cuda')}, cuDNN {env_.get('cudnn')}), "
        f"diffusers {env_.get('diffusers')}, transformers {env_.get('transformers')}; ours links libtorch "
        f"{meta.get('ours_libtorch', '?')}. Model: {meta.get('model', '?')} with random weights, "
        f"{meta.get('size')}², {meta.get('steps')} steps for the full image.\n"
    )
    md.append(f"{sdxl.get('line', 'SDXL: not probed')}\n")
    vf = (load("ours_vae_fallback.json") or {}).get("vae_fallback")
    res["vae_fallback"] = vf
    if vf:
        ok = vf["decoded"] and vf["upcast_after"]
        md.append(
            f"\nVAE NaN fallback (fp16, latents ×1e6 overflow fp16): "
            f"{'works: the fp16 decode gave NaN/inf and was redone in fp32' if ok else 'FAILED: ' + str(vf.get('error') or 'no fallback happened')}\n"
        )
    else:
        md.append("\nVAE NaN fallback: not checked (our binary did not run)\n")
    peak = env_.get("peak_bf16_tflops")
    for dt in meta.get("dtypes", []):
        ours, theirs = load(f"ours_{dt}.json"), load(f"diffusers_{dt}.json")
        entry = {"ours": ours, "diffusers": theirs}
        res["dtypes"][dt] = entry
        md.append(f"\n### {dt}\n")
        if ours is None:
            md.append(f"Ours did not run: {meta.get('ours_error_' + dt, 'see log')}\n")
        if theirs is None:
            md.append(f"diffusers did not run: {meta.get('diffusers_error_' + dt, 'see log')}\n")
        # Correctness.
        rows = []
        psnrs = {}
        for name in (theirs or ours or {}).get("correctness", {}):
            o = (ours or {}).get("correctness", {}).get(name, {})
            t = (theirs or {}).get("correctness", {}).get(name, {})
            p, std = None, None
            fo = os.path.join(work, f"ours_{dt}_{name}.safetensors")
            ft = os.path.join(work, f"diffusers_{dt}_{name}.safetensors")
            if os.path.exists(fo) and os.path.exists(ft):
                a, b = load_file(fo)["image"], load_file(ft)["image"]
                p = psnr(a, b)
                std = b.double().std().item()
                maxd = (a.int() - b.int()).abs().max().item()
            psnrs[name] = p
            rows.append(
                f"| {name} | {o.get('steps', t.get('steps', '?'))} | "
                f"{'–' if p is None else ('∞' if p == float('inf') else f'{p:.1f} dB')} | "
                f"{'–' if p is None else maxd} | {'–' if std is None else f'{std:.1f}'} | "
                f"{o.get('nonfinite_latents_at_step') or ('none' if o else '–')} | "
                f"{t.get('nonfinite_latents_at_step') or ('none' if t else '–')} | "
                f"{'pass' if p is not None and p >= 35 else 'FAIL' if p is not None else '–'} |"
            )
        entry["psnr"] = psnrs
        if rows:
            md.append("\n| scheduler | steps | PSNR ours vs diffusers | max px diff | image std | NaN/inf step (ours) | NaN/inf step (diffusers) | ≥ 35 dB |\n|---|---|---|---|---|---|---|---|\n")
            md.append("\n".join(rows) + "\n")
        # Speed.
        srows = []
        ou, tu = (ours or {}).get("unet", {}), (theirs or {}).get("unet", {})
        for b in sorted(set(ou) | set(tu), key=int):
            o, t = ou.get(b, {}).get("step_s"), tu.get(b, {}).get("step_s")
            srows.append(f"| UNet step, batch {b} | {fmt_s(o)} | {fmt_s(t)} | {ratio(o, t)} |")
        for key, label in (("pipeline", "full image, DDIM, CFG"), ("turbo", "1-step turbo image, no CFG")):
            o = (ours or {}).get(key, {}).get("median_s")
            t = (theirs or {}).get(key, {}).get("median_s")
            if o or t:
                st = ((ours or {}).get(key) or (theirs or {}).get(key) or {}).get("steps", "")
                srows.append(f"| {label} ({st} steps), median | {fmt_s(o)} | {fmt_s(t)} | {ratio(o, t)} |")
        eng = (ours or {}).get("engine")
        if eng:
            srows.append(
                f"| engine: {eng['requests']} requests one by one | {fmt_s(eng['one_by_one_s'])} | | |\n"
                f"| engine: {eng['requests']} at once (largest batch {eng['largest_batch']}, {eng['batches_concurrent']} batch(es)) "
                f"| {fmt_s(eng['concurrent_s'])} | | throughput ×{eng['throughput_ratio']:.2f} |"
            )
        if srows:
            md.append("\n| workload | ours | diffusers | ours/diffusers (time) |\n|---|---|---|---|\n")
            md.append("\n".join(srows) + "\n")
        flops = (theirs or {}).get("unet_flops_batch1")
        if flops:
            entry["unet_gflop_batch1"] = flops / 1e9
            b8 = {k: (v or {}).get("unet", {}).get("8", {}).get("step_s") for k, v in (("ours", ours), ("diffusers", theirs))}
            line = f"\nUNet FLOPs (torch flop counter), batch 1 at {meta.get('size')}²: {flops / 1e9:.4g} GFLOP."
            for who, s in b8.items():
                if s:
                    tf = 8 * flops / s / 1e12
                    entry[f"{who}_batch8_tflops"] = tf
                    pct = f", {100 * tf / peak:.1f}% of the {peak:.0f} TFLOP/s bf16 peak" if peak else ""
                    line += f" {who} batch 8: {tf:.4g} TFLOP/s{pct}."
            md.append(line + "\n")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=2, default=str)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("".join(md))
    print("".join(md))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("env")
    s.add_argument("out")
    s = sub.add_parser("make")
    s.add_argument("dir")
    s.add_argument("--size", choices=["sd15", "tiny"], default="sd15")
    s.add_argument("--device", default="cpu")
    s = sub.add_parser("latents")
    s.add_argument("model")
    s.add_argument("size", type=int)
    s.add_argument("out")
    s = sub.add_parser("run")
    for k in ("model", "work", "device", "dtype", "out"):
        s.add_argument("--" + k, required=True)
    s.add_argument("--parts", default="correctness,unet,pipeline,turbo")
    s.add_argument("--size", type=int, default=512)
    s.add_argument("--steps", type=int, default=20)
    s.add_argument("--batches", default="1,2,4,8")
    s.add_argument("--unet-iters", type=int, default=10)
    s.add_argument("--pipe-iters", type=int, default=3)
    s.add_argument("--schedulers", default="ddim,euler,euler-a,dpmpp-2m,turbo")
    s = sub.add_parser("report")
    s.add_argument("out")
    a = ap.parse_args()
    if a.cmd == "env":
        env(a.out)
    elif a.cmd == "make":
        make(a.dir, a.size, a.device)
    elif a.cmd == "latents":
        latents(a.model, a.size, a.out)
    elif a.cmd == "run":
        torch.backends.cudnn.benchmark = False  # diffusers' default
        run(a)
    else:
        report(a.out)


if __name__ == "__main__":
    main()
