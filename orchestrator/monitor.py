"""Follows one worker's output: shows each line to the user and keeps the state it reports.

A `WorkerMonitor` is the sink a runtime pushes a worker's lines into (runtime/base.py). It
owns no thread: callers wait on it (`wait_for`, `wait_event`) while the runtime feeds it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from contract.status import Level, Status, human_part, parse_line

from . import console
from .logtail import LogTail
from .runtime import WorkerState
from .stats import StatsHistory, unsaved_note

# Events after which a worker will not become ready on its own.
FATAL_EVENTS = frozenset({"unauthorized", "fatal", "config_error", "results_in_use"})
ERROR_EVENTS = frozenset({"provider_error", "write_failed", "bad_command"})
READY_EVENTS = frozenset({"ready", "resubscribed"})
# Health: what a status event says is wrong now, and what says it is right again.
PROBLEM_OF = {
    "write_failed": "storage",
    "disconnected": "connection",
    "reconnecting": "connection",
    "provider_error": "provider",
    "read_failed": "storage",
}
CLEARS = {
    "write_recovered": ("storage",),
    "ready": ("connection", "provider"),
    "resubscribed": ("connection", "provider"),
    "listening": ("storage",),
}
# A provider's error notice (a refused symbol, a rate limit) keeps the connection degraded
# this long unless the worker reports recovery first.
PROVIDER_ERROR_SECONDS = 60.0
# Periodic counters (stats.py): kept for metrics, not shown to the user every few seconds.
STATS_EVENT = "stats"
# The worker's last line on a clean stop, with its final counters (nothing unreported is lost).
STOPPED_EVENT = "stopped"
LOG_LEVELS = {Level.ERROR: logging.ERROR, Level.WARNING: logging.WARNING, Level.INFO: logging.INFO}
HISTORY = 500

ExitListener = Callable[[WorkerState], None]


class WorkerMonitor:
    def __init__(self, *, echo: bool = True) -> None:
        self.echo = echo
        self.events: deque[Status] = deque(maxlen=HISTORY)
        self.ready = False
        self.exited = False
        self.final_state: WorkerState | None = None
        self.last_error: str | None = None
        self.fatal_event: Status | None = None
        self.stopped_cleanly = False
        # kind -> (message, when): what is wrong right now (see PROBLEM_OF and CLEARS).
        self._problems: dict[str, tuple[str, float]] = {}
        self.stats = StatsHistory()
        self.log = LogTail()
        self._cond = threading.Condition()
        self._exit_listeners: list[ExitListener] = []

    # -- the sink ---------------------------------------------------------------------------

    def on_line(self, line: str) -> None:
        self.log.add(line)
        status = parse_line(line)
        if status is not None and status.event == STATS_EVENT:
            self.stats.add(status.data)
            return
        if self.echo and line.strip():
            level = LOG_LEVELS[status.level] if status is not None else logging.INFO
            console.show(human_part(line), level)
        if status is None:
            return
        with self._cond:
            self.events.append(status)
            if status.event in READY_EVENTS:
                self.ready = True
            elif status.event == STOPPED_EVENT:
                self.stopped_cleanly = True
            elif status.event in FATAL_EVENTS or (
                status.event == "provider_error" and status.get("fatal")
            ):
                self.fatal_event = status
                self.last_error = status.message
            elif status.event in ERROR_EVENTS:
                self.last_error = status.message
            for cleared in CLEARS.get(status.event, ()):
                self._problems.pop(cleared, None)
            problem = PROBLEM_OF.get(status.event)
            if problem is not None:
                self._problems[problem] = (status.message, time.monotonic())
            self._cond.notify_all()

    def on_exit(self, state: WorkerState) -> None:
        with self._cond:
            if self.exited:
                return
            self.exited = True
            self.final_state = state
            if self.last_error is None or state.oom_killed:
                self.last_error = state.describe()
            unsaved = None if self.stopped_cleanly else unsaved_note(self.stats)
            if unsaved is not None and state.describe() is not None:
                self.last_error = f"{self.last_error}; {unsaved}"
            listeners = list(self._exit_listeners)
            self._cond.notify_all()
        for listener in listeners:
            listener(state)

    def on_problem(self, message: str | None) -> None:
        with self._cond:
            if message is None:
                self._problems.pop("runtime", None)
            else:
                self._problems["runtime"] = (message, time.monotonic())

    def problems(self) -> list[str]:
        """What the worker (or the runtime) says is wrong right now, oldest first."""
        now = time.monotonic()
        with self._cond:
            current = [
                (when, message)
                for kind, (message, when) in self._problems.items()
                if kind != "provider" or now - when < PROVIDER_ERROR_SECONDS
            ]
        return [message for _, message in sorted(current)]

    def add_exit_listener(self, listener: ExitListener) -> None:
        self._exit_listeners.append(listener)

    # -- waiting ----------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until `predicate()` (checked under the monitor's lock) or the timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_ready(self, timeout: float) -> bool:
        return self.wait_for(
            lambda: self.ready or self.exited or self.fatal_event is not None, timeout
        )

    def wait_exited(self, timeout: float) -> bool:
        return self.wait_for(lambda: self.exited, timeout)

    def find(self, predicate: Callable[[Status], bool]) -> Status | None:
        with self._cond:
            for status in reversed(self.events):
                if predicate(status):
                    return status
        return None

    def wait_event(self, predicate: Callable[[Status], bool], timeout: float) -> Status | None:
        """The newest status matching `predicate`, waiting for one; None if the worker ends."""
        found: list[Status] = []

        def check() -> bool:
            for status in reversed(self.events):
                if predicate(status):
                    found.append(status)
                    return True
            return self.exited

        self.wait_for(check, timeout)
        return found[0] if found else None

    def last_message(self, *kinds: str) -> str | None:
        status = self.find(lambda s: s.event in kinds)
        return None if status is None else status.message

    def latest_symbols(self) -> list[str] | None:
        """The subscriptions the worker last reported (every ack and ready line has them)."""
        status = self.find(lambda s: isinstance(s.get("symbols"), str))
        if status is None:
            return None
        return [s for s in str(status.get("symbols")).split(",") if s]


__all__ = ["FATAL_EVENTS", "WorkerMonitor"]
