"""A provider worker run through its own contract: config in the environment, status lines out.

This is the door the orchestrator's process runtime uses (`python -m provider_image`), kept
here so a test can read every status line the worker prints, its counters included.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from contract.config import WorkerConfig
from contract.status import Status, parse_line


class WorkerProcess:
    def __init__(self, results_file: str, url: str, **config: Any) -> None:
        params = {"name": "faults", "symbol": "aapl", "url": url, **config.pop("params", {})}
        settings = WorkerConfig(
            provider="demo", params=params, results_file=results_file, limit=None, **config
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "provider_image"],
            env={**os.environ, **settings.environment(), "FEEDDOCK_API_KEY": "key"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.statuses: list[Status] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            status = parse_line(line)
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                if status is not None:
                    self.statuses.append(status)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, check: Callable[[list[Status]], bool], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not check(self.statuses):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    tail = "\n".join(self.lines[-15:])
                    raise AssertionError(f"worker condition not met in {timeout} s:\n{tail}")
                self._changed.wait(remaining)

    def wait_event(self, event: str, timeout: float = 15, **fields: Any) -> Status:
        def match(status: Status) -> bool:
            return status.event == event and all(status.get(k) == v for k, v in fields.items())

        self.wait_for(lambda statuses: any(match(s) for s in statuses), timeout)
        return next(s for s in reversed(self.statuses) if match(s))

    def events(self, event: str) -> list[Status]:
        with self._changed:
            return [s for s in self.statuses if s.event == event]

    def last(self, event: str) -> Status | None:
        found = self.events(event)
        return found[-1] if found else None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._reader.join(5)

    def stop(self, timeout: float = 15) -> Status:
        """SIGTERM; returns the final `stopped` line."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout)
        self._reader.join(5)
        stopped = self.last("stopped")
        assert stopped is not None, "\n".join(self.lines[-15:])
        return stopped

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdin is not None:
            self.process.stdin.close()
