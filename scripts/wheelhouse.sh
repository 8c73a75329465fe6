#!/usr/bin/env bash
# Usage: scripts/wheelhouse.sh [-o OUT_DIR] [PROJECT_DIR]
#
# Build a wheelhouse for offline installs inside the images:
#   OUT_DIR (default: PROJECT_DIR/.cache/wheelhouse) gets
#     - the wheel of the project itself (pip wheel --no-deps, built from a
#       clean copy of PROJECT_DIR without .git/.venv/.cache/build/*.egg-info),
#       replacing older wheels of the same project, and
#     - wheels of all its runtime dependencies (no extras),
#   for the base image's platform: Debian bookworm, CPython 3.11, x86_64.
# PROJECT_DIR defaults to the repository root.
#
# Cache-friendly: the dependencies are first resolved offline against the
# wheels already in OUT_DIR (pip --no-index --find-links OUT_DIR); only if
# something is missing does pip go to the index, and then it still takes
# what OUT_DIR already has instead of downloading it again.
#
# Python: $FEEDDOCK_PYTHON, else PROJECT_DIR/.venv/bin/python, else
# <repo>/.venv/bin/python, else python3. If that python is CPython 3.11 on
# linux x86_64, dependencies go through `pip wheel` (sdists get built here,
# on bookworm's glibc); otherwise binary wheels only, via `pip download
# --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311
# --platform manylinux_2_36_x86_64 ... --platform manylinux1_x86_64`.
#
# Use it in a Dockerfile (the wheelhouse must be inside the build context):
#   COPY .cache/wheelhouse /tmp/wheelhouse
#   RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-index \
#       --find-links /tmp/wheelhouse feeddock && rm -rf /tmp/wheelhouse
#
# The last line of stdout is the wheelhouse folder; progress goes to stderr,
# prefixed "[wheelhouse] ".
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
log() { echo "[wheelhouse] $*" >&2; }
die() { echo "[wheelhouse] ERROR: $*" >&2; exit 1; }

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROJECT=""
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    -o | --out) [ $# -ge 2 ] || die "$1 needs a folder"; OUT=$2; shift 2 ;;
    -*) usage >&2; exit 2 ;;
    *) [ -z "$PROJECT" ] || { usage >&2; exit 2; }; PROJECT=$1; shift ;;
  esac
done
PROJECT=$(cd "${PROJECT:-$REPO_ROOT}" && pwd) || die "no such project folder"
[ -f "$PROJECT/pyproject.toml" ] || [ -f "$PROJECT/setup.py" ] ||
  die "$PROJECT has no pyproject.toml or setup.py"
OUT=${OUT:-$PROJECT/.cache/wheelhouse}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ -n "${FEEDDOCK_PYTHON:-}" ]; then PY=$FEEDDOCK_PYTHON
elif [ -x "$PROJECT/.venv/bin/python" ]; then PY=$PROJECT/.venv/bin/python
elif [ -x "$REPO_ROOT/.venv/bin/python" ]; then PY=$REPO_ROOT/.venv/bin/python
else PY=python3
fi
"$PY" -m pip --version >/dev/null 2>&1 || die "$PY has no pip"
host_tag=$("$PY" -c 'import sys, sysconfig; print(f"{sys.implementation.name}{sys.version_info[0]}{sys.version_info[1]}-{sysconfig.get_platform()}")')
log "python: $PY ($host_tag); project: $PROJECT; wheelhouse: $OUT"

# One run per wheelhouse at a time.
exec 9>"${OUT%/}.lock"
flock 9

# --- the project's own wheel ---------------------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
# Build from a clean copy: setuptools' in-tree build/ and *.egg-info would
# otherwise be written into the project (and a stale build/lib can put
# deleted modules into the wheel).
mkdir -p "$tmp/src"
tar -C "$PROJECT" --exclude=./.git --exclude=./.venv --exclude=./.cache \
  --exclude=./build --exclude=./dist --exclude='*.egg-info' --exclude=__pycache__ \
  --exclude=.mypy_cache --exclude=.ruff_cache --exclude=.pytest_cache --exclude=.hypothesis \
  -cf - . | tar -C "$tmp/src" -xf -
log "pip wheel --no-deps $PROJECT (from a clean copy)"
"$PY" -m pip wheel --no-deps --disable-pip-version-check -q -w "$tmp" "$tmp/src" >&2 ||
  die "building the project's wheel failed"
shopt -s nullglob
built=("$tmp"/*.whl)
[ "${#built[@]}" -eq 1 ] || die "expected one wheel in $tmp, got ${#built[@]}"
whl=$(basename "${built[0]}")
dist=${whl%%-*}
for old in "$OUT/$dist"-*.whl; do
  [ "$(basename "$old")" = "$whl" ] || { log "removing older $(basename "$old")"; rm -f "$old"; }
done
mv -f "${built[0]}" "$OUT/$whl"
log "built $whl in $((SECONDS - start)) s"

# --- runtime dependencies --------------------------------------------------------
# Resolve from the built wheel (not the source tree): no build step needed, so
# the offline attempt works without the build backend in the wheelhouse.
# pip does not expand --platform manylinux_2_36 to older glibc tags: list them
# all (bookworm has glibc 2.36).
platforms=()
for v in $(seq 36 -1 5); do platforms+=(--platform "manylinux_2_${v}_x86_64"); done
platforms+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
resolve() { # $1 = destination folder, then extra pip options
  local dest=$1
  shift
  if [ "$host_tag" = cpython311-linux-x86_64 ]; then
    "$PY" -m pip wheel "$@" --find-links "$OUT" --disable-pip-version-check -q \
      -w "$dest" "$OUT/$whl"
  else
    "$PY" -m pip download --only-binary=:all: "${platforms[@]}" \
      --python-version 3.11 --implementation cp --abi cp311 \
      "$@" --find-links "$OUT" --disable-pip-version-check -q -d "$dest" "$OUT/$whl"
  fi
}
[ "$host_tag" = cpython311-linux-x86_64 ] ||
  log "host is $host_tag, not cpython311-linux-x86_64: binary wheels only, for the image's platform"
start=$SECONDS
if resolve "$tmp/offline" --no-index >/dev/null 2>&1; then
  log "all dependencies already in the wheelhouse (offline check, $((SECONDS - start)) s)"
else
  log "fetching missing dependencies from the index (wheels already here are reused)"
  resolve "$tmp/deps" >&2 || die "fetching the dependencies failed"
  n=0
  for f in "$tmp/deps"/*.whl; do
    [ "$(basename "$f")" = "$whl" ] && continue
    if [ ! -e "$OUT/$(basename "$f")" ]; then mv "$f" "$OUT/"; n=$((n + 1)); fi
  done
  log "added $n wheel(s) in $((SECONDS - start)) s"
  # Prove the wheelhouse is now complete on its own.
  resolve "$tmp/check" --no-index >/dev/null || die "the wheelhouse is still incomplete"
fi
log "$(find "$OUT" -maxdepth 1 -name '*.whl' | wc -l) wheels, $(du -sh "$OUT" | cut -f1) in $OUT"
echo "$OUT"
