"""Build the two worker images (`feeddock images build`), offline, with progress.

From a source checkout (an editable install included):

    scripts/wheelhouse.sh  -> .cache/wheelhouse   the feeddock wheel and its dependencies
    scripts/base-image.sh  -> BASE_IMAGE          python:3.11-slim, or a local debootstrap image
    docker build --network host -f provider_image/Dockerfile  -> feeddock-provider:latest
    docker build --network host -f broadcast_image/Dockerfile -> feeddock-broadcast:latest

The wheel is built with a fixed SOURCE_DATE_EPOCH, so an unchanged tree gives a byte-identical
wheel and Docker's layer cache makes a repeated build take seconds.

From an installed wheel (no checkout): the Dockerfiles are package data, and the installed
version itself is packed into the image's wheelhouse (image_context.py); the base image is
`--base-image`, $FEEDDOCK_BASE_IMAGE or python:3.11-slim. Both Dockerfiles share their install
layers: the second image costs almost nothing.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from . import image_context
from .errors import ParameterError, RuntimeUnavailableError
from .runtime.base import Role

ROLES: tuple[Role, ...] = ("provider", "broadcast")
DEFAULT_BASE_IMAGE = "python:3.11-slim"
BASE_IMAGE_ENV = "FEEDDOCK_BASE_IMAGE"
# 1980-01-01, the earliest time a zip file can hold: a reproducible wheel.
SOURCE_DATE_EPOCH = "315532800"

Progress = Callable[[str], None]


def source_checkout() -> Path | None:
    """The source checkout this orchestrator runs from, or None for an installed wheel."""
    root = Path(__file__).resolve().parent.parent
    needed = [root / "pyproject.toml", root / "scripts" / "wheelhouse.sh"]
    needed += [root / f"{role}_image" / "Dockerfile" for role in ROLES]
    return root if all(path.is_file() for path in needed) else None


def _run_script(root: Path, script: str, progress: Progress) -> str:
    """Run scripts/<script>, forwarding its progress; returns the last line of its stdout."""
    env = {
        **os.environ,
        "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH),
    }
    process = subprocess.Popen(
        [str(root / "scripts" / script)],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    errors: list[str] = []
    for line in process.stderr:  # the scripts log to stderr, "[name] ..." lines
        line = line.rstrip()
        errors.append(line)
        if line.startswith("["):
            progress(line)
    stdout = process.stdout.read()
    if process.wait() != 0:
        tail = "\n".join(errors[-10:])
        raise RuntimeUnavailableError(f"scripts/{script} failed ({process.returncode}):\n{tail}")
    lines = stdout.strip().splitlines()
    return lines[-1] if lines else ""


def base_image(root: Path, explicit: str | None, progress: Progress) -> str:
    """`explicit`, else $FEEDDOCK_BASE_IMAGE, else what scripts/base-image.sh provides."""
    if explicit:
        return explicit
    if os.environ.get(BASE_IMAGE_ENV):
        return os.environ[BASE_IMAGE_ENV]
    if (root / "scripts" / "base-image.sh").is_file():
        return _run_script(root, "base-image.sh", progress) or DEFAULT_BASE_IMAGE
    return DEFAULT_BASE_IMAGE


def build(
    roles: Sequence[str] = ROLES,
    *,
    base: str | None = None,
    tag: str | None = None,
    progress: Progress = print,
) -> list[str]:
    """Build the images for `roles`; returns the references built.

    `tag` replaces the tag part of the configured names (feeddock-provider:<tag>).
    """
    from .runtime.docker import DockerRuntime

    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ParameterError(
            f"Unknown image {', '.join(unknown)}. Allowed values: {', '.join(ROLES)}.",
            field="role",
            allowed=ROLES,
        )
    root = source_checkout()
    runtime = DockerRuntime()
    scratch = tempfile.TemporaryDirectory(prefix="feeddock-images-")
    try:
        runtime.connect()  # fail early when no engine answers
        if root is not None:
            progress("[images] building the wheelhouse (scripts/wheelhouse.sh)")
            _run_script(root, "wheelhouse.sh", progress)
            chosen = base_image(root, base, progress)
        else:
            progress("[images] no source checkout: building from the installed feeddock")
            root = Path(scratch.name)
            image_context.prepare(root, progress)
            chosen = base or os.environ.get(BASE_IMAGE_ENV) or DEFAULT_BASE_IMAGE
        progress(f"[images] base image: {chosen}")
        built = []
        for role in ROLES:
            if role not in roles:
                continue
            reference = runtime.images[role]
            if tag:
                reference = f"{reference.rsplit(':', 1)[0]}:{tag}"
            progress(f"[images] docker build -t {reference} -f {role}_image/Dockerfile .")
            previous = runtime.engine.image_id(reference)
            for line in runtime.engine.build_image(
                str(root), f"{role}_image/Dockerfile", reference, {"BASE_IMAGE": chosen}
            ):
                progress(f"[{role}] {line}")
            built.append(reference)
            if previous and previous != runtime.engine.image_id(reference):
                # The old image lost its tag; drop it unless a container still uses it.
                with contextlib.suppress(RuntimeUnavailableError):
                    if runtime.engine.remove_image(previous):
                        progress(f"[images] removed the previous {reference} ({previous[7:19]})")
        return built
    finally:
        runtime.close()
        scratch.cleanup()


__all__ = ["ROLES", "base_image", "build", "source_checkout"]
