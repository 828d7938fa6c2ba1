#!/usr/bin/env bash
# The demo: every function run through the real Lambda runtime against a local AWS.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cargo build --locked --bins
exec .venv/bin/python tools/demo.py
