#!/usr/bin/env bash
# Load benchmark of the control API's read endpoints (issue 7), with wrk, on SQLite and on
# PostgreSQL. Goal: >= 10k req/s and p99 < 10 ms for reads on 2 cores.
#
# Builds `pressroom` in release mode, seeds each database with the demo campaigns, BENCH_RUNS
# (default 50) runs generated with the tiny model and published to the sandbox account, and a
# viewer key (scripts/bench-server.sh), then starts `pressroom serve` with the scheduler off and
# no generate worker (the engine is not loaded), runs wrk against each endpoint and writes
# crates/api/BENCHMARKS.md. Installs wrk from Debian when missing.
# Environment: DURATION (default 10s), CONNECTIONS (default 32), THREADS (default 1),
# PRESSROOM_TEST_PG (default postgres://postgres@127.0.0.1:5432/postgres),
# PRESSROOM_BIN (a pressroom binary to measure instead of building this tree's, e.g. an older
# build for a side-by-side comparison), OUT (results file, default crates/api/BENCHMARKS.md).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
duration="${DURATION:-10s}"
connections="${CONNECTIONS:-32}"
threads="${THREADS:-1}"
pg_admin="${PRESSROOM_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
out="${OUT:-crates/api/BENCHMARKS.md}"

if ! command -v wrk >/dev/null 2>&1; then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq wrk >/dev/null
fi
if [ -n "${PRESSROOM_BIN:-}" ]; then
    bin="$PRESSROOM_BIN"
else
    scripts/setup.sh >/dev/null
    cargo build --release -p pressroom -p pressroom-engine
    bin="${CARGO_TARGET_DIR:-$root/target}/release/pressroom"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=scripts/bench-server.sh
. "$root/scripts/bench-server.sh"

# bench_backend NAME DATABASE_URL -> appends rows to $work/rows.md
bench_backend() {
    local name="$1" url="$2"
    local dir="$work/$name"
    start_bench_server "$bin" "$dir" "$url"
    server_pid="$BENCH_PID"
    local port="$BENCH_PORT" key="$BENCH_KEY"
    local campaign_id
    campaign_id="$(curl -fsS -H "authorization: Bearer $key" "http://127.0.0.1:$port/v1/campaigns" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')"
    for path in /healthz /v1/campaigns "/v1/campaigns/$campaign_id" "/v1/runs?limit=20" /v1/posts; do
        local label="$path"
        [[ "$path" == /v1/campaigns/* ]] && label="/v1/campaigns/{id}"
        wrk -t"$threads" -c"$connections" -d"$duration" --latency \
            -H "authorization: Bearer $key" "http://127.0.0.1:$port$path" > "$dir/wrk.txt"
        python3 - "$name" "$label" "$dir/wrk.txt" >> "$work/rows.md" <<'PY'
import re, sys
name, label, path = sys.argv[1:]
text = open(path).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def ms(p):
    m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", text)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
errors = non2xx.group(1) if non2xx else "0"
print(f"| {name} | `{label}` | {rps:,.0f} | {ms(50):.2f} | {ms(99):.2f} | {errors} |")
PY
        echo "$name $label done" >&2
    done
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

bench_backend sqlite ""
pg_db="pressroom_bench_$$"
psql "$pg_admin" -qc "CREATE DATABASE $pg_db" >/dev/null
pg_url="${pg_admin%/*}/$pg_db"
bench_backend postgresql "$pg_url" || true
psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null

# Hand-written notes below the marker survive a rerun; only the table above it is replaced.
marker="<!-- notes: kept by scripts/bench-api.sh -->"
notes=""
if [ -f "$out" ] && grep -qF "$marker" "$out"; then
    notes="$(awk -v m="$marker" 'index($0, m) { keep = 1 } keep' "$out")"
fi
{
    echo "# Control API load benchmark"
    echo
    echo "\`scripts/bench-api.sh\` on $(nproc) cores ($(uname -m)), $(date -u +%Y-%m-%d): wrk ${threads} thread(s),"
    echo "${connections} connections, ${duration} per endpoint, release build, a viewer key on every request"
    echo "(authenticated and rate-limited like any client; \`/healthz\` is the unauthenticated baseline)."
    echo "wrk shares the 2 cores with the server. Goal: >= 10,000 req/s and p99 < 10 ms for reads."
    measured="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "Measured: ${PRESSROOM_BIN:-the release build of commit $measured}."
    echo
    echo "| database | endpoint | req/s | p50 ms | p99 ms | non-2xx |"
    echo "|---|---|---:|---:|---:|---:|"
    cat "$work/rows.md"
    if [ -n "$notes" ]; then
        echo
        echo "$notes"
    fi
} > "$out"
cat "$out"
