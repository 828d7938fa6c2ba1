#!/usr/bin/env bash
# Every check: formatting, lints, the template, all tests (unit, against the local AWS, through
# cargo lambda, the template's wiring), and `sam build` of the four functions for arm64.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export PATH="$PWD/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cfn-lint template.yaml
sam validate --lint
cargo test --workspace --locked
echo "test.sh: sam build (release, arm64, all four functions)"
started=$SECONDS
sam build
echo "test.sh: sam build took $((SECONDS - started)) s"
