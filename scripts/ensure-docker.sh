#!/usr/bin/env bash
# Usage: scripts/ensure-docker.sh [-h|--help]
#
# Make sure a Docker engine answers `docker info` on this machine. Idempotent:
#   1. if `docker info` already answers, do nothing (exit 0);
#   2. if dockerd (or the docker CLI, or debootstrap) is missing, install
#      Debian's docker.io and debootstrap with apt-get --no-install-recommends
#      (`apt-get update` only when apt does not know the packages yet, or
#      once more if the install fails on stale lists); needs root;
#   3. start `dockerd --bridge=none --iptables=false [--ip6tables=false]`
#      in the background (nohup, own session), log to .cache/dockerd.log,
#      pid in .cache/dockerd.pid, and poll `docker info` for up to
#      FEEDDOCK_DOCKERD_TIMEOUT seconds (default 60).
#
# --ip6tables=false is passed only if the installed dockerd knows the flag.
# The daemon has no bridge network: run containers and builds with
# `--network host`.
#
# Environment:
#   FEEDDOCK_CACHE_DIR        cache folder (default: <repo>/.cache)
#   FEEDDOCK_DOCKERD_TIMEOUT  seconds to wait for the daemon (default: 60)
#
# Exit status: 0 when `docker info` answers, non-zero otherwise.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac

log() { echo "[docker] $*"; }
die() { echo "[docker] ERROR: $*" >&2; exit 1; }

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${FEEDDOCK_CACHE_DIR:-$REPO_ROOT/.cache}
LOG_FILE=$CACHE_DIR/dockerd.log
PID_FILE=$CACHE_DIR/dockerd.pid
TIMEOUT=${FEEDDOCK_DOCKERD_TIMEOUT:-60}

docker_answers() {
  command -v docker >/dev/null 2>&1 && timeout 15 docker info >/dev/null 2>&1
}

if docker_answers; then
  log "docker info answers already; nothing to do"
  exit 0
fi

mkdir -p "$CACHE_DIR"
# One caller at a time: two concurrent runs must not start two daemons.
exec 9>"$CACHE_DIR/ensure-docker.lock"
flock 9
if docker_answers; then
  log "docker info answers (started by a concurrent run); nothing to do"
  exit 0
fi

# --- 1. install -------------------------------------------------------------
apt_knows() { apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [0-9]'; }

install_packages() {
  local pkgs=("$@") policy=/usr/sbin/policy-rc.d added_policy=0
  [ "$(id -u)" -eq 0 ] || die "need root to apt-get install ${pkgs[*]}"
  local need_update=0 p
  for p in "${pkgs[@]}"; do apt_knows "$p" || need_update=1; done
  if [ "$need_update" -eq 1 ]; then
    log "apt-get update (apt does not know ${pkgs[*]} yet)"
    apt-get -o DPkg::Lock::Timeout=300 update -qq
  fi
  # Keep the package's init script from starting a default-configured dockerd
  # (with iptables and a docker0 bridge); we start our own below.
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added_policy=1
  fi
  log "apt-get install -y ${pkgs[*]}"
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${pkgs[@]}" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$need_update" -eq 0 ]; then
    log "install failed with stale package lists; apt-get update and retry"
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    rc=0
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${pkgs[@]}" || rc=$?
  fi
  if [ "$added_policy" -eq 1 ]; then rm -f "$policy"; fi
  [ "$rc" -eq 0 ] || die "apt-get install ${pkgs[*]} failed (exit $rc)"
}

missing=()
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  missing+=(docker.io)
fi
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  # --no-install-recommends skips apparmor/needrestart/git; the keyring lets
  # debootstrap verify the Release file.
  install_packages "${missing[@]}" debian-archive-keyring ca-certificates
  command -v dockerd >/dev/null 2>&1 || die "dockerd still not found after installing docker.io"
else
  log "dockerd found: $(command -v dockerd)"
fi

# --- 2. start dockerd -------------------------------------------------------
wait_for_daemon() { # $1 = pid to watch (may be empty)
  local pid=${1:-} start=$SECONDS
  while [ $((SECONDS - start)) -lt "$TIMEOUT" ]; do
    if docker_answers; then
      log "docker info answers after $((SECONDS - start)) s"
      return 0
    fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      echo "[docker] ERROR: dockerd (pid $pid) exited; last lines of $LOG_FILE:" >&2
      tail -n 30 "$LOG_FILE" >&2 || true
      return 1
    fi
    sleep 1
  done
  echo "[docker] ERROR: docker info did not answer within ${TIMEOUT} s; last lines of $LOG_FILE:" >&2
  tail -n 30 "$LOG_FILE" >&2 || true
  return 1
}

# A daemon we started earlier may still be coming up: wait for it, don't start a second one.
if [ -s "$PID_FILE" ]; then
  old_pid=$(cat "$PID_FILE")
  if kill -0 "$old_pid" 2>/dev/null && [ "$(cat "/proc/$old_pid/comm" 2>/dev/null)" = dockerd ]; then
    log "dockerd pid $old_pid (from $PID_FILE) is running; waiting for it"
    wait_for_daemon "$old_pid" && exit 0
    die "dockerd pid $old_pid runs but does not answer; stop it (kill $old_pid) and rerun"
  fi
  rm -f "$PID_FILE"
fi

flags=(--bridge=none --iptables=false)
if dockerd --help 2>&1 | grep -q -- '--ip6tables'; then
  flags+=(--ip6tables=false)
else
  log "this dockerd ($(dockerd --version 2>/dev/null || echo unknown)) has no --ip6tables flag; leaving it out"
fi

log "starting: dockerd ${flags[*]} (log: $LOG_FILE)"
{ echo "=== $(date -Is) dockerd ${flags[*]}"; } >>"$LOG_FILE"
# setsid + nohup: the daemon outlives this script and its terminal; fd 9 (the lock) is not inherited.
setsid nohup dockerd "${flags[@]}" >>"$LOG_FILE" 2>&1 </dev/null 9>&- &
pid=$!
echo "$pid" >"$PID_FILE"
log "dockerd pid $pid (recorded in $PID_FILE)"

wait_for_daemon "$pid" || die "dockerd did not become ready"
# dockerd writes its own pid to /var/run/docker.pid; prefer it if it differs.
if [ -s /var/run/docker.pid ] && [ "$(cat /var/run/docker.pid)" != "$pid" ]; then
  cp /var/run/docker.pid "$PID_FILE"
fi
log "ready: $(docker version --format 'client {{.Client.Version}}, server {{.Server.Version}}' 2>/dev/null || echo 'docker info answers')"
