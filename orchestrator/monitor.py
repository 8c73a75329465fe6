"""Follows one worker's output: shows each line to the user and keeps the state it reports."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from contract.status import Level, Status, human_part, parse_line

from . import console
from .runtime import WorkerHandle

# Events after which a worker will not become ready on its own.
FATAL_EVENTS = frozenset({"unauthorized", "fatal", "config_error"})
LEVELS = {Level.ERROR: logging.ERROR, Level.WARNING: logging.WARNING, Level.INFO: logging.INFO}


class WorkerMonitor:
    def __init__(self, handle: WorkerHandle, *, echo: bool = True) -> None:
        self.handle = handle
        self.echo = echo
        self.events: deque[Status] = deque(maxlen=500)
        self.ready = False
        self.exited = False
        self.exit_code: int | None = None
        self.last_error: str | None = None
        self.fatal_event: Status | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._pump, name=f"monitor-{handle.id}", daemon=True)

    def start(self) -> WorkerMonitor:
        self._thread.start()
        return self

    def _pump(self) -> None:
        try:
            for line in self.handle.lines():
                self._on_line(line)
        finally:
            code = self.handle.exit_code()
            with self._cond:
                self.exited = True
                self.exit_code = code
                if code not in (0, None) and self.last_error is None:
                    self.last_error = f"worker exited with code {code}"
                self._cond.notify_all()

    def _on_line(self, line: str) -> None:
        event = parse_line(line)
        if self.echo and line.strip():
            level = LEVELS[event.level] if event is not None else logging.INFO
            console.show(human_part(line), level)
        if event is None:
            return
        with self._cond:
            self.events.append(event)
            kind = event["event"]
            if kind in ("ready", "resubscribed"):
                self.ready = True
            elif kind in FATAL_EVENTS or (kind == "provider_error" and event.get("fatal")):
                self.fatal_event = event
                self.last_error = str(event.get("message"))
            elif kind in ("provider_error", "write_failed", "bad_command"):
                self.last_error = str(event.get("message"))
            self._cond.notify_all()

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

    def find(self, predicate: Callable[[Status], bool]) -> Status | None:
        matches: list[Status] = [e for e in reversed(self.events) if predicate(e)]
        return matches[0] if matches else None

    def wait_event(self, predicate: Callable[[Status], bool], timeout: float) -> Status | None:
        found: list[Status] = []

        def check() -> bool:
            event = self.find(predicate)
            if event is not None:
                found.append(event)
                return True
            return self.exited

        self.wait_for(check, timeout)
        return found[0] if found else None

    def last_message(self, *kinds: str) -> str | None:
        event = self.find(lambda e: e["event"] in kinds)
        return None if event is None else str(event.get("message"))

    def join(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)
