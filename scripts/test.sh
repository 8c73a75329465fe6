#!/usr/bin/env bash
# Set up everything the test suite needs, then run linters, type checks and the whole suite.
#
# Docker: the suite runs every lifecycle test on both runtimes and the Docker tests against a
# real engine, so this script first makes sure an engine answers (installing docker.io and
# starting dockerd if needed: root), a base image exists (python:3.11-slim, or one built with
# debootstrap when no registry is reachable) and both images are built from this tree
# (wheelhouse + docker build; cached, a few seconds when nothing changed). It then exports
# FEEDDOCK_REQUIRE_DOCKER=1, so a Docker test that cannot run fails instead of skipping.
# The Swarm tests (tests/swarm) start a single-node swarm of their own in a network namespace
# and remove it after; scripts/ensure-swarm.sh checks they can (root, iproute2, nsenter,
# openssl) and FEEDDOCK_REQUIRE_SWARM=1 makes a Swarm test that cannot run fail too.
# FEEDDOCK_SKIP_DOCKER=1 skips this setup (the Docker tests then skip, with the reason).
# It also installs Debian's chromium (the dashboard and /docs run in a real headless browser)
# and, with Docker, docker-compose (the compose deployment test), and requires both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

echo "[test] chromium"
scripts/ensure-tools.sh chromium
export FEEDDOCK_REQUIRE_BROWSER=1

if [ "${FEEDDOCK_SKIP_DOCKER:-0}" != 1 ]; then
    echo "[test] docker engine"
    scripts/ensure-docker.sh
    echo "[test] base image"
    base=$(scripts/base-image.sh | tail -n 1)
    echo "[test] images (wheelhouse + docker build on $base)"
    # A fixed SOURCE_DATE_EPOCH makes the wheel reproducible, so an unchanged tree hits the
    # layer cache. `feeddock images build` runs scripts/wheelhouse.sh itself.
    SOURCE_DATE_EPOCH=315532800 .venv/bin/python -m orchestrator.cli_images build \
        --base-image "$base" --quiet
    export FEEDDOCK_REQUIRE_DOCKER=1
    echo "[test] swarm tools"
    scripts/ensure-swarm.sh
    export FEEDDOCK_REQUIRE_SWARM=1
    # Compose v2 (`docker compose`) when the machine has it, else Debian's docker-compose.
    if ! docker compose version >/dev/null 2>&1; then
        echo "[test] docker-compose"
        scripts/ensure-tools.sh docker-compose
    fi
fi

echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "[test] mypy --strict"
.venv/bin/mypy
echo "[test] pytest"
.venv/bin/pytest "$@"
