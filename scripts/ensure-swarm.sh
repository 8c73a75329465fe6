#!/usr/bin/env bash
# Usage: scripts/ensure-swarm.sh [-h|--help]
#
# Make sure the Swarm tests can build their single-node swarm (tests/engines.py SwarmEngine):
# a second dockerd inside a network namespace made for the test, joined to this machine by a
# veth pair, initialised with `docker swarm init`. Idempotent:
#   1. needs root and dockerd (scripts/ensure-docker.sh installs it);
#   2. installs iproute2 (`ip netns`, veth), util-linux (`nsenter`) and openssl (the test
#      engine's TLS certificates) when missing, with
#      apt-get --no-install-recommends (`apt-get update` only when apt does not know them);
#   3. checks that a network namespace with a veth pair can be made (and removes it).
# The tests make and remove everything else themselves, on each run.
#
# Exit status: 0 when the swarm tests can run here, non-zero otherwise.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac

log() { echo "[swarm] $*"; }
die() { echo "[swarm] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "the swarm tests start a dockerd in a network namespace: run as root"
command -v dockerd >/dev/null || die "dockerd is missing: run scripts/ensure-docker.sh first"

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nsenter >/dev/null || missing+=(util-linux)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
        apt-get update -qq
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

probe="feeddock-probe-$$"
trap 'ip netns del "$probe" 2>/dev/null || true' EXIT
ip netns add "$probe"
ip link add "fdp$$h" type veth peer name "fdp$$n" netns "$probe" \
    || die "this kernel cannot make a veth pair into a network namespace"
log "network namespaces and veth pairs work; the swarm tests can run"
