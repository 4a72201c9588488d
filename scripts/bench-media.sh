#!/usr/bin/env bash
# Benchmark pressroom-media against ImageMagick and libvips (issue 4).
#
# Installs the real ImageMagick and libvips-tools from Debian when missing (the `convert`
# first on PATH may be a stand-in), builds the bench in release mode, renders every preset from
# a 1024x1024 and a 2048x2048 source with all three, and writes crates/media/BENCHMARKS.md.
# Extra arguments go to the bench binary, e.g. `--runs 9` or `--sizes 2048`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

need=()
/usr/bin/convert -version 2>/dev/null | grep -q ImageMagick || need+=(imagemagick)
command -v vipsthumbnail >/dev/null 2>&1 || need+=(libvips-tools)
if ((${#need[@]})); then
    echo "installing ${need[*]}" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release -p pressroom-media --bin bench-media
target_dir="${CARGO_TARGET_DIR:-$root/target}"
exec "$target_dir/release/bench-media" --out crates/media/BENCHMARKS.md --work "$target_dir/bench-media" "$@"
