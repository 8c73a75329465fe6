"""Runtimes that start workers: `process` (embedded) and, later, `docker`."""

from __future__ import annotations

import os

from ..errors import ParameterError
from .base import LaunchSpec, Runtime, WorkerHandle
from .process import ProcessRuntime

RUNTIME_ENV = "FEEDDOCK_RUNTIME"
RUNTIME_CHOICES = ("process",)


def select_runtime(name: str | None = None) -> Runtime:
    """The runtime named by `name` or $FEEDDOCK_RUNTIME (default: process)."""
    choice = (name or os.environ.get(RUNTIME_ENV) or "process").strip().lower()
    if choice == "process":
        return ProcessRuntime()
    raise ParameterError(
        f"Unknown runtime {choice!r} in {RUNTIME_ENV}. "
        f"Allowed values: {', '.join(RUNTIME_CHOICES)}.",
        field=RUNTIME_ENV,
        allowed=RUNTIME_CHOICES,
    )


__all__ = ["LaunchSpec", "ProcessRuntime", "Runtime", "WorkerHandle", "select_runtime"]
