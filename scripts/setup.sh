#!/usr/bin/env bash
# Installs what Pressroom needs on a fresh machine, and nothing twice:
#  - a project-local Python venv (.venv) with the torch wheel that tch expects (libtorch),
#    plus diffusers & co. used by the engine's parity tests and benchmarks, the official
#    `openai` client that the API's compatibility test drives, `schemathesis`, which
#    tests/tests/e2e/schemathesis.rs runs against the API's /openapi.json, and moto's S3
#    server (`moto[server]`), the local bucket of the object-storage tests.
#  - with --browser: Debian's chromium and chromium-driver for the browser tests (as root,
#    when apt-get exists).
# Idempotent: a second run checks versions and returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION="2.13.0"            # must match tch's TORCH_VERSION (tch 0.26)
PY_PACKAGES=("torch==${TORCH_VERSION}" diffusers transformers safetensors numpy openai "schemathesis==4.32.5" "moto[server]")
PYTHON="${PYTHON:-python3}"

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) first" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi

if ! .venv/bin/python - "$TORCH_VERSION" <<'PY' 2>/dev/null
import sys, importlib.metadata as m
want = sys.argv[1]
assert m.version("torch") == want, m.version("torch")
for p in ("diffusers", "transformers", "safetensors", "numpy", "openai", "schemathesis", "moto", "flask"):
    m.version(p)
PY
then
  echo "setup: installing ${PY_PACKAGES[*]} into .venv (first time: a few minutes, ~5 GB)"
  # --no-cache-dir: the torch wheel and its CUDA libraries would otherwise stay in ~/.cache/pip
  # too (several GB more on disk for nothing).
  .venv/bin/pip install --quiet --disable-pip-version-check --no-cache-dir --upgrade pip
  .venv/bin/pip install --quiet --disable-pip-version-check --no-cache-dir "${PY_PACKAGES[@]}"
fi
# The browser tests (tests/tests/e2e/browser.rs) drive Debian's Chromium through chromedriver:
# installed with --browser (scripts/test.sh passes it; the demo does not need a browser).
if [ "${1:-}" = "--browser" ] && { ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; }; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian's chromium and chromium-driver (browser tests)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium chromium-driver >/dev/null \
      || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }
  else
    echo "setup: chromium and chromedriver are missing and cannot be installed here; the" \
      "browser tests need them (Debian: apt-get install chromium chromium-driver)" >&2
  fi
fi
# torch-sys reads LIBTORCH (.cargo/config.toml points it at .venv/libtorch): link the wheel's
# torch/ directory there, which holds include/ and lib/ like a libtorch download.
torch_dir="$(.venv/bin/python -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
ln -sfn "$torch_dir" .venv/libtorch
echo "setup: ok (torch $(.venv/bin/python -c 'import torch; print(torch.__version__)'))"
