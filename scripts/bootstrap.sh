#!/usr/bin/env bash
# Create .venv and install feeddock with its dev tools. Idempotent; safe on a fresh Debian/Ubuntu.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null 2>&1 || ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "[setup] installing Python 3 with venv (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
    PYTHON=python3
fi
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "feeddock needs Python >= 3.11"'

if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.feeddock-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "[setup] installing feeddock and its dependencies into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[dev]"
    touch "$stamp"
fi
echo "[setup] ready: $(.venv/bin/python --version), feeddock $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("feeddock"))')"
