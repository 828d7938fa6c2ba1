#!/usr/bin/env bash
# Installs what the demo and the tests need: the Rust toolchain pinned in rust-toolchain.toml (with
# the arm64 Lambda target), and a project-local Python environment (.venv) with the local AWS (moto),
# cargo-lambda, zig, cfn-lint and the SAM CLI, pinned in tools/requirements.txt. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is required: $2" >&2; exit 1; }
}
need cargo "install Rust from https://rustup.rs"
need python3 "install Python 3.9 or newer (Debian: apt install python3 python3-venv)"

if command -v rustup >/dev/null 2>&1; then
    # Installs the toolchain, components and targets named in rust-toolchain.toml if missing.
    rustup toolchain install >/dev/null 2>&1 || rustup toolchain install
fi

requirements_hash=$(sha256sum tools/requirements.txt | cut -d' ' -f1)
stamp=.venv/.requirements.sha256
if [[ ! -f $stamp || $(cat "$stamp") != "$requirements_hash" ]]; then
    if [[ ! -x .venv/bin/python ]]; then
        python3 -m venv .venv || {
            echo "error: python3 -m venv failed (Debian: apt install python3-venv)" >&2
            exit 1
        }
    fi
    echo "setup: installing tools/requirements.txt into .venv (first run takes a few minutes)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tools/requirements.txt
    echo "$requirements_hash" >"$stamp"
fi
