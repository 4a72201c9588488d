#!/usr/bin/env bash
# Side-by-side load comparison of two (or more) pressroom builds on SQLite: each build gets the
# same seeded data (demo campaigns, 20 runs, a viewer key) and its own server, then wrk runs
# alternate between them, ROUNDS times per endpoint, so drift in machine load hits every build
# alike. Prints "endpoint build req/s req/s ..." lines. Used for the A/B tables in
# crates/api/BENCHMARKS.md.
#
# Usage: scripts/bench-api-ab.sh OLD_BINARY NEW_BINARY [MORE_BINARIES...]
# Environment: DURATION (default 4s), CONNECTIONS (default 32), ROUNDS (default 3).
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

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bins=("$@")
ports=()
keys=()
for i in "${!bins[@]}"; do
    bin="${bins[$i]}"
    dir="$work/$i"
    port="$(free_port)"
    mkdir -p "$dir"
    "$bin" keyring init "$dir/keyring" >/dev/null
    cat > "$dir/pressroom.toml" <<EOF
[database]
url = ""
[paths]
data_dir = "$dir/data"
[security]
keyring_file = "$dir/keyring"
[scheduler]
enabled = false
[workers]
roles = ["publish"]
[log]
level = "warn"
[api]
bind = "127.0.0.1:$port"
rate_limit_per_second = 1000000.0
rate_limit_burst = 1000000.0
EOF
    pr=("$bin" --config "$dir/pressroom.toml")
    "${pr[@]}" accounts add-sandbox sandbox --workspace demo >/dev/null
    "${pr[@]}" campaign load templates/campaigns/*.toml >/dev/null
    for j in $(seq 1 20); do
        "${pr[@]}" campaign trigger restock-alert --workspace demo --key "ab-$j" --var product=tote >/dev/null
    done
    keys+=("$("${pr[@]}" keys create --workspace demo --role viewer | tail -n 1)")
    ports+=("$port")
    "${pr[@]}" serve > "$dir/serve.log" 2>&1 &
    pids+=("$!")
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
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
