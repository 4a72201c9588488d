#!/usr/bin/env python3
"""The diffusers side of pressroom-diffusion's CPU benchmark.

  make DIR   write an SD1.5-sized random-weight pipeline (UNet 320/640/1280/1280, ViT-L/14
             text encoder, SD VAE) in the diffusers layout, fp32 safetensors (~4.3 GB)
  time DIR   time diffusers on it: one UNet call at 256x256 with CFG (batch 2, 32x32
             latents), a VAE decode to 256x256 and a 4-step DDIM pipeline at 256x256 with CFG; prints JSON
  make-xl DIR  write an SDXL-base-sized random-weight pipeline (UNet 320/640/1280 with 1/2/10
             transformer layers, CLIP ViT-L + OpenCLIP bigG-sized text encoders, SDXL VAE) in the
             StableDiffusionXLPipeline layout, fp32 safetensors (~14 GB); PRESSROOM_BENCH_TINY=1
             writes tiny sizes instead (a smoke test)
  time-xl DIR  time diffusers on it: one SDXL UNet call at 256x256 with CFG (batch 2, 32x32
             latents, added conditioning) and one encode_prompt of a prompt + negative prompt
             through both text encoders, and count the UNet call's FLOPs; prints JSON

Same precision (fp32), device (CPU) and thread count as the Rust side.
"""

import json
import os
import struct
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


# --- SDXL ------------------------------------------------------------------------------------

PROMPT_XL = "a lighthouse on a cliff at dusk"
NEGATIVE_XL = "blurry, low quality"


def xl_sizes():
    """SDXL-base sizes, or tiny ones with PRESSROOM_BENCH_TINY=1 (a smoke test of the code path)."""
    if os.environ.get("PRESSROOM_BENCH_TINY") == "1":
        return dict(blocks=(32, 64, 64), layers=(1, 1, 1), heads=(2, 4, 4), time_dim=8,
                    te1=(64, 2, 4), te2=(64, 2, 4), proj=64, vae=[32, 64])
    return dict(blocks=(320, 640, 1280), layers=(1, 2, 10), heads=(5, 10, 20), time_dim=256,
                te1=(768, 12, 12), te2=(1280, 32, 20), proj=1280, vae=[128, 256, 512, 512])


def save_streaming(module, path):
    """Writes `module`'s weights as one fp32 safetensors file tensor by tensor.

    `safetensors.torch.save_file` first copies every tensor into a bytes object; for the
    10 GB SDXL UNet that doubles the memory (24 GB machine), so the file is written here in
    the same format without the copy (tied weights are stored once per name, as save_file)."""
    state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for k, v in state.items():
        assert v.dtype == torch.float32, k
        n = v.numel() * 4
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [offset, offset + n]}
        offset += n
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for v in state.values():
            f.write(memoryview(v.numpy()).cast("B"))


def make_xl(d):
    """An SDXL-base-sized random pipeline in the layout `StableDiffusionXLPipeline.save_pretrained`
    writes, one component at a time so that only one large model is in memory."""
    import diffusers
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    sys.path.insert(0, os.path.dirname(__file__))
    from make_reference import write_tokenizer

    s = xl_sizes()
    os.makedirs(d, exist_ok=True)

    def component(name, model):
        sub = os.path.join(d, name)
        os.makedirs(sub, exist_ok=True)
        if hasattr(model, "save_config"):
            model.save_config(sub)
            save_streaming(model, os.path.join(sub, "diffusion_pytorch_model.safetensors"))
        else:
            model.config.architectures = [type(model).__name__]  # as transformers' save_pretrained
            model.config.save_pretrained(sub)
            save_streaming(model, os.path.join(sub, "model.safetensors"))
        print(f"wrote {name}", file=sys.stderr, flush=True)

    torch.manual_seed(0)
    component("unet", UNet2DConditionModel(
        sample_size=128,
        in_channels=4,
        out_channels=4,
        block_out_channels=s["blocks"],
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=s["layers"],
        attention_head_dim=s["heads"],
        cross_attention_dim=s["te1"][0] + s["te2"][0],
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=s["time_dim"],
        projection_class_embeddings_input_dim=6 * s["time_dim"] + s["proj"],
        norm_num_groups=32,
    ))
    torch.manual_seed(1)
    nv = len(s["vae"])
    component("vae", AutoencoderKL(
        block_out_channels=s["vae"],
        down_block_types=["DownEncoderBlock2D"] * nv,
        up_block_types=["UpDecoderBlock2D"] * nv,
        layers_per_block=2,
        latent_channels=4,
        sample_size=1024,
        scaling_factor=0.13025,
        force_upcast=True,
    ))
    for name, cls, (width, layers, heads), act, seed in (
        ("text_encoder", CLIPTextModel, s["te1"], "quick_gelu", 2),
        ("text_encoder_2", CLIPTextModelWithProjection, s["te2"], "gelu", 3),
    ):
        torch.manual_seed(seed)
        component(name, cls(CLIPTextConfig(
            vocab_size=49408, hidden_size=width, intermediate_size=4 * width, num_hidden_layers=layers,
            num_attention_heads=heads, max_position_embeddings=77, hidden_act=act,
            projection_dim=s["proj"] if cls is CLIPTextModelWithProjection else 768,
        )))
    for name, extra in (("tokenizer", {}), ("tokenizer_2", {"pad_token": "!"})):
        sub = os.path.join(d, name)
        write_tokenizer(sub)
        CLIPTokenizer(os.path.join(sub, "vocab.json"), os.path.join(sub, "merges.txt"), model_max_length=77,
                      **extra).save_pretrained(sub)
    EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
        timestep_spacing="leading", prediction_type="epsilon",
    ).save_config(os.path.join(d, "scheduler"))
    index = {
        "_class_name": "StableDiffusionXLPipeline",
        "_diffusers_version": diffusers.__version__,
        "force_zeros_for_empty_prompt": True,
        "feature_extractor": [None, None],
        "image_encoder": [None, None],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    with open(os.path.join(d, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2)


def xl_inputs(unet, batch):
    """The UNet inputs of one CFG call at 256x256 (32x32 latents), fixed by seed."""
    g = torch.Generator("cpu").manual_seed(0)
    x = torch.randn((batch, 4, 32, 32), generator=g)
    ctx = torch.randn((batch, 77, unet.config.cross_attention_dim), generator=g)
    pooled = torch.randn((batch, unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim), generator=g)
    time_ids = torch.tensor([[256.0, 256.0, 0.0, 0.0, 256.0, 256.0]] * batch)
    return x, torch.tensor([500.0] * batch), ctx, {"text_embeds": pooled, "time_ids": time_ids}


@torch.no_grad()
def timed_xl(d, threads):
    from diffusers import StableDiffusionXLPipeline
    from diffusers.models.attention_processor import AttnProcessor
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(threads)
    s = time.perf_counter()
    pipe = StableDiffusionXLPipeline.from_pretrained(d)
    load = time.perf_counter() - s
    x, t, ctx, added = xl_inputs(pipe.unet, 2)
    pipe.unet(x, t, encoder_hidden_states=ctx, added_cond_kwargs=added)  # warm-up
    unet, unet_cpu = [], []
    for _ in range(2):
        s, c = time.perf_counter(), time.process_time()
        pipe.unet(x, t, encoder_hidden_states=ctx, added_cond_kwargs=added)
        unet.append(time.perf_counter() - s)
        unet_cpu.append(time.process_time() - c)
    text, text_cpu = [], []
    for _ in range(2):
        s, c = time.perf_counter(), time.process_time()
        pipe.encode_prompt(PROMPT_XL, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True,
                           negative_prompt=NEGATIVE_XL)
        text.append(time.perf_counter() - s)
        text_cpu.append(time.process_time() - c)
    # FLOPs of one CFG call: PyTorch's counter has no formula for the CPU SDPA kernel, so count
    # with the plain matmul attention processor (same arithmetic), at batch 1, times 2.
    pipe.unet.set_attn_processor(AttnProcessor())
    x1, t1, ctx1, added1 = xl_inputs(pipe.unet, 1)
    with FlopCounterMode(display=False) as fc:
        pipe.unet(x1, t1, encoder_hidden_states=ctx1, added_cond_kwargs=added1)
    unet_flops = 2 * fc.get_total_flops()
    print(json.dumps({
        "load_s": load, "unet_s": min(unet), "unet_all": unet, "unet_cpu_s": min(unet_cpu),
        "text_s": min(text), "text_all": text, "text_cpu_s": min(text_cpu),
        "unet_gflop": unet_flops / 1e9,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "make":
        make(d)
    elif cmd == "make-xl":
        make_xl(d)
    elif cmd == "time-xl":
        timed_xl(d, int(sys.argv[3]) if len(sys.argv) > 3 else torch.get_num_threads())
    else:
        timed(d, int(sys.argv[3]) if len(sys.argv) > 3 else torch.get_num_threads())
