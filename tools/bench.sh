#!/usr/bin/env bash
# The loader's benchmark: builds the release binaries (host, and arm64 for the sizes), then runs
# tools/bench/run.py, which writes docs/benchmarks.md. Options go to run.py (--rows, --capacity, ...).
# Takes about ten minutes; the Python reference is most of it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

target=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
cargo build --release --locked -p bench -p csv-loader
cargo lambda build --release --arm64 --locked \
    -p csv-loader -p backup-trigger -p restore-handler -p backup-notifier
.venv/bin/python tools/bench/run.py --bench "$target/release/bench" \
    --function "$target/release/csv-loader" --lambda-dir "$target/lambda" "$@"
