#!/usr/bin/env python3
"""Golden CLIP token ids from transformers' `CLIPTokenizer` on the real CLIP vocabulary, for
pressroom-diffusion's tokenizer parity test (crates/diffusion/tests/engine/tokenizer_parity.rs).

Writes, under OUT:

  OUT/<folder>/        tokenizer folders the Rust side loads: vocab.json + merges.txt and the
                       configs real Stable Diffusion repos ship (SD 1.5, SD 2.x/SDXL pad "!",
                       a transformers 4.3x save); `*-json` ones add a tokenizer.json
  OUT/golden.json      {"transformers", "tokenizers", "max_length", "cases": [{name, prompt}],
                        "sets": [{name, folder, loader, pad_token, results: [{ids, untruncated,
                        removed_text}]}]}

`ids` is what diffusers' pipelines feed the text encoder (`padding="max_length", max_length=77,
truncation=True`); `untruncated` the ids without truncation or padding; `removed_text` what
diffusers' truncation warning prints (`batch_decode(untruncated[:, 76:-1])`), or null.

Each result set is one way transformers builds the tokenizer: the constructor the issue names
(`CLIPTokenizer(vocab, merges, model_max_length=77)`, pad `<|endoftext|>` or `!`) and
`CLIPTokenizer.from_pretrained(folder)`, which is what diffusers does with a model folder.

It also holds make_reference.py's `sd1-clip` variant (render_real_clip_variant): a tiny
pipeline on this vocabulary rendering E2E_PROMPTS, for the end-to-end test.

Usage: .venv/bin/python scripts/diffusion/tokenizer_reference.py OUT [--vocab-dir DIR]
"""

import argparse
import json
import os
import shutil
import sys

import tokenizers
import transformers
from transformers import CLIPTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VOCAB = os.path.join(HERE, "..", "..", "crates", "models", "assets", "clip")
MAX_LEN = 77
SOT = "<|startoftext|>"
EOT = "<|endoftext|>"

# Words of a typical pasted prompt, for prompts far past 75 tokens.
LONG_WORDS = (
    "masterpiece best quality ultra detailed portrait of a young woman with long flowing red hair "
    "standing in a sunlit meadow full of wildflowers soft golden hour lighting cinematic composition "
    "shallow depth of field bokeh background photorealistic skin texture subsurface scattering "
    "intricate embroidered dress volumetric fog gentle breeze butterflies drifting past her shoulders "
    "distant snowcapped mountains dramatic clouds award winning photograph sharp focus eighty five "
    "millimeter lens"
).split()


def long_prompt(n_words):
    return " ".join(LONG_WORDS[i % len(LONG_WORDS)] for i in range(n_words))


CASES = [
    ("ascii", "a photo of an astronaut riding a horse on the moon"),
    ("ascii-case", "A Photo Of An ASTRONAUT Riding A HORSE"),
    ("contractions", "it's a dog, isn't it? don't! they're here; we'll see... I'd've I'M YOU'LL"),
    ("contractions-bare", "it's don't"),
    ("punctuation", "hello!!! what?! a--b a/b (c) [d] {e} #tag @user $5 100% a+b=c ~tilde~ `code` ^_^ ..."),
    ("numbers", "1920s fashion, 4k, 8K UHD, 3.14159, 1,000,000 stars, 2024-01-01, 1st 2nd 3rd, ½ ² Ⅻ ٣"),
    ("curly-quotes", "\u201chello\u201d \u2018world\u2019 it\u2019s don\u2019t \u201equote\u201c \u00abguillemets\u00bb"),
    ("dashes-ellipsis", "em\u2014dash en\u2013dash ellipsis\u2026 bullet\u2022 middle\u00b7dot"),
    ("accents", "caf\u00e9 na\u00efve \u00c5ngstr\u00f6m stra\u00dfe \u00df \u0130stanbul \u00c7A\u011eRI \u00d8resund"),
    ("dotted-capital-i", "\u0130STANBUL \u0130"),
    ("decomposed", "cafe\u0301 \u0041\u030a \u2126hm \u212b"),
    ("greek-final-sigma", "\u039f\u0394\u039f\u03a3 \u03a3\u039f\u03a6\u0399\u0391"),
    ("fullwidth-ligature", "\uff21\uff22\uff23\uff11\uff12\uff13 \ufb01sh \u2460"),
    ("cyrillic-arabic-hebrew", "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440 \u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd"),
    ("chinese", "\u4e2d\u6587"),
    ("chinese-sentence", "\u4e00\u53ea\u732b\u5728\u6708\u7403\u4e0a\u8d70\u8def"),
    ("japanese", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8"),
    ("korean", "\ud55c\uad6d\uc5b4"),
    ("cjk-mixed", "a cat \u732b in Tokyo \u6771\u4eac, \u30ab\u30e9\u30fc photo"),
    ("emoji", "\U0001f431"),
    ("emoji-zwj", "\U0001f469\u200d\U0001f680"),
    ("emoji-family", "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"),
    ("emoji-flag", "\U0001f1eb\U0001f1f7 \U0001f1ef\U0001f1f5"),
    ("emoji-skin-tone", "\U0001f44d\U0001f3fd \U0001f44b\U0001f3ff"),
    ("emoji-vs16", "\u2764\ufe0f \u2600\ufe0f"),
    ("emoji-tag-flag", "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"),
    ("emoji-in-text", "a cat \U0001f431 on the moon \U0001f315, sparkles\u2728"),
    ("html-amp", "salt &amp; pepper"),
    ("html-quot", "&quot;quoted&quot; rock &#39;n&#39; roll &lt;b&gt; &nbsp; &#x27;"),
    ("control-chars", "a\x00b c\x07d e\x1bf g\x7fh"),
    ("tab-newline", "tab\tsep new\nline win\r\nline"),
    ("nbsp", "non\u00a0breaking\u00a0space"),
    ("zero-width", "zero\u200bwidth joiner\u200dhere non\u200cjoiner"),
    ("soft-hyphen-bom", "soft\u00adhyphen \ufeffbom"),
    ("unicode-spaces", "ideographic\u3000space thin\u2009space line\u2028sep para\u2029sep"),
    ("replacement-char", "broken \ufffd char"),
    ("private-use", "private \ue000 use"),
    ("leading-trailing", "   padded prompt   "),
    ("leading-trailing-ws", "\n\t padded\t\n"),
    ("empty", ""),
    ("spaces-only", "    "),
    ("eot-inside", "a photo <|endoftext|> of a cat"),
    ("sot-inside", "<|startoftext|>a photo"),
    ("specials-glued", "a<|endoftext|>b<|startoftext|>c"),
    ("specials-repeated", "<|endoftext|><|endoftext|> <|startoftext|>"),
    ("specials-uppercase", "<|ENDOFTEXT|> and <|StartOfText|>"),
    ("specials-partial", "<|endoftext| <|end|> |>"),
    ("a1111-weights", "(masterpiece:1.2), [blurry], ((best quality)), {extra}, (red:0.8) hair"),
    ("a1111-extras", "<lora:detail_tweaker:0.8>, embedding:easynegative, BREAK, \\(escaped\\), AND"),
    ("long-200-words", long_prompt(200)),
    ("long-special-in-dropped-part", long_prompt(80) + " <|endoftext|> tail"),
    ("long-cjk-emoji", "\u732b\U0001f431 " * 40),
    ("single-letter-words", " ".join("abcdefghijklmnopqrstuvwxyz") * 4),
]

# Exactly N content tokens: "cat" is one token; checked below.
for n in (74, 75, 76, 77):
    CASES.append((f"exactly-{n}-tokens", " ".join(["cat"] * n)))
# 75 tokens whose last word is split across the boundary.
CASES.append(("boundary-split-word", " ".join(["cat"] * 74) + " photorealistic"))


# The hard prompts the end-to-end test renders with a tiny model on this vocabulary
# (make_reference.py --variants sd1-clip): (prompt, negative prompt).
E2E_PROMPTS = [
    ("\u4e00\u53ea\u732b\u5728\u6708\u7403\u4e0a\u8d70\u8def, \u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8, \ud55c\uad6d\uc5b4", None),
    ("an astronaut \U0001f469\u200d\U0001f680 on the moon \U0001f315 with a flag \U0001f1eb\U0001f1f7 \U0001f44d\U0001f3fd", None),
    ("\u201ca photo\u201d of \u2018the moon\u2019, it\u2019s caf\u00e9 na\u00efve \u0130stanbul", "\u201cblurry\u201d, \u2018low quality\u2019"),
    (long_prompt(120), None),
    ("a photo <|endoftext|> of a cat (masterpiece:1.2)!!! &amp; [blurry]", None),
]


def write_sd1_tokenizer(d, vocab_dir=DEFAULT_VOCAB):
    """An SD 1.5-style tokenizer folder (no tokenizer.json) with the real CLIP vocabulary."""
    return write_folder(d, vocab_dir, sd1_config())


def sd1_config():
    """tokenizer_config.json + special_tokens_map.json as runwayml/stable-diffusion-v1-5 ships."""

    def added(content):
        return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}

    config = {
        "add_prefix_space": False,
        "bos_token": added(SOT),
        "do_lower_case": True,
        "eos_token": added(EOT),
        "errors": "replace",
        "model_max_length": MAX_LEN,
        "name_or_path": "openai/clip-vit-large-patch14",
        "pad_token": EOT,
        "special_tokens_map_file": "./special_tokens_map.json",
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": added(EOT),
    }
    strip = lambda d: {k: v for k, v in d.items() if k != "__type"}
    special = {"bos_token": strip(added(SOT)), "eos_token": strip(added(EOT)), "pad_token": EOT, "unk_token": strip(added(EOT))}
    return config, special


def sd2_config():
    """SD 2.x / SDXL tokenizer_2 style: the same, padding with "!" (set in special_tokens_map.json)."""
    config, special = sd1_config()
    special["pad_token"] = "!"
    return config, special


def modern_config():
    """A config saved by transformers 4.3x: added_tokens_decoder and plain strings, pad "!"."""
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": {
            "0": {"content": "!", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True},
            "49406": {"content": SOT, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False, "special": True},
            "49407": {"content": EOT, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True},
        },
        "bos_token": SOT,
        "clean_up_tokenization_spaces": True,
        "do_lower_case": True,
        "eos_token": EOT,
        "errors": "replace",
        "model_max_length": MAX_LEN,
        "pad_token": "!",
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": EOT,
    }
    return config, None


FOLDERS = {
    "bare": None,  # vocab.json + merges.txt only
    "bare-pad-bang": ({"pad_token": "!"}, None),
    "sd1": sd1_config(),
    "sd2": sd2_config(),
    "modern-pad-bang": modern_config(),
}


def write_folder(d, vocab_dir, configs):
    """A tokenizer folder without tokenizer.json: vocab.json, merges.txt and `configs`."""
    os.makedirs(d, exist_ok=True)
    for f in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(vocab_dir, f), os.path.join(d, f))
    if configs is not None:
        config, special = configs
        with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
        if special is not None:
            with open(os.path.join(d, "special_tokens_map.json"), "w", encoding="utf-8") as f:
                json.dump(special, f, indent=2)
    return d


def run(tok):
    """What diffusers' encode_prompt computes for each case."""
    results = []
    for _, prompt in CASES:
        ids = tok(prompt, padding="max_length", max_length=MAX_LEN, truncation=True).input_ids
        untruncated = tok(prompt, padding="longest").input_ids
        removed = None
        if len(untruncated) >= len(ids) and untruncated != ids:
            removed = tok.batch_decode([untruncated[MAX_LEN - 1 : -1]])[0]
        results.append({"ids": ids, "untruncated": untruncated, "removed_text": removed})
    return results


def render_real_clip_variant(build, d, tmp, seed, steps, size, guidance):
    """make_reference.py's `sd1-clip` variant: its sd1 pipeline (from `build`) on the real
    49,408-token CLIP vocabulary. The text encoder embeds all of it; the tokenizer folder is
    SD 1.5's (vocab.json + merges.txt, no tokenizer.json), loaded back as diffusers loads a repo.
    Renders E2E_PROMPTS with DDIM into d/prompts.json and d/reference.safetensors (ids_<i>,
    image_<i>), the model into d/model."""
    import numpy as np
    import torch
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel

    base = build("sd1", tmp)
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, vocab_size=49408, hidden_size=32,
        intermediate_size=37, layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=5,
        hidden_act="quick_gelu", projection_dim=32,
    ))
    with torch.no_grad():
        for p in text_encoder.parameters():
            if p.dim() > 1:
                p.mul_(1.5)
    vocab = [os.path.join(DEFAULT_VOCAB, f) for f in ("vocab.json", "merges.txt")]
    tokenizer = CLIPTokenizer(*vocab, model_max_length=MAX_LEN)
    pipe = StableDiffusionPipeline(**{**base.components, "text_encoder": text_encoder, "tokenizer": tokenizer})
    model = os.path.join(d, "model")
    pipe.save_pretrained(model, safe_serialization=True)
    shutil.rmtree(os.path.join(model, "tokenizer"))
    write_sd1_tokenizer(os.path.join(model, "tokenizer"))
    pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None, requires_safety_checker=False)
    ref = {}
    for i, (prompt, negative) in enumerate(E2E_PROMPTS):
        ids = pipe.tokenizer(prompt, padding="max_length", max_length=MAX_LEN, truncation=True, return_tensors="pt")
        ref[f"ids_{i}"] = ids.input_ids.to(torch.int64)
        out = pipe(prompt, negative_prompt=negative, num_inference_steps=steps, guidance_scale=guidance,
                   generator=torch.Generator("cpu").manual_seed(seed), height=size, width=size, output_type="np")
        ref[f"image_{i}"] = torch.from_numpy(np.ascontiguousarray((out.images[0] * 255).round().astype(np.uint8)))
    save_file(ref, os.path.join(d, "reference.safetensors"))
    meta = {"prompts": [{"prompt": p, "negative": n} for p, n in E2E_PROMPTS], "seed": seed, "steps": steps,
            "size": size, "guidance": guidance, "scheduler": "ddim"}
    with open(os.path.join(d, "prompts.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--vocab-dir", default=DEFAULT_VOCAB, help="folder with the real CLIP vocab.json + merges.txt")
    args = ap.parse_args()
    vocab_dir = os.path.abspath(args.vocab_dir)
    for f in ("vocab.json", "merges.txt"):
        if not os.path.isfile(os.path.join(vocab_dir, f)):
            sys.exit(f"missing {os.path.join(vocab_dir, f)} (the real CLIP vocabulary; see scripts/models/clip_vocab.py)")
    os.makedirs(args.out, exist_ok=True)
    dirs = {name: write_folder(os.path.join(args.out, name), vocab_dir, cfg) for name, cfg in FOLDERS.items()}
    # The same configs beside a tokenizer.json (as transformers writes it), which is loaded as
    # is; the configs' special tokens are still registered on top of it.
    vocab, merges = os.path.join(vocab_dir, "vocab.json"), os.path.join(vocab_dir, "merges.txt")
    plain = CLIPTokenizer(vocab, merges, model_max_length=MAX_LEN)
    for name in ("sd1", "sd2", "modern-pad-bang"):
        d = write_folder(os.path.join(args.out, name + "-json"), vocab_dir, FOLDERS[name])
        plain.backend_tokenizer.save(os.path.join(d, "tokenizer.json"))
        dirs[name + "-json"] = d

    sets = [
        ("constructor", "bare", EOT, CLIPTokenizer(vocab, merges, model_max_length=MAX_LEN)),
        ("constructor-pad-bang", "bare-pad-bang", "!", CLIPTokenizer(vocab, merges, model_max_length=MAX_LEN, pad_token="!")),
    ]
    for name in dirs:
        tok = CLIPTokenizer.from_pretrained(dirs[name], model_max_length=MAX_LEN)
        sets.append(("from_pretrained-" + name, name, str(tok.pad_token), tok))

    out_sets = []
    for name, folder, pad, tok in sets:
        if len(tok.get_vocab()) != 49408:
            sys.exit(f"{name}: expected the 49,408-token CLIP vocabulary, got {len(tok.get_vocab())}")
        out_sets.append({"name": name, "folder": folder, "loader": name.split("-")[0], "pad_token": pad, "results": run(tok)})

    # The length cases must be what their names say.
    base = out_sets[0]["results"]
    for (name, _), res in zip(CASES, base):
        if name.startswith("exactly-"):
            want = int(name.split("-")[1])
            got = len(res["untruncated"]) - 2
            if got != want:
                sys.exit(f"case {name}: has {got} content tokens, not {want}")

    golden = {
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "tokenizer_class": f"{type(sets[0][3]).__module__}.{type(sets[0][3]).__name__}",
        "max_length": MAX_LEN,
        "cases": [{"name": n, "prompt": p} for n, p in CASES],
        "sets": out_sets,
    }
    with open(os.path.join(args.out, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
    print(f"ok: {len(CASES)} cases x {len(out_sets)} tokenizers (transformers {transformers.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
