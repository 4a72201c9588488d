#!/usr/bin/env python3
"""Tiny single-file checkpoints (the A1111/ComfyUI/Civitai key layout) for the tests of
`pressroom model import`, each with the diffusers folder it must import to.

For each family (sd1, sd2, sdxl) it builds a tiny random-weight pipeline whose configs are the
family's published ones (crates/models/assets/configs/<family>, the files the importer ships)
with only the fields that tensor shapes tell replaced by tiny values, and the real CLIP
vocabulary (49,408 tokens, crates/models/assets/clip) so the shipped tokenizer files apply:

  OUT/<family>/diffusers/           save_pretrained(), then the published scheduler config
  OUT/<family>/model.safetensors    the same weights in the original LDM layout, written by
                                    the reverse of diffusers' single_file_utils conversion,
                                    with what real checkpoints also carry (EMA copies, the
                                    noise schedule buffers, SD2's 24th OpenCLIP block, ...)

and proves each single file right: diffusers' `from_single_file` (given the folder as config)
must load every tensor equal to the folder's.

The tiny models keep what the importer's family detection reads (see
crates/models/src/import/detect.rs): cross-attention widths are not 768/1024/2048 here, so
the markers decide: `label_emb` (SDXL), an OpenCLIP text encoder `cond_stage_model.model.*`
(SD2) or a CLIP one `cond_stage_model.transformer.*` (SD1); SD2/SDXL attention uses 64-wide
heads (channels multiples of 64), text encoders 64-wide heads (hidden size 64).

With --check-import FAMILY DIR it instead loads an imported folder with diffusers, asserts
its tensors and model configs equal OUT/<family>/diffusers's, and that both render the same
pixels (2 steps, 64x64, fp32 on CPU).

Usage: .venv/bin/python scripts/models/make_single_file.py OUT [--families sd1,sd2,sdxl]
       .venv/bin/python scripts/models/make_single_file.py OUT --check-import FAMILY DIR
"""

import argparse
import json
import os
import re
import sys

import numpy as np
import torch
from safetensors.torch import save_file

from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ASSETS = os.path.join(ROOT, "crates", "models", "assets")
PROMPT = "a photo of an astronaut riding a horse on the moon"
SEED = 1234

# Only the fields that shapes tell; everything else comes from the published config.
TINY = {
    "sd1": {
        "dtype": torch.float32,
        "unet": dict(
            block_out_channels=[32, 64],
            layers_per_block=2,
            down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
            up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
            cross_attention_dim=64,
        ),
        "vae": dict(block_out_channels=[32, 64], layers_per_block=1),
        "text_encoder": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=1),
    },
    "sd2": {
        "dtype": torch.float32,
        "prediction_type": "v_prediction",
        "unet": dict(
            block_out_channels=[64, 128],
            layers_per_block=1,
            down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            cross_attention_dim=64,
            attention_head_dim=[1, 2],
        ),
        "vae": dict(block_out_channels=[32, 64], layers_per_block=2),
        # diffusers' SD2 encoder has 23 of OpenCLIP's 24 blocks; the single file gets a 24th.
        "text_encoder": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=23, num_attention_heads=1),
    },
    "sdxl": {
        "dtype": torch.float16,
        "unet": dict(
            block_out_channels=[64, 128],
            layers_per_block=1,
            down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
            up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"],
            cross_attention_dim=64 + 128,
            attention_head_dim=[1, 2],
            transformer_layers_per_block=[1, 2],
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=6 * 8 + 32,
        ),
        "vae": dict(block_out_channels=[32, 64], layers_per_block=1),
        "text_encoder": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=1),
        # Wider than text_encoder: diffusers tells the two apart by their widths.
        "text_encoder_2": dict(
            hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=2, projection_dim=32
        ),
    },
}


def published(family, rel):
    with open(os.path.join(ASSETS, "configs", family, rel)) as f:
        return json.load(f)


def model_config(family, component, file="config.json"):
    config = published(family, f"{component}/{file}")
    config.update(TINY[family][component])
    # The block type lists' lengths follow block_out_channels.
    if component == "vae":
        n = len(config["block_out_channels"])
        config["down_block_types"] = ["DownEncoderBlock2D"] * n
        config["up_block_types"] = ["UpDecoderBlock2D"] * n
    return {k: v for k, v in config.items() if not k.startswith("_")}


def tokenizer(family, component):
    cfg = published(family, f"{component}/tokenizer_config.json")
    clip = os.path.join(ASSETS, "clip")
    return CLIPTokenizer(
        os.path.join(clip, "vocab.json"),
        os.path.join(clip, "merges.txt"),
        pad_token=cfg["pad_token"],
        model_max_length=cfg["model_max_length"],
    )


def widen(*models):
    """Default inits leave outputs near constant; widen them so differences would show."""
    with torch.no_grad():
        for m in models:
            for _, p in m.named_parameters():
                if p.dim() > 1:
                    p.mul_(1.5)


def text_model(family, component, cls):
    config = model_config(family, component)
    config.pop("architectures", None)
    config.pop("torch_dtype", None)
    config.pop("transformers_version", None)
    torch.manual_seed(2 if component == "text_encoder_2" else 1)
    return cls(CLIPTextConfig(**config))


def build(family):
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(model_config(family, "unet"))
    torch.manual_seed(0)
    vae = AutoencoderKL.from_config(model_config(family, "vae"))
    te = text_model(family, "text_encoder", CLIPTextModel)
    scheduler = DDIMScheduler.from_config(published(family, "scheduler/scheduler_config.json"))
    if family == "sdxl":
        te2 = text_model(family, "text_encoder_2", CLIPTextModelWithProjection)
        widen(unet, vae, te, te2)
        pipe = StableDiffusionXLPipeline(
            vae=vae,
            text_encoder=te,
            text_encoder_2=te2,
            tokenizer=tokenizer(family, "tokenizer"),
            tokenizer_2=tokenizer(family, "tokenizer_2"),
            unet=unet,
            scheduler=scheduler,
        )
    else:
        widen(unet, vae, te)
        pipe = StableDiffusionPipeline(
            vae=vae,
            text_encoder=te,
            tokenizer=tokenizer(family, "tokenizer"),
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    return pipe.to(TINY[family]["dtype"])


def write_scheduler(family, folder):
    """The published scheduler config as is (save_pretrained would write every default)."""
    config = published(family, "scheduler/scheduler_config.json")
    prediction = TINY[family].get("prediction_type")
    if prediction or "prediction_type" in config:
        config["prediction_type"] = prediction or "epsilon"
    with open(os.path.join(folder, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(config, f, indent=2)


# ---- diffusers -> LDM (the reverse of diffusers' loaders/single_file_utils.py) ----

RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}


def unet_to_ldm(sd, config):
    lpb = config["layers_per_block"]
    up_attn = [t.startswith("CrossAttn") for t in config["up_block_types"]]
    top = {
        "conv_in": "input_blocks.0.0",
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "add_embedding.linear_1": "label_emb.0.0",
        "add_embedding.linear_2": "label_emb.0.2",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
    }
    out = {}
    for key, t in sd.items():
        module, param = key.rsplit(".", 1)
        if module in top:
            new = f"{top[module]}.{param}"
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)", module):
            b, j, part = int(m[1]), int(m[2]), m[3]
            new = f"input_blocks.{1 + b * (lpb + 1) + j}.0.{RESNET[part]}.{param}"
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", module):
            b, j = int(m[1]), int(m[2])
            new = f"input_blocks.{1 + b * (lpb + 1) + j}.1.{m[3]}.{param}"
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv", module):
            new = f"input_blocks.{1 + int(m[1]) * (lpb + 1) + lpb}.0.op.{param}"
        elif m := re.fullmatch(r"mid_block\.resnets\.(\d)\.(\w+)", module):
            new = f"middle_block.{2 * int(m[1])}.{RESNET[m[2]]}.{param}"
        elif m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", module):
            new = f"middle_block.1.{m[1]}.{param}"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)", module):
            b, j, part = int(m[1]), int(m[2]), m[3]
            new = f"output_blocks.{b * (lpb + 1) + j}.0.{RESNET[part]}.{param}"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", module):
            b, j = int(m[1]), int(m[2])
            new = f"output_blocks.{b * (lpb + 1) + j}.1.{m[3]}.{param}"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv", module):
            b = int(m[1])
            new = f"output_blocks.{b * (lpb + 1) + lpb}.{2 if up_attn[b] else 1}.conv.{param}"
        else:
            raise SystemExit(f"unet key without an LDM name: {key}")
        out["model.diffusion_model." + new] = t
    return out


VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_to_ldm(sd, config):
    n = len(config["block_out_channels"])
    out = {}
    for key, t in sd.items():
        module, param = key.rsplit(".", 1)
        if m := re.fullmatch(r"(encoder|decoder)\.conv_norm_out", module):
            new = f"{m[1]}.norm_out"
        elif m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)", module):
            new = f"encoder.down.{m[1]}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
        elif m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv", module):
            new = f"encoder.down.{m[1]}.downsample.conv"
        elif m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)", module):
            new = f"decoder.up.{n - 1 - int(m[1])}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
        elif m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv", module):
            new = f"decoder.up.{n - 1 - int(m[1])}.upsample.conv"
        elif m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d)\.(\w+)", module):
            new = f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}"
        elif m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)", module):
            new = f"{m[1]}.mid.attn_1.{VAE_ATTN[m[2]]}"
            if param == "weight" and t.dim() == 2:
                t = t[:, :, None, None]  # the original stores 1x1 convolutions
        elif module in ("encoder.conv_in", "encoder.conv_out", "decoder.conv_in", "decoder.conv_out",
                        "quant_conv", "post_quant_conv"):
            new = module
        else:
            raise SystemExit(f"vae key without an LDM name: {key}")
        out[f"first_stage_model.{new}.{param}"] = t.contiguous()
    return out


def text_key(key):
    """transformers 5 saves CLIPTextModel flat (`embeddings.*`); checkpoints say `text_model.*`."""
    return key if key.startswith("text_model.") or key == "text_projection.weight" else "text_model." + key


def clip_to_ldm(sd, prefix):
    out = {prefix + text_key(k): t for k, t in sd.items()}
    # What real SD 1.x checkpoints carry and diffusers' model does not keep.
    out[prefix + "text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.int64)[None]
    return out


OPEN_CLIP = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "self_attn.out_proj": "attn.out_proj",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}


def open_clip_to_ldm(sd, prefix, extra_block):
    sd = {text_key(k): t for k, t in sd.items()}
    out = {}
    layers = set()
    for key, t in sd.items():
        if key == "text_model.embeddings.token_embedding.weight":
            out[prefix + "token_embedding.weight"] = t
        elif key == "text_model.embeddings.position_embedding.weight":
            out[prefix + "positional_embedding"] = t
        elif key.startswith("text_model.final_layer_norm."):
            out[prefix + "ln_final." + key.rsplit(".", 1)[1]] = t
        elif key == "text_projection.weight":
            out[prefix + "text_projection"] = t.T.contiguous()
        elif m := re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", key):
            i, module, param = int(m[1]), m[2], m[3]
            layers.add(i)
            if module in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
                continue
            out[f"{prefix}transformer.resblocks.{i}.{OPEN_CLIP[module]}.{param}"] = t
        else:
            raise SystemExit(f"text encoder key without an OpenCLIP name: {key}")
    for i in layers:
        for param in ("weight", "bias"):
            qkv = [sd[f"text_model.encoder.layers.{i}.self_attn.{p}_proj.{param}"] for p in "qkv"]
            out[f"{prefix}transformer.resblocks.{i}.attn.in_proj_{param}"] = torch.cat(qkv).contiguous()
    width = sd["text_model.embeddings.token_embedding.weight"].shape[1]
    dtype = sd["text_model.embeddings.token_embedding.weight"].dtype
    g = torch.Generator().manual_seed(7)
    if extra_block:
        # OpenCLIP ViT-H has 24 blocks; SD 2 uses the penultimate's output, so diffusers
        # drops the last one (and the projection). Random values: they must be ignored.
        n = max(layers) + 1
        for key in [k for k in out if k.startswith(f"{prefix}transformer.resblocks.0.")]:
            new = key.replace("resblocks.0.", f"resblocks.{n}.")
            out[new] = torch.randn(out[key].shape, generator=g).to(dtype)
        out[prefix + "text_projection"] = torch.randn((width, width), generator=g).to(dtype)
    out[prefix + "logit_scale"] = torch.tensor(4.6052, dtype=dtype)
    return out


def schedule_buffers():
    """The noise schedule LDM training code stores in every checkpoint."""
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    alphas = torch.cumprod(1 - betas, 0)
    return {
        "betas": betas.float(),
        "alphas_cumprod": alphas.float(),
        "alphas_cumprod_prev": torch.cat([torch.ones(1, dtype=torch.float64), alphas[:-1]]).float(),
        "sqrt_alphas_cumprod": alphas.sqrt().float(),
        "sqrt_one_minus_alphas_cumprod": (1 - alphas).sqrt().float(),
    }


def ema_copy(unet_ldm):
    """LDM's EMA weights: `model_ema.<key without dots>`, plus decay and num_updates. Their
    values differ from the model's, so an importer that took them would be caught."""
    out = {"model_ema.decay": torch.tensor(0.9999), "model_ema.num_updates": torch.tensor(1000, dtype=torch.int32)}
    for key, t in unet_ldm.items():
        flat = "model_ema." + key[len("model."):].replace(".", "")
        out[flat] = (t.float() + 1).to(t.dtype)
    return out


def to_single_file(family, pipe):
    sd = {}
    sd.update(unet_to_ldm(pipe.unet.state_dict(), pipe.unet.config))
    sd.update(vae_to_ldm(pipe.vae.state_dict(), pipe.vae.config))
    te = pipe.text_encoder.state_dict()
    if family == "sd1":
        sd.update(clip_to_ldm(te, "cond_stage_model.transformer."))
        sd.update(ema_copy({k: v for k, v in sd.items() if k.startswith("model.diffusion_model.")}))
    elif family == "sd2":
        sd.update(open_clip_to_ldm(te, "cond_stage_model.model.", extra_block=True))
    else:
        sd.update(clip_to_ldm(te, "conditioner.embedders.0.transformer."))
        sd.update(open_clip_to_ldm(pipe.text_encoder_2.state_dict(), "conditioner.embedders.1.model.", False))
    sd.update(schedule_buffers())
    return {k: v.contiguous() for k, v in sd.items()}


# ---- checks ----


def components(pipe):
    names = ["unet", "vae", "text_encoder", "text_encoder_2"]
    return {n: getattr(pipe, n) for n in names if getattr(pipe, n, None) is not None}


def assert_same_tensors(a, b, what):
    for name, model in components(a).items():
        sa = {text_key(k) if "text_encoder" in name else k: v for k, v in model.state_dict().items()}
        other = components(b)[name]
        sb = {text_key(k) if "text_encoder" in name else k: v for k, v in other.state_dict().items()}
        missing = sorted(set(sa) ^ set(sb))
        assert not missing, f"{what}: {name} key sets differ: {missing[:8]}"
        for k in sa:
            assert sa[k].dtype == sb[k].dtype, f"{what}: {name}.{k} dtype {sa[k].dtype} != {sb[k].dtype}"
            assert torch.equal(sa[k], sb[k]), f"{what}: {name}.{k} differs"


def pipeline_class(family):
    return StableDiffusionXLPipeline if family == "sdxl" else StableDiffusionPipeline


def load_folder(family, folder, dtype):
    kwargs = {"torch_dtype": dtype, "local_files_only": True}
    if family != "sdxl":
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    return pipeline_class(family).from_pretrained(folder, **kwargs)


def prove_single_file(family, file, folder):
    dtype = TINY[family]["dtype"]
    ours = pipeline_class(family).from_single_file(file, config=folder, local_files_only=True, torch_dtype=dtype)
    assert_same_tensors(load_folder(family, folder, dtype), ours, f"{family} from_single_file")


@torch.no_grad()
def render(pipe):
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    image = pipe(
        PROMPT,
        num_inference_steps=2,
        guidance_scale=7.5,
        height=64,
        width=64,
        generator=torch.Generator("cpu").manual_seed(SEED),
        output_type="np",
    ).images[0]
    return (image * 255).round().astype(np.uint8)


def check_import(out, family, imported):
    reference = os.path.join(out, family, "diffusers")
    dtype = TINY[family]["dtype"]
    ref, ours = load_folder(family, reference, dtype), load_folder(family, imported, dtype)
    assert_same_tensors(ref, ours, f"{family} import")
    def config(model):
        c = model.config
        return {k: v for k, v in (c.to_dict() if hasattr(c, "to_dict") else dict(c)).items() if not k.startswith("_")}

    for name, model in components(ref).items():
        a, b = config(model), config(components(ours)[name])
        for k in ("architectures", "dtype", "torch_dtype", "transformers_version", "_name_or_path"):
            a.pop(k, None)
            b.pop(k, None)
        diff = {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
        assert not diff, f"{family} import: {name} config differs: {diff}"
    ids = [t(PROMPT, padding="max_length", max_length=77).input_ids for t in (ref.tokenizer, ours.tokenizer)]
    assert ids[0] == ids[1], f"{family} import: tokenizer ids differ"
    if family == "sdxl":
        ids = [t(PROMPT, padding="max_length", max_length=77).input_ids for t in (ref.tokenizer_2, ours.tokenizer_2)]
        assert ids[0] == ids[1], f"{family} import: tokenizer_2 ids differ"
    a = render(load_folder(family, reference, torch.float32))
    b = render(load_folder(family, imported, torch.float32))
    assert a.std() > 5, f"{family}: the reference image is flat"
    d = int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max())
    assert d == 0, f"{family} import: pixels differ by {d}/255"
    print(f"{family}: imported folder equals the reference in diffusers (tensors, configs, pixels)", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--families", default="sd1,sd2,sdxl")
    ap.add_argument("--check-import", nargs=2, metavar=("FAMILY", "DIR"))
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    if args.check_import:
        check_import(args.out, *args.check_import)
        return
    for family in [f for f in args.families.split(",") if f]:
        d = os.path.join(args.out, family)
        folder = os.path.join(d, "diffusers")
        pipe = build(family)
        pipe.save_pretrained(folder, safe_serialization=True)
        write_scheduler(family, folder)
        file = os.path.join(d, "model.safetensors")
        save_file(to_single_file(family, pipe), file, metadata={"format": "pt"})
        prove_single_file(family, file, folder)
        print(f"{family}: {file} loads in diffusers equal to {folder}", file=sys.stderr)


if __name__ == "__main__":
    main()
