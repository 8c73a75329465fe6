"""Runtimes that start workers: `docker` (one container each), `swarm` (one service each) and
`process` (embedded).

FEEDDOCK_RUNTIME picks one:
  - `docker`: always Docker; an engine that does not answer is an error.
  - `swarm`: Docker Swarm services (runtime/swarm/, configured by FEEDDOCK_SWARM_CONFIG); the
    manager must answer. Never chosen by `auto`.
  - `process`: child processes of the orchestrator.
  - `auto` (the default): Docker when an engine answers and has the feeddock images, else
    processes. The choice, and why, is shown once per orchestrator process.
The Docker and Swarm runtimes are imported lazily: `docker` is only needed when one is chosen.

Every runtime serves one tenant (`tenant`, default FEEDDOCK_TENANT) with `RuntimeOptions`
(a network and container limits, for the Docker and Swarm runtimes).
"""

from __future__ import annotations

import os
import threading

from .. import console
from ..errors import ParameterError, RuntimeUnavailableError
from ..tenant import tenant_from_env
from .base import (
    LaunchSpec,
    Role,
    Runtime,
    RuntimeOptions,
    SurvivingWorker,
    WorkerHandle,
    WorkerSink,
    WorkerState,
)
from .process import ProcessRuntime

RUNTIME_ENV = "FEEDDOCK_RUNTIME"
RUNTIME_CHOICES = ("auto", "docker", "process", "swarm")

_announced = threading.Event()


def _announce(message: str) -> None:
    if not _announced.is_set():
        _announced.set()
        console.show(message)


def _docker(tenant: str, options: RuntimeOptions) -> Runtime:
    from .docker import DockerRuntime

    runtime = DockerRuntime(tenant=tenant)
    runtime.reconfigure(options)
    runtime.connect()  # fail early with RuntimeUnavailableError
    return runtime


def _swarm(tenant: str, options: RuntimeOptions) -> Runtime:
    from .swarm import SwarmRuntime

    runtime = SwarmRuntime(tenant=tenant)
    runtime.reconfigure(options)
    runtime.connect()  # fail early: no manager answers, or it is not a manager
    return runtime


def _auto(tenant: str, options: RuntimeOptions) -> Runtime:
    try:
        from .docker import BUILD_COMMAND, DockerRuntime, engine_answers
    except ImportError as exc:  # docker-py not installed
        _announce(f"feeddock runtime: process (the docker package is missing: {exc})")
        return ProcessRuntime(tenant)
    problem = engine_answers()
    if problem is not None:
        _announce("feeddock runtime: process (no Docker engine answers)")
        return ProcessRuntime(tenant)
    runtime = DockerRuntime(tenant=tenant)
    runtime.reconfigure(options)
    try:
        missing = runtime.missing_images()
    except RuntimeUnavailableError as exc:
        _announce(f"feeddock runtime: process ({exc})")
        return ProcessRuntime(tenant)
    if missing:
        runtime.close()
        _announce(
            f"feeddock runtime: process (Docker answers but {', '.join(missing)} "
            f"is missing; build with `{BUILD_COMMAND}`)"
        )
        return ProcessRuntime(tenant)
    _announce(
        f"feeddock runtime: docker (engine {runtime.engine.version()}, "
        f"instance {runtime.instance!r})"
    )
    return runtime


def select_runtime(
    name: str | None = None, *, tenant: str | None = None, options: RuntimeOptions | None = None
) -> Runtime:
    """The runtime named by `name` or $FEEDDOCK_RUNTIME (default: auto), for one tenant."""
    choice = (name or os.environ.get(RUNTIME_ENV) or "auto").strip().lower()
    tenant = tenant or tenant_from_env()
    options = options or RuntimeOptions()
    if choice == "process":
        return ProcessRuntime(tenant)
    if choice == "docker":
        return _docker(tenant, options)
    if choice == "swarm":
        return _swarm(tenant, options)
    if choice == "auto":
        return _auto(tenant, options)
    raise ParameterError(
        f"Unknown runtime {choice!r} in {RUNTIME_ENV}. "
        f"Allowed values: {', '.join(RUNTIME_CHOICES)}.",
        field=RUNTIME_ENV,
        allowed=RUNTIME_CHOICES,
    )


__all__ = [
    "RUNTIME_CHOICES",
    "RUNTIME_ENV",
    "LaunchSpec",
    "ProcessRuntime",
    "Role",
    "Runtime",
    "RuntimeOptions",
    "SurvivingWorker",
    "WorkerHandle",
    "WorkerSink",
    "WorkerState",
    "select_runtime",
]
