"""The provider worker of one connection, seen from the orchestrator: start, command, stop."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from contract.commands import Action, encode_command
from contract.status import Status

from .errors import ResultsInUseError, UnauthorizedError, WorkerError
from .monitor import WorkerMonitor
from .runtime import LaunchSpec, Runtime, SurvivingWorker, WorkerHandle, WorkerState

ACK_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
# A worker that never connected gives up after this many failed attempts (a closed port, a
# host that does not answer) instead of retrying until the connect timeout.
FAILED_CONNECTS_BEFORE_READY = 2
_command_ids = itertools.count(1)
# Status events that carry what a connect attempt met (HTTP status, refusal, ...).
CONNECT_EVENTS = frozenset({"reconnecting", "fatal"})


class ProviderWorker:
    def __init__(self, handle: WorkerHandle, monitor: WorkerMonitor, connection: str) -> None:
        self.handle = handle
        self.monitor = monitor
        self.connection = connection

    @classmethod
    def start(
        cls,
        runtime: Runtime,
        spec: LaunchSpec,
        *,
        provider: str,
        timeout: float,
        describe_failures: bool = True,
    ) -> ProviderWorker:
        """Start the worker; return once it streams, or stop it and raise why it cannot.

        `describe_failures=False` gives one generic reason for a failed connect, without what
        the target answered (for servers that must not reveal what a caller's `url` hides).
        """
        monitor = WorkerMonitor()
        handle = runtime.start(spec, monitor)
        worker = cls(handle, monitor, spec.connection)

        def failed_connects() -> int:
            return sum(1 for s in monitor.events if s.event == "reconnecting")

        def settled() -> bool:
            return (
                monitor.ready
                or monitor.exited
                or monitor.fatal_event is not None
                or failed_connects() >= FAILED_CONNECTS_BEFORE_READY
            )

        monitor.wait_for(settled, timeout)
        if monitor.ready and monitor.fatal_event is None:
            return worker
        reason = monitor.last_error or monitor.last_message(
            "reconnecting", "disconnected", "provider_error"
        )
        if not describe_failures and monitor.find(lambda s: s.event in CONNECT_EVENTS):
            reason = "could not open a WebSocket connection to its url"
        state = handle.stop(STOP_TIMEOUT_SECONDS)
        fatal = monitor.fatal_event
        if fatal is not None and fatal.event == "unauthorized":
            raise UnauthorizedError(
                f"{provider} refused the credentials for {spec.connection!r}: {fatal.message}"
            )
        if fatal is not None and fatal.event == "results_in_use":  # the worker's own lock
            raise ResultsInUseError(fatal.message)
        if failed_connects() >= FAILED_CONNECTS_BEFORE_READY:
            raise WorkerError(
                f"Connection {spec.connection!r} could not connect "
                f"({FAILED_CONNECTS_BEFORE_READY} attempts): {reason}"
            )
        if not monitor.exited or state.exit_code in (0, None):
            raise WorkerError(
                f"Connection {spec.connection!r} was not ready within {timeout:g} s"
                + (f": {reason}" if reason else ".")
            )
        reason = reason or "the worker stopped before it was ready"
        raise WorkerError(f"Connection {spec.connection!r} failed: {reason}")

    @classmethod
    def adopt(cls, runtime: Runtime, worker: SurvivingWorker, connection: str) -> ProviderWorker:
        """Follow a running worker another orchestrator process started."""
        monitor = WorkerMonitor()
        monitor.ready = True
        handle = runtime.attach(worker, monitor)
        return cls(handle, monitor, connection)

    @property
    def id(self) -> int | str:
        return self.handle.id

    @property
    def is_running(self) -> bool:
        return not self.monitor.exited

    @property
    def last_error(self) -> str | None:
        return self.monitor.last_error

    def change(self, action: Action, symbols: Sequence[str]) -> Status:
        """Send a subscription change; return the worker's acknowledgement."""
        command_id = f"{next(_command_ids)}"
        try:
            self.handle.send(encode_command(action, symbols, command_id))
        except BrokenPipeError as exc:
            raise WorkerError(
                f"Connection {self.connection!r} cannot take the {action}: {exc}"
            ) from None
        ack = self.monitor.wait_event(lambda s: s.get("id") == command_id, ACK_TIMEOUT_SECONDS)
        if ack is None:
            raise WorkerError(
                f"Connection {self.connection!r} did not acknowledge the {action} of "
                f"{','.join(symbols)}: {self.monitor.last_error or 'no answer'}"
            )
        return ack

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> WorkerState:
        return self.handle.stop(timeout)

    def release(self) -> None:
        self.handle.release()


__all__ = ["ProviderWorker"]
