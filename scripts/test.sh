#!/usr/bin/env bash
# Quick start, command 2: install what is missing, then run the whole test suite.
# PostgreSQL tests use PRESSROOM_TEST_PG (default postgres://postgres@127.0.0.1:5432/postgres)
# and create and drop their own database.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup.sh --browser
cargo build --workspace --all-targets --all-features
cargo test --workspace --all-features --no-fail-fast "$@"
