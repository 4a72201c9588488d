#!/usr/bin/env python3
"""Writes the CLIP tokenizer files (vocab.json, merges.txt) that Stable Diffusion's tokenizers
use, from the BPE file that OpenAI's CLIP released and the `open_clip_torch` PyPI package ships
(`open_clip/bpe_simple_vocab_16e6.txt.gz`, MIT licence).

It builds them the way CLIP's SimpleTokenizer does (the 256 byte symbols, the same with
`</w>`, the first 48,894 merges, then <|startoftext|> and <|endoftext|>: 49,408 entries), which
is what openai/clip-vit-large-patch14's vocab.json holds.

Usage: python scripts/models/clip_vocab.py BPE_GZ_OR_WHEEL OUT_DIR
"""

import gzip
import io
import json
import os
import sys
import zipfile


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


def read_bpe(path):
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            data = z.read("open_clip/bpe_simple_vocab_16e6.txt.gz")
    else:
        with open(path, "rb") as f:
            data = f.read()
    return gzip.decompress(data).decode("utf-8").split("\n")


def main():
    src, out = sys.argv[1], sys.argv[2]
    lines = read_bpe(src)
    merges = [tuple(m.split()) for m in lines[1 : 49152 - 256 - 2 + 1]]
    chars = bytes_to_unicode()
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == 49408, len(vocab)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    print(f"wrote {len(vocab)} tokens, {len(merges)} merges to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
