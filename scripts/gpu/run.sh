#!/usr/bin/env bash
# Issue 17 in one run: the engine on a GPU vs diffusers eager, correctness and speed.
#
#   scripts/gpu/run.sh [--device cuda|cpu] [--tiny] [--out DIR] [--dtypes fp16,bf16]
#
# Writes under DIR (default $OUT, else bench-out/gpu/): env.json, sdxl.json, ours_<dtype>.json,
# diffusers_<dtype>.json, results.json, results.md (tables for crates/diffusion/BENCHMARKS.md),
# log.txt, and work/ (model, latents, images; large with the SD1.5-sized model).
#
# Needs: python3 with torch + diffusers + transformers + safetensors (PRESSROOM_PYTHON, else
# .venv/bin/python, else python3), and our `gpu_check` binary: PRESSROOM_GPU_BIN, else built
# with cargo (example `gpu_check` of pressroom-diffusion). The binary needs the libtorch it was
# built against (tch 0.26: PyTorch 2.13) on its rpath or in PRESSROOM_LIBTORCH_LIB. Whatever
# is missing is reported in results.md; the parts that can run still run.
#
# --device cpu --tiny: the same steps on a tiny random model at 64², for testing the script.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEVICE=cuda TINY=0 DTYPES="fp16,bf16" DTYPES_GIVEN=0 OUTDIR="${OUT:-$ROOT/bench-out/gpu}"
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --tiny) TINY=1; shift ;;
    --out) OUTDIR="$2"; shift 2 ;;
    --dtypes) DTYPES="$2"; DTYPES_GIVEN=1; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUTDIR/work"
OUTDIR="$(cd "$OUTDIR" && pwd)"
WORK="$OUTDIR/work"
LOG="$OUTDIR/log.txt"
: >"$LOG"
say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }

if [ -n "${PRESSROOM_PYTHON:-}" ]; then PY="$PRESSROOM_PYTHON"
elif [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"
else PY=python3; fi
export PYTHONUNBUFFERED=1
BENCH="$ROOT/scripts/gpu/bench.py"

if [ "$TINY" = 1 ]; then
  SIZE=64 STEPS=4 BATCHES=1,2,4,8 UNET_ITERS=3 PIPE_ITERS=2 MODEL_SIZE=tiny MODEL_DESC="tiny SD 1.x (UNet 32/64)"
else
  SIZE=512 STEPS=20 BATCHES=1,2,4,8 UNET_ITERS=20 PIPE_ITERS=3 MODEL_SIZE=sd15 MODEL_DESC="SD1.5-sized (UNet 320/640/1280/1280, CLIP ViT-L text encoder, SD VAE)"
fi
if [ "$DEVICE" = cpu ]; then
  # Two threads each side, as the CPU benchmark. fp16/bf16 kernels on CPU are very slow, so
  # the CPU run compares in fp32 unless --dtypes says otherwise (the fp16 VAE fallback below
  # still runs in fp16).
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
  [ "$DTYPES_GIVEN" = 1 ] || DTYPES=fp32
fi
STARTED=$(date +%s)

say "environment ($PY)"
"$PY" "$BENCH" env "$OUTDIR/env.json" >>"$LOG" 2>&1 || say "env failed (see log)"

# Our binary.
BIN="${PRESSROOM_GPU_BIN:-}"
if [ -z "$BIN" ]; then
  if command -v cargo >/dev/null 2>&1; then
    # Release for GPU timings (host-side launch overhead counts there); dev on CPU, where
    # the tiny model's run is about the script, not speed, and a release build takes long.
    DEFAULT_PROFILE=release; [ "$DEVICE" = cpu ] && DEFAULT_PROFILE=dev
    PROFILE="${PRESSROOM_GPU_PROFILE:-$DEFAULT_PROFILE}"
    say "building gpu_check ($PROFILE)"
    if (cd "$ROOT" && cargo build -q --profile "$PROFILE" -p pressroom-diffusion --example gpu_check) >>"$LOG" 2>&1; then
      DIR="$PROFILE"; [ "$PROFILE" = dev ] && DIR=debug
      BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$DIR/examples/gpu_check"
    else
      say "cargo build failed (see log)"
    fi
  else
    say "no cargo and no PRESSROOM_GPU_BIN: our side cannot run"
  fi
fi
[ -n "${PRESSROOM_LIBTORCH_LIB:-}" ] && export LD_LIBRARY_PATH="$PRESSROOM_LIBTORCH_LIB:${LD_LIBRARY_PATH:-}"
OURS_OK=0 OURS_LIBTORCH="unknown"
if [ -n "$BIN" ] && [ -x "$BIN" ]; then
  if "$BIN" --help >/dev/null 2>>"$LOG" || [ $? -eq 1 ]; then OURS_OK=1; fi
  OURS_LIBTORCH=$(ldd "$BIN" 2>/dev/null | awk '/libtorch_cpu/ {print $3}')
  [ -n "$OURS_LIBTORCH" ] || OURS_LIBTORCH="not found by ldd"
  # The libtorch version ours runs on, from the version header next to it if present.
  VH="$(dirname "$(dirname "$OURS_LIBTORCH")")/include/torch/version.h"
  [ -f "$VH" ] && OURS_LIBTORCH="$(awk '/TORCH_VERSION /{print $3}' "$VH" | tr -d '"') at $OURS_LIBTORCH"
fi
if [ "$OURS_OK" = 0 ] && [ -n "$BIN" ] && [ -x "$BIN" ]; then
  # Its own libtorch is not here (e.g. a GPU machine with another torch): try python's, whose
  # version may differ from the one tch was built for; the log says so either way.
  TL=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)
  if [ -n "$TL" ] && { LD_LIBRARY_PATH="$TL:${LD_LIBRARY_PATH:-}" "$BIN" --help >/dev/null 2>>"$LOG" || [ $? -eq 1 ]; }; then
    export LD_LIBRARY_PATH="$TL:${LD_LIBRARY_PATH:-}"
    OURS_OK=1 OURS_LIBTORCH="python's torch $("$PY" -c 'import torch; print(torch.__version__)') at $TL (tch 0.26 was built for 2.13)"
  fi
fi
say "ours: binary ${BIN:-none}, runs: $OURS_OK, libtorch: $OURS_LIBTORCH"

# SDXL: the engine refuses SDXL pipelines today (issue 16); probe rather than assume.
mkdir -p "$WORK/sdxl-probe"
echo '{"_class_name": "StableDiffusionXLPipeline"}' >"$WORK/sdxl-probe/model_index.json"
SDXL_LINE="SDXL: not probed (our binary did not run)"
if [ "$OURS_OK" = 1 ]; then
  P=$("$BIN" probe-sdxl "$WORK/sdxl-probe" 2>>"$LOG")
  case "$P" in
    *'"refused"'*) SDXL_LINE="SDXL: engine refuses SDXL (issue 16); the SDXL checks (1024², 30 steps) wait for it" ;;
    *'"loaded"'*) SDXL_LINE="SDXL: the engine accepts SDXL now; add the SDXL checks to scripts/gpu/run.sh" ;;
    *) SDXL_LINE="SDXL: probe failed: $P" ;;
  esac
fi
say "$SDXL_LINE"
"$PY" -c 'import json,sys; json.dump({"line": sys.argv[1]}, open(sys.argv[2], "w"))' "$SDXL_LINE" "$OUTDIR/sdxl.json"

MODEL="$WORK/model-$MODEL_SIZE"
if [ ! -f "$MODEL/model_index.json" ]; then
  say "making the $MODEL_SIZE random-weight model"
  "$PY" "$BENCH" make "$MODEL" --size "$MODEL_SIZE" --device "$DEVICE" >>"$LOG" 2>&1 || { say "make failed (see log)"; exit 1; }
fi
"$PY" "$BENCH" latents "$MODEL" "$SIZE" "$WORK/latents.safetensors" >>"$LOG" 2>&1 || say "latents failed"

META_ERR=()
for DT in ${DTYPES//,/ }; do
  # fp16 is the speed comparison (diffusers eager in torch.float16); bf16 adds correctness and
  # the UNet steps for the share of the bf16 peak.
  if [ "$DT" = "${DTYPES%%,*}" ]; then PARTS_D=correctness,unet,pipeline,turbo; PARTS_O=$PARTS_D,engine
  else PARTS_D=correctness,unet; PARTS_O=$PARTS_D; fi
  say "diffusers $DT: $PARTS_D"
  "$PY" "$BENCH" run --model "$MODEL" --work "$WORK" --device "$DEVICE" --dtype "$DT" --parts "$PARTS_D" \
    --size "$SIZE" --steps "$STEPS" --batches "$BATCHES" --unet-iters "$UNET_ITERS" --pipe-iters "$PIPE_ITERS" \
    --out "$OUTDIR/diffusers_$DT.json" >>"$LOG" 2>&1 || { say "diffusers $DT failed (see log)"; META_ERR+=("diffusers_error_$DT=failed, see log.txt"); }
  if [ "$OURS_OK" = 1 ]; then
    say "ours $DT: $PARTS_O"
    "$BIN" run --model "$MODEL" --work "$WORK" --device "$DEVICE" --dtype "$DT" --parts "$PARTS_O" \
      --size "$SIZE" --steps "$STEPS" --batches "$BATCHES" --unet-iters "$UNET_ITERS" --pipe-iters "$PIPE_ITERS" \
      --out "$OUTDIR/ours_$DT.json" >>"$LOG" 2>&1 || { say "ours $DT failed (see log)"; META_ERR+=("ours_error_$DT=failed, see log.txt"); }
  else
    META_ERR+=("ours_error_$DT=our binary could not run here (needs the libtorch it was built against; see log.txt)")
  fi
done

if [ "$OURS_OK" = 1 ]; then
  # Its own process: the fallback switches the model to fp32 decodes for good.
  say "ours: VAE NaN fallback (fp16)"
  "$BIN" run --model "$MODEL" --work "$WORK" --device "$DEVICE" --dtype fp16 --parts vae-fallback \
    --size "$SIZE" --out "$OUTDIR/ours_vae_fallback.json" >>"$LOG" 2>&1 || say "vae fallback check failed (see log)"
fi

ELAPSED=$(( $(date +%s) - STARTED ))
"$PY" - "$OUTDIR/meta.json" "$DTYPES" "$SIZE" "$STEPS" "$MODEL_DESC" "$OURS_LIBTORCH" "$ELAPSED" \
  "scripts/gpu/run.sh --device $DEVICE$([ "$TINY" = 1 ] && echo ' --tiny')" "${META_ERR[@]}" <<'EOF'
import datetime, json, sys
out, dtypes, size, steps, model, lib, elapsed, cmd, *errs = sys.argv[1:]
meta = {"dtypes": dtypes.split(","), "size": int(size), "steps": int(steps), "model": model,
        "ours_libtorch": lib, "elapsed_s": int(elapsed), "command": cmd,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
for e in errs:
    k, _, v = e.partition("=")
    meta[k] = v
json.dump(meta, open(out, "w"), indent=2)
EOF
say "report"
"$PY" "$BENCH" report "$OUTDIR" >>"$LOG" 2>&1 || say "report failed (see log)"
say "done in ${ELAPSED}s: $OUTDIR/results.md"
cat "$OUTDIR/results.md" 2>/dev/null
