#!/usr/bin/env bash
# Usage: scripts/ensure-tools.sh COMMAND[=PACKAGE]... [-h|--help]
#
# Make sure each COMMAND is on PATH, installing Debian's PACKAGE (default: the command's name)
# with apt-get --no-install-recommends when it is missing. Idempotent: present commands cost
# nothing. `apt-get update` runs only when apt does not know a package yet, or once more when
# the install fails on stale lists. Needs root to install. scripts/test.sh uses it for:
#
#   scripts/ensure-tools.sh chromium                 # headless browser tests (tests/browser)
#   scripts/ensure-tools.sh docker-compose           # compose deployment test (Compose v1)
#
# Progress goes to stdout, prefixed "[tools] ". Exit status: 0 when every command is there.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
log() { echo "[tools] $*"; }
die() { echo "[tools] ERROR: $*" >&2; exit 1; }

[ $# -gt 0 ] || { usage >&2; exit 2; }
missing=()
for spec in "$@"; do
  case "$spec" in -h | --help) usage; exit 0 ;; esac
  command=${spec%%=*}
  package=${spec#*=}
  if command -v "$command" >/dev/null 2>&1; then
    log "$command found: $(command -v "$command")"
  else
    missing+=("$package")
  fi
done
[ "${#missing[@]}" -gt 0 ] || exit 0
[ "$(id -u)" -eq 0 ] || die "need root to apt-get install ${missing[*]}"

apt_knows() { apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [0-9]'; }
install() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
}
updated=0
for package in "${missing[@]}"; do
  if ! apt_knows "$package" && [ "$updated" -eq 0 ]; then
    log "apt-get update (apt does not know $package yet)"
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    updated=1
  fi
done
log "apt-get install -y ${missing[*]}"
if ! install; then
  [ "$updated" -eq 0 ] || die "apt-get install ${missing[*]} failed"
  log "install failed with stale package lists; apt-get update and retry"
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  install || die "apt-get install ${missing[*]} failed"
fi
for spec in "$@"; do
  command -v "${spec%%=*}" >/dev/null 2>&1 || die "${spec%%=*} still missing after the install"
done
log "installed ${missing[*]}"
