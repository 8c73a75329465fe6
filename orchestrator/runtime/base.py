"""The seam between the orchestrator and whatever runs workers.

Everything a backend must do is here, so the orchestrator never probes a runtime for optional
methods. Three implementations: `process` (child processes), `docker` (one container per
worker) and `fake` (in memory, for fast tests of the orchestrator itself).

    runtime.start(spec, sink)        start a worker; its output and its end go to `sink`
    handle.send(line)                one line to the worker's stdin
    handle.state()                   running / exit code / OOM, in one call
    handle.stop(timeout)             SIGTERM, SIGKILL after `timeout`; remove what is left
    handle.release()                 let go of the worker without stopping it
    runtime.list_workers()           workers an earlier orchestrator process left (adoption)
    runtime.attach(worker, sink)     follow such a worker again
    runtime.remove_connection(name)  remove every worker of a connection (kill's sweep)
    runtime.reconfigure(options)     network and limits for workers started from now on

A runtime serves one tenant (`runtime.tenant`): every worker it starts carries the tenant's
label, and `list_workers` and `remove_connection` see that tenant's workers only. Several
runtimes (one per tenant) may share one engine.

Secrets (`LaunchSpec.secrets`) are the runtime's to deliver out of sight: never in argv,
labels, logs or anything an engine shows (`docker inspect`); a runtime that keeps no copy
returns nothing from `secrets`.

Output is pushed: the runtime reads each worker's output however suits it (a thread per pipe,
one multiplexed stream) and calls `sink.on_line` for every line, then `sink.on_exit` exactly
once, after the last line, when the worker has ended. `sink.on_problem` says when the runtime
loses sight of a worker (an engine that stops answering) and when it sees it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ..tenant import DEFAULT_TENANT

Role = Literal["provider", "broadcast"]
ROLES: tuple[Role, ...] = ("provider", "broadcast")
MODULES: dict[Role, str] = {"provider": "provider_image", "broadcast": "broadcast_image"}


def worker_name(tenant: str, connection: str, role: Role) -> str:
    """`feeddock.<tenant>.<connection>-<role>`: unique per tenant, connection and role.

    No two tenants' names can meet: a tenant id has no `.`, so the first `.` after
    `feeddock.` ends it, and the role is a fixed suffix. Names made before tenants existed
    (`feeddock-<connection>-<role>`) start differently, so they cannot meet these either.
    """
    return f"feeddock.{tenant}.{connection}-{role}"


@dataclass(frozen=True)
class RuntimeOptions:
    """Where a tenant's workers run and how big they may be; None: the runtime's default."""

    network: str | None = None  # a Docker network (created when missing) instead of the host's
    memory: str | None = None  # e.g. "256m"
    cpus: float | None = None
    pids: int | None = None


@dataclass(frozen=True)
class LaunchSpec:
    """One worker to start.

    `env` carries the worker's configuration; `secrets` carry credentials and tokens, which a
    runtime delivers without putting them in argv, labels or logs.
    """

    role: Role
    connection: str
    env: dict[str, str]
    # Directory holding the results file; containers bind-mount it at the same path.
    results_dir: str
    labels: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return MODULES[self.role]


@dataclass(frozen=True)
class WorkerState:
    """A worker's state in one snapshot."""

    running: bool
    exit_code: int | None = None
    oom_killed: bool = False
    error: str | None = None  # what the runtime itself reports (e.g. the engine's error)

    def describe(self) -> str | None:
        """Why the worker ended, when it ended badly."""
        if self.running:
            return None
        if self.oom_killed:
            return "the worker ran out of memory and was killed (OOM)"
        if self.error:
            return self.error
        if self.exit_code not in (None, 0):
            return f"worker exited with code {self.exit_code}"
        return None


@dataclass(frozen=True)
class SurvivingWorker:
    """A worker found running (or stopped) that an earlier orchestrator process started."""

    id: str
    name: str
    labels: dict[str, str]
    state: WorkerState


class WorkerSink(Protocol):
    """Receives one worker's output (see the module docstring)."""

    def on_line(self, line: str) -> None: ...

    def on_exit(self, state: WorkerState) -> None: ...

    def on_problem(self, message: str | None) -> None:
        """The runtime cannot see the worker right now (e.g. the engine does not answer), or
        can again (None)."""


class WorkerHandle(Protocol):
    @property
    def id(self) -> int | str:
        """Process id, or container id."""

    def send(self, line: str) -> None:
        """Write one line to the worker's stdin (BrokenPipeError when it cannot)."""

    def state(self) -> WorkerState: ...

    def stop(self, timeout: float) -> WorkerState:
        """Ask the worker to stop (SIGTERM), kill it after `timeout`; returns its final state.

        Returns after the sink has seen `on_exit`, so the worker's last lines are known.
        """

    def release(self) -> None:
        """Stop following the worker and free local resources; the worker keeps running."""


class Runtime(Protocol):
    name: str
    # The tenant whose workers this runtime starts, lists and removes.
    tenant: str
    # True when workers outlive the orchestrator process (Docker): at exit it only releases
    # them, and the next orchestrator re-adopts them.
    survives_exit: bool

    def start(self, spec: LaunchSpec, sink: WorkerSink) -> WorkerHandle: ...

    def list_workers(self) -> Sequence[SurvivingWorker]:
        """This orchestrator instance's surviving workers, running or not."""

    def attach(self, worker: SurvivingWorker, sink: WorkerSink) -> WorkerHandle:
        """Follow a surviving worker; its output from now on goes to `sink`."""

    def history(self, worker: SurvivingWorker) -> list[str]:
        """Every line a surviving worker has printed so far."""

    def secrets(self, worker: SurvivingWorker) -> dict[str, str]:
        """The secrets a surviving worker was started with, where the runtime can tell."""

    def remove_connection(self, connection: str) -> list[str]:
        """Remove every worker left of a connection; returns their names."""

    def reconfigure(self, options: RuntimeOptions) -> None:
        """Use `options` for the workers started from now on (running ones keep theirs)."""

    def close(self) -> None: ...


__all__ = [
    "DEFAULT_TENANT",
    "MODULES",
    "ROLES",
    "LaunchSpec",
    "Role",
    "Runtime",
    "RuntimeOptions",
    "SurvivingWorker",
    "WorkerHandle",
    "WorkerSink",
    "WorkerState",
    "worker_name",
]
