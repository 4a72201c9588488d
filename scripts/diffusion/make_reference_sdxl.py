#!/usr/bin/env python3
"""Reference outputs from diffusers for pressroom-diffusion's SDXL parity test.

Builds a tiny random-weight StableDiffusionXLPipeline offline (two text encoders, the second
with a projection; a UNet with `addition_embed_type="text_time"` and per-block transformer
depths), saves it in the diffusers layout and dumps what diffusers computes with it:

  OUT/sdxl/model/                 the pipeline folder (save_pretrained, safetensors)
  OUT/sdxl/reference.safetensors  ids/ids_2, prompt_embeds, pooled, unet_out on fixed inputs
                                  (with added conditioning), image_<scheduler>[_neg|_skip1|_wide]

Usage: .venv/bin/python scripts/diffusion/make_reference_sdxl.py OUT
"""

import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import GUIDANCE, NEGATIVE, PROMPT, SEED, SIZE, STEPS, write_tokenizer  # noqa: E402

from diffusers import (  # noqa: E402
    AutoencoderKL,
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer  # noqa: E402


def build(tmp):
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * 8 + 32,
        cross_attention_dim=64,
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
        scaling_factor=0.13025,
    )
    config = dict(
        bos_token_id=0,
        eos_token_id=2,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=5,
        pad_token_id=1,
        vocab_size=1000,
        hidden_act="gelu",
        projection_dim=32,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(**config))
    torch.manual_seed(1)
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**config))
    with torch.no_grad():
        for m in (unet, vae, text_encoder, text_encoder_2):
            for _, p in m.named_parameters():
                if p.dim() > 1:
                    p.mul_(1.5)
    tokenizer = write_tokenizer(os.path.join(tmp, "tok-sdxl"))
    d2 = os.path.join(tmp, "tok-sdxl-2")
    write_tokenizer(d2)
    tokenizer_2 = CLIPTokenizer(os.path.join(d2, "vocab.json"), os.path.join(d2, "merges.txt"), model_max_length=77, pad_token="!")
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
        interpolation_type="linear",
        prediction_type="epsilon",
        use_karras_sigmas=False,
    )
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
    )


SCHEDULERS = {
    "ddim": lambda c: DDIMScheduler.from_config(c),
    "euler": lambda c: EulerDiscreteScheduler.from_config(c),
    "euler-a": lambda c: EulerAncestralDiscreteScheduler.from_config(c),
    "dpmpp-2m": lambda c: DPMSolverMultistepScheduler.from_config(
        c, use_karras_sigmas=True, algorithm_type="dpmsolver++", solver_order=2
    ),
    "turbo": lambda c: EulerAncestralDiscreteScheduler.from_config(c, timestep_spacing="trailing"),
}


def render(pipe, name, negative=None, steps=STEPS, width=SIZE, height=SIZE, guidance=GUIDANCE, clip_skip=None):
    base = pipe.scheduler.config
    pipe.scheduler = SCHEDULERS[name](base)
    out = pipe(
        PROMPT,
        negative_prompt=negative,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=torch.Generator("cpu").manual_seed(SEED),
        height=height,
        width=width,
        clip_skip=clip_skip,
        output_type="np",
    ).images[0]
    pipe.scheduler = EulerDiscreteScheduler.from_config(base)
    return torch.from_numpy(np.ascontiguousarray((out * 255).round().astype(np.uint8)))


@torch.no_grad()
def references(pipe):
    ref = {}
    for key, tok in (("ids", pipe.tokenizer), ("ids_2", pipe.tokenizer_2)):
        ids = tok([PROMPT, ""], padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        ref[key] = ids.to(torch.int64)
    embeds, _, pooled, _ = pipe.encode_prompt(PROMPT, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=False)
    ref["prompt_embeds"] = embeds.contiguous()
    ref["pooled"] = pooled.contiguous()
    g = torch.Generator("cpu").manual_seed(1)
    x = torch.randn((1, 4, 16, 16), generator=g)
    time_ids = torch.tensor([[128.0, 128.0, 0.0, 0.0, 128.0, 128.0]])
    ref["unet_in"] = x
    ref["unet_time_ids"] = time_ids
    ref["unet_out"] = pipe.unet(
        x, 500, encoder_hidden_states=embeds, added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}
    ).sample.contiguous()
    for name in ("ddim", "euler", "euler-a", "dpmpp-2m"):
        ref["image_" + name] = render(pipe, name)
    ref["image_euler_neg"] = render(pipe, "euler", negative=NEGATIVE)
    ref["image_euler_skip1"] = render(pipe, "euler", clip_skip=1)
    ref["image_euler_wide"] = render(pipe, "euler", width=96, height=64)
    ref["image_turbo"] = render(pipe, "turbo", steps=1, guidance=0.0)
    return ref


def main():
    out = sys.argv[1]
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    d = os.path.join(out, "sdxl")
    pipe = build(out)
    pipe.save_pretrained(os.path.join(d, "model"), safe_serialization=True)
    save_file(references(pipe), os.path.join(d, "reference.safetensors"))
    print("ok", file=sys.stderr)


if __name__ == "__main__":
    main()
