#!/usr/bin/env bash
# Set up, then stream the built-in demo market live in the terminal (Ctrl-C to stop).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/feeddock demo "$@"
