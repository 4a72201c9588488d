#!/usr/bin/env python3
"""Reference outputs from the Python `diffusers` package for pressroom-diffusion's parity tests.

Builds tiny random-weight Stable Diffusion pipelines offline (an SD 1.x-style one and an
SD 2.x-style one with linear projections and v-prediction), saves each in the diffusers
layout, and dumps reference tensors computed by diffusers/transformers:

  OUT/<variant>/model/                 the pipeline folder (save_pretrained, safetensors)
  OUT/<variant>/reference.safetensors  ids, text_emb, unet_in/t/out (context: text_emb), vae_in/out,
                                       latents0, image_<scheduler>[_neg] (uint8 HWC)

With --ours DIR it also loads a folder written by the Rust `init_tiny_model` and renders
OUT/ours/reference.safetensors (image_ddim), proving diffusers accepts what we write.

Usage: .venv/bin/python scripts/diffusion/make_reference.py OUT [--ours DIR]
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

PROMPT = "a photo of an astronaut riding a horse on the moon"
NEGATIVE = "blurry, low quality"
SEED = 1234
STEPS = 4
SIZE = 64
GUIDANCE = 7.5


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


MERGES = [("t", "h"), ("th", "e</w>"), ("a", "n"), ("i", "n"), ("e", "r"), ("o", "n"), ("r", "e"), ("a", "t")]


def write_tokenizer(d):
    """A CLIP byte-level BPE vocabulary with a few merges, built offline."""
    os.makedirs(d, exist_ok=True)
    chars = bytes_to_unicode()
    vocab = chars + [c + "</w>" for c in chars] + [a + b for a, b in MERGES] + ["<|startoftext|>", "<|endoftext|>"]
    with open(os.path.join(d, "vocab.json"), "w") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f)
    with open(os.path.join(d, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in MERGES))
    return CLIPTokenizer(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt"), model_max_length=77)


def build(variant, tmp):
    sd2 = variant == "sd2"
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=(2, 4),
        use_linear_projection=sd2,
        norm_num_groups=32,
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
    )
    torch.manual_seed(0)
    text_config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=2,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=5,
        pad_token_id=1,
        vocab_size=1000,
        hidden_act="gelu" if sd2 else "quick_gelu",
        projection_dim=32,
    )
    text_encoder = CLIPTextModel(text_config)
    # Default inits leave outputs near constant; widen them so differences would show.
    with torch.no_grad():
        for m in (unet, vae, text_encoder):
            for name, p in m.named_parameters():
                if p.dim() > 1:
                    p.mul_(1.5)
    tokenizer = write_tokenizer(os.path.join(tmp, "tok-" + variant))
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="v_prediction" if sd2 else "epsilon",
        timestep_spacing="trailing" if sd2 else "leading",
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


SCHEDULERS = {
    "ddim": lambda c: DDIMScheduler.from_config(c),
    "euler": lambda c: EulerDiscreteScheduler.from_config(c),
    "euler-a": lambda c: EulerAncestralDiscreteScheduler.from_config(c),
    "dpmpp-2m": lambda c: DPMSolverMultistepScheduler.from_config(
        c, use_karras_sigmas=True, algorithm_type="dpmsolver++", solver_order=2
    ),
}


SCHEDULERS["turbo"] = lambda c: EulerAncestralDiscreteScheduler.from_config(c, timestep_spacing="trailing")


def render(pipe, name, negative=None, steps=STEPS, size=SIZE, guidance=GUIDANCE, prompt_embeds=None):
    base = pipe.scheduler.config
    pipe.scheduler = SCHEDULERS[name](base)
    out = pipe(
        PROMPT if prompt_embeds is None else None,
        prompt_embeds=prompt_embeds,
        negative_prompt=negative,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=torch.Generator("cpu").manual_seed(SEED),
        height=size,
        width=size,
        output_type="np",
    ).images[0]
    pipe.scheduler = DDIMScheduler.from_config(base)
    return torch.from_numpy(np.ascontiguousarray((out * 255).round().astype(np.uint8)))


@torch.no_grad()
def references(pipe):
    ref = {}
    tok = pipe.tokenizer
    ids = tok([PROMPT, ""], padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    ref["ids"] = ids.to(torch.int64)
    ref["text_emb"] = pipe.text_encoder(ids)[0].contiguous()
    g = torch.Generator("cpu").manual_seed(1)
    ref["unet_in"] = torch.randn((2, 4, 16, 16), generator=g)
    ref["unet_t"] = torch.tensor([500.0, 500.0])
    ref["unet_out"] = pipe.unet(ref["unet_in"], 500, encoder_hidden_states=ref["text_emb"]).sample.contiguous()
    z = torch.randn((1, 4, 16, 16), generator=g)
    ref["vae_in"] = z
    ref["vae_out"] = pipe.vae.decode(z / pipe.vae.config.scaling_factor).sample.contiguous()
    ref["latents0"] = torch.randn((1, 4, SIZE // 2, SIZE // 2), generator=torch.Generator("cpu").manual_seed(SEED))
    for name in ("ddim", "euler", "euler-a", "dpmpp-2m"):
        ref["image_" + name] = render(pipe, name)
    # SD-Turbo style: Euler ancestral, trailing timesteps, one step, no guidance.
    ref["image_turbo"] = render(pipe, "turbo", steps=1, guidance=0.0)
    ref["image_ddim_neg"] = render(pipe, "ddim", negative=NEGATIVE)
    # clip_skip=1: the text encoder's second-to-last hidden state, then its final layer norm,
    # for the prompt only (diffusers encodes the negative prompt without it). Computed here
    # as encode_prompt does, because its own clip_skip path reads `text_encoder.text_model`,
    # which transformers 5's CLIPTextModel no longer has.
    skip = clip_skip_embeds(pipe, PROMPT, 1)
    ref["text_emb_skip1"] = skip.contiguous()
    ref["image_ddim_skip1"] = render(pipe, "ddim", prompt_embeds=skip)
    return ref


def clip_skip_embeds(pipe, prompt, clip_skip):
    te = pipe.text_encoder
    ids = pipe.tokenizer([prompt], padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    hidden = te(ids, output_hidden_states=True).hidden_states[-(clip_skip + 1)]
    final_ln = te.final_layer_norm if hasattr(te, "final_layer_norm") else te.text_model.final_layer_norm
    return final_ln(hidden)


# runwayml/stable-diffusion-v1-5's scheduler/scheduler_config.json, byte for byte in content:
# written by diffusers 0.6.0, before `timestep_spacing` existed.
SD15_SCHEDULER_CONFIG = {
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.6.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
    "clip_sample": False,
}


def sd1_published_pndm(variant, tmp, model_dir):
    """The sd1 pipeline with SD 1.5's published scheduler config (PNDMScheduler, no
    `timestep_spacing` key), loaded back the way diffusers loads a model repo. Each sampler
    then takes its own class's default spacing."""
    pipe = build("sd1", tmp)
    pipe.save_pretrained(model_dir, safe_serialization=True)
    with open(os.path.join(model_dir, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(SD15_SCHEDULER_CONFIG, f, indent=2)
    index_path = os.path.join(model_dir, "model_index.json")
    with open(index_path) as f:
        index = json.load(f)
    index["scheduler"] = ["diffusers", "PNDMScheduler"]
    with open(index_path, "w") as f:
        json.dump(index, f, indent=2)
    pipe = StableDiffusionPipeline.from_pretrained(model_dir, safety_checker=None, requires_safety_checker=False)
    assert type(pipe.scheduler).__name__ == "PNDMScheduler", type(pipe.scheduler)
    return pipe


def sd1_real_clip(tmp, d):
    """The sd1 pipeline on the real 49,408-token CLIP vocabulary, rendering hard prompts (CJK,
    emoji, curly quotes, > 75 tokens); built by tokenizer_reference.render_real_clip_variant."""
    from tokenizer_reference import render_real_clip_variant

    render_real_clip_variant(build, d, tmp, seed=SEED, steps=STEPS, size=SIZE, guidance=GUIDANCE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--ours", help="folder written by init_tiny_model to render with diffusers")
    ap.add_argument("--variants", default="sd1,sd2,sd1-pndm")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    meta = {"prompt": PROMPT, "negative": NEGATIVE, "seed": SEED, "steps": STEPS, "size": SIZE, "guidance": GUIDANCE}
    for variant in [v for v in args.variants.split(",") if v]:
        d = os.path.join(args.out, variant)
        if variant == "sd1-clip":  # real CLIP vocabulary; not in the default set
            sd1_real_clip(args.out, d)
            continue
        if variant == "sd1-pndm":
            pipe = sd1_published_pndm(variant, args.out, os.path.join(d, "model"))
        else:
            pipe = build(variant, args.out)
            pipe.save_pretrained(os.path.join(d, "model"), safe_serialization=True)
        save_file(references(pipe), os.path.join(d, "reference.safetensors"))
    if args.ours:
        pipe = StableDiffusionPipeline.from_pretrained(args.ours, safety_checker=None, requires_safety_checker=False)
        ref = {"image_ddim": render(pipe, "ddim", steps=3, size=128)}
        os.makedirs(os.path.join(args.out, "ours"), exist_ok=True)
        save_file(ref, os.path.join(args.out, "ours", "reference.safetensors"))
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f)
    print("ok", file=sys.stderr)


if __name__ == "__main__":
    main()
