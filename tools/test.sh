#!/usr/bin/env bash
# Every check: formatting, lints, and all tests (unit, against the local AWS, through cargo lambda).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
