"""Supervision: a worker that ends without being asked to is started again, within bounds.

Each connection has one `Supervisor` for its two parts, the provider worker and the broadcast
server. When a part exits unexpectedly (crash, kill -9, OOM kill, an engine restart, a
`docker stop` behind feeddock's back) the supervisor waits a capped exponential backoff with
jitter and calls the part's restart. A part that exits `CRASH_LOOP_RESTARTS` times within
`CRASH_LOOP_SECONDS` is left stopped, `failed`, with its last error. A final refusal (the
provider refused the credentials, the configuration is invalid) is never retried.

`restart_policy="no"` turns all of this off for a connection: a part that dies stays down.

A restart the runtime cannot even attempt (the Docker engine does not answer) is not a crash:
it is retried with the same capped backoff for as long as the engine stays away, without
counting towards the crash loop.

Threads: runtimes report exits from their own threads, often while a caller holds the
client's lock (stopping a worker waits for its exit). So `exited()` only starts a timer; the
decision and the restart happen on the timer's thread, under the caller-supplied lock.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from . import console
from .errors import ParameterError, RuntimeUnavailableError

RestartPolicy = Literal["on-failure", "no"]
Part = Literal["provider", "broadcast"]
BASE_SECONDS = 0.5
CAP_SECONDS = 30.0
CRASH_LOOP_RESTARTS = 5
CRASH_LOOP_SECONDS = 60.0


@dataclass
class Backoff:
    """Delays before restarts: capped exponential with jitter, None once it is a crash loop."""

    # Read when a Backoff is made, so tests (and embedders) can shorten the waits.
    base: float = field(default_factory=lambda: BASE_SECONDS)
    cap: float = field(default_factory=lambda: CAP_SECONDS)
    max_restarts: int = CRASH_LOOP_RESTARTS
    window: float = CRASH_LOOP_SECONDS
    _recent: deque[float] = field(default_factory=deque)

    def next_delay(self, now: float) -> float | None:
        while self._recent and now - self._recent[0] > self.window:
            self._recent.popleft()
        if len(self._recent) >= self.max_restarts:
            return None
        delay = min(self.cap, self.base * 2 ** len(self._recent))
        self._recent.append(now)
        return float(delay * random.uniform(0.5, 1.0))


@dataclass
class PartState:
    backoff: Backoff = field(default_factory=Backoff)
    # Waiting for an engine that does not answer: never gives up.
    engine_wait: Backoff = field(default_factory=lambda: Backoff(max_restarts=1_000_000))
    restarting: bool = False
    failed: str | None = None  # why supervision gave up (or had nothing to retry)
    timer: threading.Timer | None = None


class Supervisor:
    def __init__(self, connection: str, policy: RestartPolicy, lock: threading.RLock) -> None:
        self.connection = connection
        self.policy = policy
        self.restarts = 0
        self._lock = lock
        self._parts: dict[Part, PartState] = {"provider": PartState(), "broadcast": PartState()}
        self._closed = False

    def restarting(self, part: Part) -> bool:
        return self._parts[part].restarting

    def failure(self, part: Part) -> str | None:
        return self._parts[part].failed

    def reset(self, part: Part) -> None:
        """The part was started or stopped on purpose: forget earlier failures."""
        state = self._parts[part]
        state.failed, state.restarting = None, False
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None

    def exited(
        self,
        part: Part,
        *,
        still_current: Callable[[], bool],
        reason: str,
        final: bool,
        restart: Callable[[], None],
    ) -> None:
        """A part ended. Called from a runtime thread: decide and act on a timer thread."""
        state = self._parts[part]
        # Known at once (health "failed" or "restarting"); a stop asked for meanwhile is not
        # current, and neither is an exit after close().
        current = still_current() and not self._closed
        if final or self.policy == "no":
            if current:
                state.restarting, state.failed = False, reason
            return
        state.restarting = current
        decide = threading.Timer(0, self._decide, args=(part, still_current, reason, restart))
        decide.daemon = True
        decide.start()

    def _decide(
        self,
        part: Part,
        still_current: Callable[[], bool],
        reason: str,
        restart: Callable[[], None],
    ) -> None:
        state = self._parts[part]
        with self._lock:
            if self._closed or not still_current():
                state.restarting = False  # stopped or restarted on purpose meanwhile
                return
            delay = state.backoff.next_delay(time.monotonic())
            if delay is None:
                state.restarting = False
                state.failed = (
                    f"gave up after {CRASH_LOOP_RESTARTS} restarts within "
                    f"{CRASH_LOOP_SECONDS:g} s; last error: {reason}"
                )
                console.show(f"feeddock ERROR: {self.connection} {part}: {state.failed}")
                return
            console.show(
                f"feeddock WARNING: {self.connection} {part} stopped unexpectedly ({reason}); "
                f"restarting in {delay:.1f} s"
            )
            state.timer = threading.Timer(delay, self._restart, args=(part, still_current, restart))
            state.timer.daemon = True
            state.timer.start()

    def _restart(
        self, part: Part, still_current: Callable[[], bool], restart: Callable[[], None]
    ) -> None:
        state = self._parts[part]
        with self._lock:
            state.timer = None
            if self._closed or not still_current():
                state.restarting = False
                return
            try:
                restart()
            except RuntimeUnavailableError as exc:  # no engine to restart on: wait for it
                delay = state.engine_wait.next_delay(time.monotonic()) or CAP_SECONDS
                state.timer = threading.Timer(
                    delay, self._restart, args=(part, still_current, restart)
                )
                state.timer.daemon = True
                state.timer.start()
                console.show(f"feeddock WARNING: {self.connection} {part}: {exc}; retrying")
                return
            except ParameterError as exc:  # e.g. a credential kept nowhere: only a person can help
                state.restarting, state.failed = False, str(exc)
                return
            except Exception as exc:  # the restart failed: it counts like another exit
                self.exited(
                    part,
                    still_current=still_current,
                    reason=str(exc),
                    final=False,
                    restart=restart,
                )
                return
            self.restarts += 1
            state.restarting = False
            state.engine_wait = Backoff(max_restarts=1_000_000)

    def close(self) -> None:
        """The connection is going away: cancel every pending restart."""
        self._closed = True
        for part in self._parts:
            self.reset(part)


__all__ = ["Backoff", "RestartPolicy", "Supervisor"]
