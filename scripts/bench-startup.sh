#!/usr/bin/env bash
# Startup benchmark (issue 19): wall time and peak RSS of commands that do not generate
# (`pressroom --version`, `keys create`, `campaign validate`, `render`), and of `serve`
# without the generate role until /healthz answers, for this checkout's binaries and, with
# --before REV, for the binaries of commit REV (built from a git worktree under target/, in a
# target directory of its own: the first run builds everything once more) in the same run. Prints a Markdown table (BENCHMARKS.md is hand-kept: crates/pressroom/BENCHMARKS.md).
#
# Usage: scripts/bench-startup.sh [--before REV] [--runs N]     (default: no before, 20 runs)
# Environment: PROFILE (dev or release, default dev: the dev profile optimises dependencies,
# and it is what scripts/demo.sh and the tests build).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
before=""
runs=20
while [ $# -gt 0 ]; do
    case "$1" in
        --before) before="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        *) echo "usage: $0 [--before REV] [--runs N]" >&2; exit 2 ;;
    esac
done
profile="${PROFILE:-dev}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
if [ "$profile" = release ]; then flag=(--release); sub=release; else flag=(); sub=debug; fi

before_bin=""
if [ -n "$before" ]; then
    rev="$(git rev-parse --short "$before")"
    tree="$target_dir/bench-before-$rev/src"
    if [ ! -d "$tree" ]; then
        git worktree add --detach "$tree" "$rev" >/dev/null
    fi
    # A target directory of its own: cargo names a workspace member's artifacts without its
    # path, so the worktree's build would overwrite (and later be taken for) this checkout's.
    # The worktree has no .venv: it uses ours.
    ln -sfn "$root/.venv" "$tree/.venv"
    before_target="$target_dir/bench-before-$rev/target"
    (cd "$tree" && CARGO_TARGET_DIR="$before_target" cargo build "${flag[@]}" -p pressroom)
    before_bin="$before_target/$sub/pressroom"
fi

cargo build "${flag[@]}" -p pressroom -p pressroom-engine
after_bin="$target_dir/$sub/pressroom"

exec "$root/.venv/bin/python" "$root/scripts/bench/startup.py" --runs "$runs" \
    --after "$after_bin" ${before_bin:+--before "$before_bin"} --root "$root"
