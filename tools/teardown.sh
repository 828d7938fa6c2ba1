#!/usr/bin/env bash
# Removes what `sam delete` leaves of a stack (see tools/teardown.py). Uses the AWS credentials and
# region of the environment, like the AWS CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh >/dev/null
exec .venv/bin/python tools/teardown.py "$@"
