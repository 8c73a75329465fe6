"""The seam between the orchestrator and whatever runs workers (processes, Docker)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["provider", "broadcast"]
MODULES: dict[Role, str] = {"provider": "provider_image", "broadcast": "broadcast_image"}


@dataclass(frozen=True)
class LaunchSpec:
    """One worker to start. `env` carries the config and any secret; nothing goes in argv."""

    role: Role
    connection: str
    env: dict[str, str]
    # Directory holding the results file; containers bind-mount it at the same path.
    results_dir: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return MODULES[self.role]


class WorkerHandle(Protocol):
    """A running (or finished) worker."""

    @property
    def id(self) -> int | str:
        """Process id, or container id."""

    def lines(self) -> Iterator[str]:
        """The worker's output lines until it exits (called once, from one thread)."""

    def send(self, line: str) -> None:
        """Write one line to the worker's stdin."""

    def is_running(self) -> bool: ...

    def exit_code(self) -> int | None: ...

    def stop(self, timeout: float) -> int | None:
        """Ask the worker to stop (SIGTERM), kill it after `timeout`; return its exit code."""


class Runtime(Protocol):
    name: str

    def start(self, spec: LaunchSpec) -> WorkerHandle: ...

    def close(self) -> None: ...
