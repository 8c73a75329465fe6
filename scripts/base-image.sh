#!/usr/bin/env bash
# Usage: scripts/base-image.sh [--rebuild] [-h|--help]
#
# Make sure a local Docker image usable as BASE_IMAGE (Python 3.11 with venv,
# python3 on PATH) exists, and print its name as the LAST line of stdout:
#
#   BASE=$(scripts/base-image.sh | tail -1)
#   docker build --network host --build-arg BASE_IMAGE="$BASE" ...
#
# Progress goes to stderr, prefixed "[base] "; stdout carries only the name.
# Tried in this order:
#   1. $FEEDDOCK_BASE_IMAGE, if set and present locally   -> used as is
#   2. feeddock-base:bookworm, if present locally          -> used as is
#   3. python:3.11-slim, if present locally, or if `docker pull` works within
#      FEEDDOCK_PULL_TIMEOUT seconds (default 20; FEEDDOCK_SKIP_PULL=1 skips
#      the pull)                                            -> used
#   4. build feeddock-base:bookworm: debootstrap --variant=minbase
#      --include=python3,python3-venv,ca-certificates bookworm into a
#      temporary folder (about a minute), cached as .cache/base-rootfs.tar,
#      then `docker import`. With the tarball cached, a rerun after
#      `docker rmi feeddock-base:bookworm` only re-imports (seconds).
# Images from steps 3 and 4 are checked with
#   docker run --rm --network host IMAGE python3 -c 'import venv, sqlite3, ssl'
# plus `python3 -m venv /opt/venv` inside the image.
#
# Options:
#   --rebuild   ignore steps 1-3 and the cached tarball: debootstrap again and
#               re-import feeddock-base:bookworm
#
# Environment:
#   FEEDDOCK_BASE_IMAGE     image to use if present locally
#   FEEDDOCK_DEBIAN_MIRROR  Debian mirror for debootstrap (default: the first
#                           bookworm "deb" source of /etc/apt/sources.list and
#                           /etc/apt/sources.list.d/*, else deb.debian.org)
#   FEEDDOCK_SKIP_PULL      1 = don't try `docker pull python:3.11-slim`
#   FEEDDOCK_PULL_TIMEOUT   seconds for that pull (default: 20)
#   FEEDDOCK_CACHE_DIR      cache folder (default: <repo>/.cache)
#
# Needs a running engine: if `docker info` does not answer, runs
# scripts/ensure-docker.sh first. Building needs root (debootstrap).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
REBUILD=0
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    --rebuild) REBUILD=1 ;;
    *) usage >&2; exit 2 ;;
  esac
done

log() { echo "[base] $*" >&2; }
die() { echo "[base] ERROR: $*" >&2; exit 1; }

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
CACHE_DIR=${FEEDDOCK_CACHE_DIR:-$REPO_ROOT/.cache}
IMAGE=feeddock-base:bookworm
PULL_IMAGE=python:3.11-slim
SUITE=bookworm
ROOTFS_TAR=$CACHE_DIR/base-rootfs.tar
DEBOOTSTRAP_LOG=$CACHE_DIR/debootstrap.log

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
use() { echo "$1"; exit 0; }

verify() { # $1 = image
  local out
  log "verifying $1: python3 -c 'import venv, sqlite3, ssl' and python3 -m venv /opt/venv"
  out=$(docker run --rm --network host "$1" sh -c \
    'python3 -c "import sys, venv, sqlite3, ssl; print(\"ok\", sys.version.split()[0])" &&
     python3 -m venv /opt/venv && /opt/venv/bin/python -m pip --version >/dev/null && echo venv-ok' 2>&1) || {
    echo "$out" >&2
    return 1
  }
  log "$(echo "$out" | tr '\n' ' ')"
  case "$out" in *venv-ok*) return 0 ;; *) echo "$out" >&2; return 1 ;; esac
}

# --- engine -----------------------------------------------------------------
if ! timeout 15 docker info >/dev/null 2>&1; then
  log "docker info does not answer; running scripts/ensure-docker.sh"
  "$SCRIPT_DIR/ensure-docker.sh" >&2
fi

# --- 1./2. already there ----------------------------------------------------
if [ "$REBUILD" -eq 0 ]; then
  if [ -n "${FEEDDOCK_BASE_IMAGE:-}" ]; then
    if image_exists "$FEEDDOCK_BASE_IMAGE"; then
      log "using FEEDDOCK_BASE_IMAGE=$FEEDDOCK_BASE_IMAGE (present locally)"
      use "$FEEDDOCK_BASE_IMAGE"
    fi
    log "FEEDDOCK_BASE_IMAGE=$FEEDDOCK_BASE_IMAGE is not present locally; falling back"
  fi
  if image_exists "$IMAGE"; then
    log "$IMAGE is present locally"
    use "$IMAGE"
  fi
fi

mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/base-image.lock"
flock 9
# A concurrent run may have finished the image while we waited for the lock.
if [ "$REBUILD" -eq 0 ] && image_exists "$IMAGE"; then use "$IMAGE"; fi

# --- 3. python:3.11-slim ------------------------------------------------------
if [ "$REBUILD" -eq 0 ]; then
  if image_exists "$PULL_IMAGE"; then
    log "$PULL_IMAGE is present locally"
    verify "$PULL_IMAGE" && use "$PULL_IMAGE"
    log "$PULL_IMAGE failed verification; building $IMAGE instead"
  elif [ "${FEEDDOCK_SKIP_PULL:-0}" = 1 ]; then
    log "FEEDDOCK_SKIP_PULL=1: not trying docker pull $PULL_IMAGE"
  else
    log "trying docker pull $PULL_IMAGE (timeout ${FEEDDOCK_PULL_TIMEOUT:-20} s)"
    if pull_out=$(timeout "${FEEDDOCK_PULL_TIMEOUT:-20}" docker pull -q "$PULL_IMAGE" 2>&1); then
      verify "$PULL_IMAGE" && use "$PULL_IMAGE"
      log "$PULL_IMAGE failed verification; building $IMAGE instead"
    else
      log "docker pull failed (expected without a registry): $(echo "${pull_out:-timed out}" | tail -n 1 | cut -c1-200)"
      log "building $IMAGE instead"
    fi
  fi
fi

# --- 4. debootstrap + docker import -------------------------------------------
detect_mirror() {
  local files=() f uri
  [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ "${#files[@]}" -gt 0 ] || return 1
  # Pass 1: a "deb" source for suite $SUITE. Pass 2: any non-security "deb" source.
  local pass
  for pass in exact any; do
    for f in "${files[@]}"; do
      case "$f" in
        *.sources) uri=$(awk -v suite="$SUITE" -v pass="$pass" '
            BEGIN { RS = ""; FS = "\n" }
            {
              types = ""; uris = ""; suites = ""; enabled = "yes"
              for (i = 1; i <= NF; i++) {
                line = $i
                if (line ~ /^[ \t]*#/) continue
                n = index(line, ":"); if (n == 0) continue
                key = tolower(substr(line, 1, n - 1)); val = substr(line, n + 1)
                gsub(/[ \t]+/, " ", val)
                if (key == "types") types = val
                else if (key == "uris") uris = val
                else if (key == "suites") suites = val
                else if (key == "enabled") enabled = tolower(val)
              }
              if ((types " ") !~ / deb / || enabled ~ /no/) next
              ok = (pass == "exact") ? ((suites " ") ~ (" " suite " ")) : 1
              if (!ok) next
              m = split(uris, u, " ")
              for (j = 1; j <= m; j++)
                if (u[j] ~ /^https?:\/\// && (pass == "exact" || u[j] !~ /security/)) { print u[j]; exit }
            }' "$f") ;;
        *) uri=$(awk -v suite="$SUITE" -v pass="$pass" '
            $1 != "deb" { next }
            {
              i = 2
              if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
              u = $i; s = $(i + 1)
              if (u !~ /^https?:\/\//) next
              if (pass == "exact" && s != suite) next
              if (pass != "exact" && u ~ /security/) next
              print u; exit
            }' "$f") ;;
      esac
      if [ -n "$uri" ]; then echo "${uri%/}"; return 0; fi
    done
  done
  return 1
}

cleanup_rootfs() {
  local dir=${1:-}
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  # debootstrap mounts proc/sys inside the target; unmount anything left, deepest first.
  awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$dir"
}

if [ "$REBUILD" -eq 1 ] && [ -f "$ROOTFS_TAR" ]; then
  log "--rebuild: removing cached $ROOTFS_TAR"
  rm -f "$ROOTFS_TAR"
fi

if [ -f "$ROOTFS_TAR" ]; then
  log "using cached root filesystem $ROOTFS_TAR (no debootstrap)"
else
  [ "$(id -u)" -eq 0 ] || die "building the base image needs root (debootstrap)"
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    if ! apt-cache policy debootstrap 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
    fi
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
      --no-install-recommends debootstrap debian-archive-keyring ca-certificates >&2
  fi
  MIRROR=${FEEDDOCK_DEBIAN_MIRROR:-}
  if [ -z "$MIRROR" ]; then
    MIRROR=$(detect_mirror) || MIRROR=http://deb.debian.org/debian
  fi
  ROOTFS=$(mktemp -d "$CACHE_DIR/base-rootfs.XXXXXX")
  trap 'cleanup_rootfs "$ROOTFS"; rm -f "$ROOTFS_TAR.tmp"' EXIT
  log "debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates $SUITE $ROOTFS $MIRROR"
  log "(about a minute; log: $DEBOOTSTRAP_LOG)"
  start=$SECONDS
  if ! debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$DEBOOTSTRAP_LOG" 2>&1; then
    tail -n 30 "$DEBOOTSTRAP_LOG" >&2
    [ -f "$ROOTFS/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (mirror $MIRROR); set FEEDDOCK_DEBIAN_MIRROR to another mirror?"
  fi
  log "debootstrap done in $((SECONDS - start)) s"
  [ -x "$ROOTFS/usr/bin/python3" ] || die "no python3 in the new root filesystem"
  # Slim down and drop host-specific files (docker provides its own at run time).
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin \
    "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/* "$ROOTFS"/tmp/* "$ROOTFS"/root/.cache
  mkdir -p "$ROOTFS/var/lib/apt/lists/partial"
  : >"$ROOTFS/etc/resolv.conf"
  : >"$ROOTFS/etc/hostname"
  tar --numeric-owner -C "$ROOTFS" -cf "$ROOTFS_TAR.tmp" .
  mv -f "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  cleanup_rootfs "$ROOTFS"
  trap - EXIT
  log "cached $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1))"
fi

old_id=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
log "docker import $ROOTFS_TAR $IMAGE"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --message "feeddock base: debian $SUITE minbase + python3 python3-venv ca-certificates" \
  "$ROOTFS_TAR" "$IMAGE" >/dev/null
verify "$IMAGE" || die "$IMAGE failed verification"
if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect --format '{{.Id}}' "$IMAGE")" ]; then
  # --rebuild: drop the previous, now untagged image unless something still uses it.
  if docker rmi "$old_id" >/dev/null 2>&1; then log "removed the previous image ${old_id#sha256:}"; fi
fi
log "ready: $IMAGE ($(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
use "$IMAGE"
