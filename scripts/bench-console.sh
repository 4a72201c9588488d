#!/usr/bin/env bash
# First-render times of the console's pages with 1,000 published posts (issue 14: "first render
# under 200 ms on this machine with 1,000 posts"), on SQLite.
#
# Seeds a workspace with RUNS (default 1000) runs of one campaign published to the sandbox
# account (one image, reused from the generation cache), signs a person in, then fetches every
# console page SAMPLES (default 20) times with curl, one request at a time, and writes the
# median, p95 and largest time and the page size to crates/api/CONSOLE_BENCHMARKS.md.
# Environment: PRESSROOM_BIN (a pressroom binary; default: build this tree's release binary),
# RUNS, SAMPLES, OUT (results file).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
runs="${RUNS:-1000}"
samples="${SAMPLES:-20}"
out="${OUT:-crates/api/CONSOLE_BENCHMARKS.md}"
if [ -n "${PRESSROOM_BIN:-}" ]; then
    bin="$PRESSROOM_BIN"
else
    scripts/setup.sh >/dev/null
    cargo build --release -p pressroom -p pressroom-engine
    bin="${CARGO_TARGET_DIR:-$root/target}/release/pressroom"
fi
source scripts/bench-server.sh   # free_port

work="$(mktemp -d)"
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
port="$(free_port)"
base="http://127.0.0.1:$port"
"$bin" keyring init "$work/keyring" >/dev/null
cat > "$work/pressroom.toml" <<EOT
[database]
url = "sqlite://$work/data/pressroom.db?mode=rwc"
[paths]
data_dir = "$work/data"
[security]
keyring_file = "$work/keyring"
[scheduler]
enabled = false
[log]
level = "warn"
[api]
bind = "127.0.0.1:$port"
rate_limit_per_second = 1000000.0
rate_limit_burst = 1000000.0
EOT
cat > "$work/bench.toml" <<'EOT'
name = "bench-daily"
workspace = "demo"

[schedule]
cron = "0 9 * * *"
timezone = "Europe/Berlin"

[generation]
prompt = "A linen tote bag on a wooden table"
steps = 2
width = 64
height = 64
seed = 7

[caption]
template = "Run {{ n }}: our linen tote, made to last"

[variables]
n = "0"

[[targets]]
account = "sandbox"
preset = "instagram-square"
EOT
pr=("$bin" --config "$work/pressroom.toml")
"${pr[@]}" accounts add-sandbox sandbox --workspace demo >/dev/null
"${pr[@]}" campaign load "$work/bench.toml" >/dev/null
printf 'a long enough passphrase' | "${pr[@]}" users add ops@demo.example --workspace demo --role owner --password-stdin >/dev/null
key="$("${pr[@]}" keys create --workspace demo --role editor | tail -n 1)"
"${pr[@]}" serve > "$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do curl -fsS "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
auth=(-H "authorization: Bearer $key")
campaign="$(curl -fsS "${auth[@]}" "$base/v1/campaigns" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')"
echo "seeding $runs runs…"
for i in $(seq 1 "$runs"); do
    curl -fsS "${auth[@]}" -H 'content-type: application/json' \
        -d "{\"variables\": {\"n\": $i}}" "$base/v1/campaigns/$campaign/trigger" >/dev/null
done
published=0
for _ in $(seq 1 1800); do
    published="$(curl -fsS "${auth[@]}" "$base/v1/usage?days=2" |
        python3 -c 'import json,sys; print(sum(d["posts_published"] for d in json.load(sys.stdin)["data"]))')"
    [ "$published" -ge "$runs" ] && break
    sleep 1
done
[ "$published" -ge "$runs" ] || { echo "published $published of $runs in 30 minutes; see $work/serve.log" >&2; exit 1; }
echo "published $published posts"

jar="$work/cookies"
curl -fsS -c "$jar" -H 'content-type: application/json' \
    -d '{"email": "ops@demo.example", "password": "a long enough passphrase"}' "$base/v1/sessions" >/dev/null
run_id="$(curl -fsS "${auth[@]}" "$base/v1/runs?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')"
pages=(/calendar "/calendar?view=week" /reviews /posts "/posts?state=published" "/runs/$run_id" /campaigns "/campaigns/$campaign" /accounts /gallery /settings /operations)

{
    echo "# Console first-render times"
    echo
    echo "\`scripts/bench-console.sh\` on $(nproc) cores, $(date -u +%Y-%m-%d), SQLite, $published published posts"
    echo "(one campaign, one run per post), binary \`$bin\`. Each page fetched $samples times in a row"
    echo "with curl, signed in (session cookie), one request at a time; the time is curl's"
    echo "\`time_total\` (request sent to last byte read)."
    echo
    echo "| page | median ms | p95 ms | max ms | bytes |"
    echo "|---|---:|---:|---:|---:|"
} > "$work/result.md"
for page in "${pages[@]}"; do
    curl -fsS -b "$jar" -o /dev/null "$base$page"   # warm
    times=()
    size=0
    for _ in $(seq 1 "$samples"); do
        read -r t s < <(curl -fsS -b "$jar" -o /dev/null -w '%{time_total} %{size_download}\n' "$base$page")
        times+=("$t")
        size="$s"
    done
    printf '%s\n' "${times[@]}" | python3 -c "
import sys
t = sorted(float(x) * 1000 for x in sys.stdin)
p95 = t[min(len(t) - 1, int(round(0.95 * (len(t) - 1))))]
print('| \`$page\` | %.1f | %.1f | %.1f | $size |' % (t[len(t) // 2], p95, t[-1]))
" >> "$work/result.md"
done
{
    echo
    echo "Scripts and styles every page loads: \`/console/console.js\` $(curl -fsS "$base/console/console.js" | wc -c) bytes,"
    echo "\`/console/console.css\` $(curl -fsS "$base/console/console.css" | wc -c) bytes (nothing else; no framework)."
} >> "$work/result.md"
cp "$work/result.md" "$out"
cat "$out"
