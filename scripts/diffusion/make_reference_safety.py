#!/usr/bin/env python3
"""Reference verdicts of diffusers' StableDiffusionSafetyChecker for pressroom-diffusion's
safety parity test.

Builds a tiny random-weight safety checker (CLIP vision tower, patch 32 over 224², hidden 32)
with SD 1.5's feature extractor settings, and three test images. Its concept embeddings are
set from the images themselves so that some are flagged and some not, with margins: concept 0
is image "a" (similarity 1), special-care concept 0 is image "c" (which lowers every threshold
by 0.01 for "c"). Writes:

  OUT/safety/model/{safety_checker,feature_extractor}/   the folders, as in an SD 1.5 repo
  OUT/safety/flag_all/...             the same with thresholds that flag every image
  OUT/safety/reference.safetensors   image_<n> (uint8 HWC), pixels_<n> (preprocessed),
                                     embeds_<n>, flagged (uint8 per image, order a b c d)

Usage: .venv/bin/python scripts/diffusion/make_reference_safety.py OUT
"""

import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPImageProcessor, CLIPTextConfig, CLIPVisionConfig

from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker


def images():
    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    # b and d are the size of generated images: the preprocessing downscales them (where
    # resampling filters differ most), b to 336x224 before its centre crop.
    y, x = np.mgrid[0:512, 0:768]
    b = np.stack([x // 3, y // 2, (x + y) // 5 % 256], -1).astype(np.uint8)
    c = np.zeros((64, 64, 3), np.uint8)
    c[16:48, 16:48] = [250, 40, 90]
    y, x = np.mgrid[0:1024, 0:1024]
    d = np.zeros((1024, 1024, 3), np.uint8)
    d[..., 0] = (128 + 100 * np.sin(x / 40.0)).astype(np.uint8)
    d[..., 1] = (128 + 100 * np.cos(y / 55.0)).astype(np.uint8)
    d[300:700, 200:500] = [30, 200, 60]
    return {"a": a, "b": b, "c": c, "d": d}


@torch.no_grad()
def main():
    out = os.path.join(sys.argv[1], "safety")
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=CLIPTextConfig(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, vocab_size=1000).to_dict(),
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=3, image_size=224, patch_size=32).to_dict(),
        projection_dim=16,
    )
    checker = StableDiffusionSafetyChecker(config).eval()
    for _, p in checker.named_parameters():
        if p.dim() > 1:
            p.mul_(3.0)
    processor = CLIPImageProcessor(
        crop_size=224,
        size=224,
        do_center_crop=True,
        do_convert_rgb=True,
        do_normalize=True,
        do_resize=True,
        resample=3,
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
    )
    imgs = images()
    ref = {}
    embeds = {}
    from PIL import Image

    for name, img in imgs.items():
        pixels = processor(Image.fromarray(img), return_tensors="pt").pixel_values
        pooled = checker.vision_model(pixels)[1]
        e = checker.visual_projection(pooled)
        ref["image_" + name] = torch.from_numpy(img.copy())
        ref["pixels_" + name] = pixels.contiguous()
        ref["embeds_" + name] = e.contiguous()
        embeds[name] = e[0]

    def cos(u, v):
        return float(torch.nn.functional.cosine_similarity(u, v, dim=0))

    # Concept 0 = image a; its threshold halfway between a (1.0) and the closest other image.
    others = max(cos(embeds["a"], embeds[n]) for n in ("b", "c", "d"))
    assert others < 0.96, f"test images too alike for a margin: {others}"
    checker.concept_embeds.zero_()
    checker.concept_embeds[0] = embeds["a"]
    checker.concept_embeds[1:] = torch.randn(16, 16)
    checker.concept_embeds_weights.fill_(2.0)  # unreachable: cosine <= 1
    checker.concept_embeds_weights[0] = (1.0 + others) / 2
    # Special care 0 = image c: for c every concept threshold drops by 0.01; concept 2's
    # threshold sits 0.005 above c's similarity, so only that drop flags c.
    checker.special_care_embeds.zero_()
    checker.special_care_embeds[0] = embeds["c"]
    checker.special_care_embeds[1:] = torch.randn(2, 16)
    checker.special_care_embeds_weights.fill_(2.0)
    checker.special_care_embeds_weights[0] = 0.9
    checker.concept_embeds[2] = embeds["c"] + 0.3 * torch.randn(16)
    c2 = cos(embeds["c"], checker.concept_embeds[2])
    checker.concept_embeds_weights[2] = c2 + 0.005
    assert max(cos(embeds[n], checker.concept_embeds[2]) for n in ("a", "b", "d")) < c2 - 0.02

    clip_input = torch.cat([ref["pixels_" + n] for n in ("a", "b", "c", "d")])
    batch = np.stack([imgs["a"], imgs["c"], imgs["c"], imgs["c"]]).astype(np.float32) / 255.0  # shapes only
    _, flags = checker(clip_input=clip_input, images=batch)
    ref["flagged"] = torch.tensor([int(f) for f in flags], dtype=torch.uint8)
    assert list(ref["flagged"]) == [1, 0, 1, 0], ref["flagged"]

    checker.save_pretrained(os.path.join(out, "model", "safety_checker"), safe_serialization=True)
    processor.save_pretrained(os.path.join(out, "model", "feature_extractor"))
    save_file(ref, os.path.join(out, "reference.safetensors"))
    # A checker that flags every image (thresholds below any cosine), for the engine test.
    checker.concept_embeds_weights.fill_(-2.0)
    checker.save_pretrained(os.path.join(out, "flag_all", "safety_checker"), safe_serialization=True)
    processor.save_pretrained(os.path.join(out, "flag_all", "feature_extractor"))
    print("ok", file=sys.stderr)


if __name__ == "__main__":
    main()
