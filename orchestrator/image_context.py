"""The build context of the worker images when feeddock was installed from a wheel.

A source checkout builds with scripts/wheelhouse.sh (images.py). An installed package has no
checkout, so the context is put together from what the installation holds:

    <context>/provider_image/Dockerfile    package data of provider_image
    <context>/broadcast_image/Dockerfile   package data of broadcast_image
    <context>/.cache/wheelhouse/
        feeddock-<version>-py3-none-any.whl  the installed version itself, packed again from
                                             its installed files (the RECORD pip wrote)
        <dependencies>.whl                   for the image's CPython 3.11 on Linux x86_64

The dependency wheels are kept in a cache (FEEDDOCK_CACHE_DIR, default
~/.cache/feeddock/wheelhouse): they are looked for there first with no index, so a rebuild is
offline; only what is missing comes from the index (pip's own settings apply, e.g.
PIP_INDEX_URL or PIP_FIND_LINKS). The repacked wheel has fixed timestamps and order, so an
unchanged installation gives the same bytes and Docker's layer cache holds.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Callable, Iterable
from importlib import metadata, resources
from pathlib import Path

from .errors import RuntimeUnavailableError

DISTRIBUTION = "feeddock"
CACHE_ENV = "FEEDDOCK_CACHE_DIR"
WHEELHOUSE = Path(".cache") / "wheelhouse"
IMAGE_TAG = "cpython311-linux-x86_64"
# The earliest time a zip entry can carry: a reproducible archive.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# What pip adds to an installation that is no part of the wheel.
INSTALLER_FILES = frozenset({"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"})
# pip does not expand manylinux_2_36 to older glibc tags: list them (bookworm has glibc 2.36).
PLATFORMS = [f"manylinux_2_{v}_x86_64" for v in range(36, 4, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]

Progress = Callable[[str], None]


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / "wheelhouse"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "feeddock" / "wheelhouse"


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel_files(dist: metadata.Distribution) -> list[tuple[str, Path]]:
    """(name in the wheel, installed path) of every file the wheel had."""
    files = []
    for entry in dist.files or []:
        name = entry.as_posix()
        parts = entry.parts
        if name.startswith("../") or "__pycache__" in parts or name.endswith(".pyc"):
            continue  # console scripts (made by pip from entry_points.txt) and bytecode
        if parts[0].endswith(".dist-info") and parts[-1] in INSTALLER_FILES:
            continue
        files.append((name, Path(str(entry.locate()))))
    return sorted(files)


def _wheel_name(dist: metadata.Distribution) -> str:
    info = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Tag:")]
    if not tags:
        raise RuntimeUnavailableError(f"The installed {DISTRIBUTION} has no WHEEL tags to repack.")
    name = dist.metadata["Name"].replace("-", "_")
    return f"{name}-{dist.version}-{tags[0]}.whl"


def pack_installed(destination: Path) -> Path:
    """The installed feeddock as a wheel again, in `destination`; returns its path."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise RuntimeUnavailableError(f"{DISTRIBUTION} is not installed here.") from None
    files = _wheel_files(dist)
    dist_info = next(
        (name.split("/")[0] for name, _ in files if name.split("/")[0].endswith(".dist-info")),
        None,
    )
    if dist_info is None or not files:
        raise RuntimeUnavailableError(f"The installation of {DISTRIBUTION} lists no files.")
    target = destination / _wheel_name(dist)
    record = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, path in files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise RuntimeUnavailableError(
                    f"The installed {DISTRIBUTION} is incomplete ({name}: {exc.strerror}); "
                    "reinstall it."
                ) from None
            _write(wheel, name, data)
            record.append(f"{name},{_digest(data)},{len(data)}")
        record.append(f"{dist_info}/RECORD,,")
        _write(wheel, f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode())
    return target


def _write(wheel: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    wheel.writestr(info, data)


def _host_tag() -> str:
    version = f"{sys.version_info[0]}{sys.version_info[1]}"
    return f"{sys.implementation.name}{version}-{sysconfig.get_platform()}"


def _pip(arguments: Iterable[str], progress: Progress) -> bool:
    """Run this interpreter's pip; its output goes to `progress`. True when it succeeded."""
    command = [sys.executable, "-m", "pip", *arguments, "--disable-pip-version-check"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip():
            progress(f"[pip] {line.rstrip()}")
    return process.wait() == 0


def gather_dependencies(wheel: Path, cache: Path, progress: Progress) -> None:
    """Wheels of `wheel`'s dependencies for the image, into `cache` (offline first)."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode:
        raise RuntimeUnavailableError(
            f"{sys.executable} has no pip: install pip into this environment to build images."
        )
    if _host_tag() == IMAGE_TAG:  # same interpreter as the image: sdists can be built here
        base = ["wheel", "-q", "-w", str(cache), "--find-links", str(cache), str(wheel)]
    else:  # another interpreter or platform: binary wheels for the image's only
        platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
        base = [
            "download", "-q", "-d", str(cache), "--find-links", str(cache), str(wheel),
            "--only-binary=:all:", *platforms, "--python-version", "3.11",
            "--implementation", "cp", "--abi", "cp311",
        ]  # fmt: skip
    try:
        if _pip([*base, "--no-index"], lambda _line: None):
            progress("[images] dependencies: all in the cache (no index needed)")
            return
        progress(f"[images] dependencies: fetching what {cache} lacks (pip)")
        if not _pip(base, progress):
            raise RuntimeUnavailableError(
                "Gathering the images' dependencies failed (pip, above); check the package "
                "index (PIP_INDEX_URL) or give a wheelhouse with PIP_FIND_LINKS."
            )
    finally:
        # pip wheel also copies feeddock itself there: the cache keeps dependencies only.
        for own in cache.glob(f"{DISTRIBUTION}-*.whl"):
            own.unlink()


def prepare(context: Path, progress: Progress) -> None:
    """Fill `context` with the Dockerfiles and the wheelhouse (see the module docstring)."""
    for role in ("provider", "broadcast"):
        dockerfile = resources.files(f"{role}_image") / "Dockerfile"
        if not dockerfile.is_file():
            raise RuntimeUnavailableError(
                f"The installed {role}_image package has no Dockerfile; reinstall feeddock."
            )
        (context / f"{role}_image").mkdir(parents=True, exist_ok=True)
        (context / f"{role}_image" / "Dockerfile").write_bytes(dockerfile.read_bytes())
    wheelhouse = context / WHEELHOUSE
    wheelhouse.mkdir(parents=True)
    wheel = pack_installed(wheelhouse)
    progress(f"[images] {wheel.name}: packed from the installed files")
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    gather_dependencies(wheel, cache, progress)
    for found in cache.glob("*.whl"):
        shutil.copy2(found, wheelhouse / found.name)
    count = len(list(wheelhouse.glob("*.whl")))
    progress(f"[images] build context: {count} wheels in {wheelhouse}")


__all__ = ["cache_dir", "gather_dependencies", "pack_installed", "prepare"]
