#!/usr/bin/env bash
# Side-by-side load comparison of two (or more) pressroom builds on SQLite: each build gets the
# same seeded data (demo campaigns, BENCH_RUNS runs generated and published, a viewer key) and its own server, then wrk runs
# alternate between them, ROUNDS times per endpoint, so drift in machine load hits every build
# alike. Prints "endpoint build req/s req/s ..." lines. Used for the A/B tables in
# crates/api/BENCHMARKS.md.
#
# Usage: scripts/bench-api-ab.sh OLD_BINARY NEW_BINARY [MORE_BINARIES...]
# Environment: DURATION (default 4s), CONNECTIONS (default 32), ROUNDS (default 3),
# BENCH_RUNS (default 50; see scripts/bench-server.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[ "$#" -ge 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY [MORE...]" >&2; exit 2; }
duration="${DURATION:-4s}"
connections="${CONNECTIONS:-32}"
rounds="${ROUNDS:-3}"
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 2; }

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=scripts/bench-server.sh
. "$root/scripts/bench-server.sh"

bins=("$@")
ports=()
keys=()
for i in "${!bins[@]}"; do
    start_bench_server "${bins[$i]}" "$work/$i" ""
    pids+=("$BENCH_PID")
    ports+=("$BENCH_PORT")
    keys+=("$BENCH_KEY")
done

results="$work/results"
for _ in $(seq 1 "$rounds"); do
    for path in /v1/campaigns "/v1/runs?limit=20" "/v1/runs?limit=3" /v1/posts; do
        for i in "${!bins[@]}"; do
            out="$(wrk -t1 -c"$connections" -d"$duration" \
                -H "authorization: Bearer ${keys[$i]}" "http://127.0.0.1:${ports[$i]}$path")"
            if grep -q "Non-2xx" <<<"$out"; then
                echo "${bins[$i]} $path: non-2xx answers; not a valid measurement" >&2
                exit 1
            fi
            echo "$path ${bins[$i]} $(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")" >> "$results"
        done
    done
done
awk '{k = $1 " " $2; v[k] = v[k] " " $3} END {for (k in v) print k v[k]}' "$results" | sort
