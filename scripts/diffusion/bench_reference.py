#!/usr/bin/env python3
"""The diffusers side of pressroom-diffusion's CPU benchmark.

  make DIR   write an SD1.5-sized random-weight pipeline (UNet 320/640/1280/1280, ViT-L/14
             text encoder, SD VAE) in the diffusers layout, fp32 safetensors (~4.3 GB)
  time DIR   time diffusers on it: one UNet call at 256x256 with CFG (batch 2, 32x32
             latents), a VAE decode to 256x256 and a 4-step DDIM pipeline at 256x256 with CFG; prints JSON

Same precision (fp32), device (CPU) and thread count as the Rust side.
"""

import json
import os
import sys
import time

import torch


def make(d):
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    sys.path.insert(0, os.path.dirname(__file__))
    from make_reference import write_tokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        cross_attention_dim=768,
        attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    )
    vae = AutoencoderKL(
        block_out_channels=[128, 256, 512, 512],
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
            num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
            projection_dim=768,
        )
    )
    tokenizer = write_tokenizer(os.path.join(d, "..", "bench-tokenizer"))
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        set_alpha_to_one=False, steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(d, safe_serialization=True)


@torch.no_grad()
def timed(d, threads):
    from diffusers import StableDiffusionPipeline

    torch.set_num_threads(threads)
    pipe = StableDiffusionPipeline.from_pretrained(d, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    g = torch.Generator("cpu").manual_seed(0)
    x = torch.randn((2, 4, 32, 32), generator=g)
    ctx = torch.randn((2, 77, 768), generator=g)
    t = torch.tensor([500.0, 500.0])
    pipe.unet(x, t, encoder_hidden_states=ctx)  # warm-up
    unet, unet_cpu = [], []
    for _ in range(3):
        s, c = time.perf_counter(), time.process_time()
        pipe.unet(x, t, encoder_hidden_states=ctx)
        unet.append(time.perf_counter() - s)
        unet_cpu.append(time.process_time() - c)
    z = torch.randn((1, 4, 32, 32), generator=g)
    vae = []
    for _ in range(2):
        s = time.perf_counter()
        pipe.vae.decode(z / pipe.vae.config.scaling_factor)
        vae.append(time.perf_counter() - s)
    pipeline, pipeline_cpu = [], []
    for _ in range(2):
        s, c = time.perf_counter(), time.process_time()
        pipe("a lighthouse on a cliff at dusk", num_inference_steps=4, guidance_scale=7.5, height=256, width=256,
             generator=torch.Generator("cpu").manual_seed(1), output_type="np")
        pipeline.append(time.perf_counter() - s)
        pipeline_cpu.append(time.process_time() - c)
    print(json.dumps({
        "unet_s": min(unet), "unet_all": unet, "vae_s": min(vae), "vae_all": vae,
        "unet_cpu_s": min(unet_cpu), "pipeline_cpu_s": min(pipeline_cpu),
        "pipeline_s": min(pipeline), "pipeline_all": pipeline,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "make":
        make(d)
    else:
        timed(d, int(sys.argv[3]) if len(sys.argv) > 3 else torch.get_num_threads())
