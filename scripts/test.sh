#!/usr/bin/env bash
# Set up everything the test suite needs, then run linters, type checks and the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "[test] mypy --strict"
.venv/bin/mypy
echo "[test] pytest"
.venv/bin/pytest "$@"
