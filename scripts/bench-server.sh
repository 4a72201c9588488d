# Sourced by the API benchmarks (scripts/bench-api.sh, scripts/bench-api-ab.sh): starts one
# seeded `pressroom serve` to measure. Run from the repository root (templates/ is read).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_bench_server BIN DIR DATABASE_URL: a server of BIN with its config, keyring and data
# under DIR, the demo campaigns, 20 queued runs and a viewer key; the scheduler is off and no
# generate worker runs (the engine is not loaded). Sets BENCH_PORT, BENCH_KEY and BENCH_PID.
start_bench_server() {
    local bin="$1" dir="$2" url="$3"
    BENCH_PORT="$(free_port)"
    mkdir -p "$dir"
    "$bin" keyring init "$dir/keyring" >/dev/null
    cat > "$dir/pressroom.toml" <<EOT
[database]
url = "$url"
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
bind = "127.0.0.1:$BENCH_PORT"
# The benchmark measures serving, not the per-key limiter.
rate_limit_per_second = 1000000.0
rate_limit_burst = 1000000.0
EOT
    local pr=("$bin" --config "$dir/pressroom.toml")
    "${pr[@]}" accounts add-sandbox sandbox --workspace demo >/dev/null
    "${pr[@]}" campaign load templates/campaigns/*.toml >/dev/null
    for i in $(seq 1 20); do
        "${pr[@]}" campaign trigger restock-alert --workspace demo --key "bench-$i" --var product=tote >/dev/null
    done
    BENCH_KEY="$("${pr[@]}" keys create --workspace demo --role viewer | tail -n 1)"
    "${pr[@]}" serve > "$dir/serve.log" 2>&1 &
    BENCH_PID=$!
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$BENCH_PORT/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "the server in $dir did not answer /healthz; see $dir/serve.log" >&2
    kill "$BENCH_PID" 2>/dev/null || true
    return 1
}
