#!/usr/bin/env bash
# Load benchmark (issue 11, "Load"): POSTS posts due within one minute across ACCOUNTS accounts
# of the project's own platform fakes (Facebook, LinkedIn, Snapchat, webhook receiver) with
# their seeded chaos on (10 % 5xx, 5 % 429, 10 % lost answers), on PostgreSQL with two
# `pressroom serve` instances. Goal: every post committed within 60 s of its due time, none
# lost, none doubled (counted on the fakes' side).
#
# Usage: scripts/bench-load.sh [POSTS [ACCOUNTS]]          (default 10000 50)
# Environment: CONCURRENCY ([workers] concurrency per instance, default 64), WINDOW_SECS
# (the due times spread over this, default 60), CHAOS (1/0, default 1), SNAP_RATE (1/0,
# default 0: Snap's ~10 calls a second per access token in the Snapchat fake, and the daemons
# pacing 4 a second each; off by default because 200 Stories an account in a minute, 5 calls
# each, is above what Snap allows an account at all), SEED,
# PROFILE (release or dev, default release: the daemon and the fakes built optimised),
# PRESSROOM_TEST_PG (the PostgreSQL admin URL, default postgres://postgres@127.0.0.1:5432/postgres),
# OUT (a file to append the result row to, default none; BENCHMARKS.md is hand-kept).
#
# The harness is the ignored test `load::load_benchmark` in tests/tests/e2e/load.rs (the fakes run in
# its process; the two daemons are the real binary). It prints one JSON line, LOAD_REPORT.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
posts="${1:-10000}"
accounts="${2:-50}"
profile="${PROFILE:-release}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"

cargo_profile=()
bin_dir="$target_dir/debug"
if [ "$profile" = release ]; then
    cargo_profile=(--release)
    bin_dir="$target_dir/release"
fi
cargo build "${cargo_profile[@]}" -p pressroom -p pressroom-engine
cargo test "${cargo_profile[@]}" -p pressroom-e2e --test e2e --no-run

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
PRESSROOM_E2E_BIN="$bin_dir/pressroom" \
    LOAD_POSTS="$posts" LOAD_ACCOUNTS="$accounts" \
    LOAD_CONCURRENCY="${CONCURRENCY:-64}" LOAD_WINDOW_SECS="${WINDOW_SECS:-60}" \
    LOAD_CHAOS="${CHAOS:-1}" LOAD_SNAP_RATE="${SNAP_RATE:-0}" \
    LOAD_SEED="${SEED:-1100}" LOAD_REPORT_FILE="$report" \
    cargo test "${cargo_profile[@]}" -p pressroom-e2e --test e2e -- \
    --ignored --exact load::load_benchmark --nocapture
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$report" "$started" "$load_before" "$load_after" "$(nproc)" "$profile" "${OUT:-}" <<'PY'
import json, sys
path, started, before, after, cores, profile, out = sys.argv[1:]
r = json.load(open(path))
d = r["due_to_committed_secs"]
row = (f"| {started} | {profile} | {r['posts']} | {r['accounts']} | {r['concurrency_per_instance']} "
       f"| {'on' if r['chaos'] else 'off'} | {r['published']}/{r['expected']} | {r['lost']} | {r['doubled']} "
       f"| {d['p50']:.1f} | {d['p95']:.1f} | {d['max']:.1f} | {d['over_60s']} "
       f"| {r['throughput_posts_per_sec']:.1f} | {before} -> {after} ({cores} cores) |")
print(json.dumps(r, indent=2))
print()
print("| when (UTC) | build | posts | accounts | workers/instance | chaos | published | lost | doubled "
      "| p50 s | p95 s | max s | > 60 s | posts/s | load avg before -> after |")
print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
print(row)
if out:
    with open(out, "a") as f:
        f.write(row + "\n")
PY
