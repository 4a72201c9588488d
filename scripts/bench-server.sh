# Sourced by the API benchmarks (scripts/bench-api.sh, scripts/bench-api-ab.sh): starts one
# seeded `pressroom serve` to measure. Run from the repository root (templates/ is read).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_bench_server BIN DIR DATABASE_URL: a server of BIN with its config, keyring and data
# under DIR, the demo campaigns, BENCH_RUNS (default 50) runs carried through generation (the
# tiny model) and publishing (the sandbox account), so runs, assets and posts hold real rows,
# and a viewer key. The measured server then runs with the scheduler off and no generate worker
# (the engine is not loaded). Sets BENCH_PORT, BENCH_KEY and BENCH_PID.
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
    local runs="${BENCH_RUNS:-50}"
    "${pr[@]}" accounts add-sandbox sandbox --workspace demo >/dev/null
    "${pr[@]}" campaign load templates/campaigns/*.toml >/dev/null
    for i in $(seq 1 "$runs"); do
        # Distinct variables: distinct prompts, so each run generates its own asset.
        "${pr[@]}" campaign trigger restock-alert --workspace demo --key "bench-$i" --var "product=tote $i" >/dev/null
    done
    BENCH_KEY="$("${pr[@]}" keys create --workspace demo --role viewer | tail -n 1)"

    # Seeding: the same server with every worker role until every run is posted.
    sed 's/^roles = .*/roles = ["generate", "render", "publish", "notify"]/' "$dir/pressroom.toml" > "$dir/seed.toml"
    "$bin" --config "$dir/seed.toml" serve > "$dir/seed.log" 2>&1 &
    local seed_pid=$!
    local published=0
    for _ in $(seq 1 600); do
        published="$(curl -fsS -H "authorization: Bearer $BENCH_KEY" \
            "http://127.0.0.1:$BENCH_PORT/v1/posts?state=published&limit=200" 2>/dev/null |
            python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))' 2>/dev/null || echo 0)"
        [ "$published" -ge "$runs" ] && break
        sleep 0.5
    done
    kill "$seed_pid" 2>/dev/null || true
    wait "$seed_pid" 2>/dev/null || true
    if [ "$published" -lt "$runs" ]; then
        echo "seeding in $dir published $published of $runs posts in 5 minutes; see $dir/seed.log" >&2
        return 1
    fi

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
