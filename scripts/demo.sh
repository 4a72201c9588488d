#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and run one campaign occurrence
# end to end (generate -> render -> publish to the sandbox outbox). Extra args go to `demo`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
# The dev profile (dependencies optimized) shares its build with the test suite; the heavy
# lifting happens inside libtorch either way.
# Built from the repository root: cargo reads .cargo/config.toml (where libtorch is) from the
# directory it runs in, not from --manifest-path. The demo itself runs in the caller's directory.
# `pressroom-engine` is the process the daemon starts to generate (the one that loads libtorch).
(cd "$root" && cargo build -p pressroom -p pressroom-engine)
exec "${CARGO_TARGET_DIR:-$root/target}/debug/pressroom" demo "$@"
