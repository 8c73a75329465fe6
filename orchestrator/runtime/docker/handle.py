"""One container started (or adopted) by a Docker-engine runtime, followed without a thread.

    output    one attach connection per container carries its stdout and stderr (and takes
              its stdin); the engine's stream mux (streams.py) pushes each line to the sink
    death     the engine's event watcher (events.py) reports `die`; the end of the attach
              stream is checked with one `inspect`. The sink hears `on_exit` exactly once,
              when both the death and the end of the output are known, so after the last line
    outages   the watcher reports an engine that went away (`on_problem`) and, when it is
              back, each container's state: a stopped one exits, a running one is attached again
    send()    writes a line to the attach connection (re-attaching once if it broke)
    secrets   `hand_secrets()` writes the secrets line as the first bytes on that connection,
              before the runtime hands the handle to anyone (so no command can come first)
    stop()    docker stop (SIGTERM; the worker flushes and exits 0), waits until the sink has
              the container's last lines, then removes the container

Re-attaching to a container that kept running (an engine restart with live-restore, a broken
TCP connection) loses what it printed in between unless recovered: its last log lines are
read and merged with what was delivered (resume.py), and the new stream's first lines wait
until then, so the sink sees every line once and in order.

Engine calls run on the caller's thread or on the engine's few call threads, never on the mux
or watcher threads.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from docker.errors import NotFound

from contract.commands import encode_secrets

from ...errors import RuntimeUnavailableError
from ..base import WorkerSink, WorkerState
from .endpoint import AttachRefused
from .engine import ENGINE_ERRORS, Engine
from .events import EventWatcher
from .resume import after_seen, not_yet_seen
from .streams import AttachStream

# How long the end of the output may lag behind the container's death, and how long stop()
# waits for the last lines before it removes the container anyway.
DRAIN_SECONDS = 5.0
# Lines kept to match a re-attached stream against the log; lines read back from the log.
TAIL_LINES = 64
RECOVER_LINES = 1000
# What attaching (or writing to an attach connection) can raise.
ATTACH_ERRORS: tuple[type[Exception], ...] = (OSError, AttachRefused, *ENGINE_ERRORS)


def state_of(details: dict[str, Any]) -> WorkerState:
    """A WorkerState from `docker inspect`'s State object."""
    running = bool(details.get("Running"))
    return WorkerState(
        running=running,
        exit_code=None if running else int(details.get("ExitCode", 0)),
        oom_killed=bool(details.get("OOMKilled")),
        error=details.get("Error") or None,
    )


GONE = WorkerState(running=False, error="the container was removed")


class DockerHandle:
    """Follows one container (see the module docstring). `open()` before the container starts
    catches every line it prints."""

    def __init__(
        self,
        engine: Engine,
        watcher: EventWatcher,
        container_id: str,
        name: str,
        sink: WorkerSink,
        *,
        remove: Callable[[str], None],
    ) -> None:
        self._engine = engine
        self._watcher = watcher
        self._id = container_id
        self.name = name
        self._sink = sink
        self._remove = remove
        # The stream and the death below; may be held across engine calls, so the mux and
        # watcher threads never take it (they hand work to the engine's call threads).
        self._lock = threading.RLock()
        # Never held across an engine call: lines reach the sink one at a time, in order.
        self._quick = threading.Lock()
        self._stream: AttachStream | None = None
        self._generation = 0  # of the current stream; lines of an older one are dropped
        self._holding: list[str] | None = None  # a new stream's lines, while recovering a gap
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._dead: WorkerState | None = None
        self._drain: threading.Timer | None = None
        self._lost = False
        self._released = False
        self._exited = threading.Event()
        self._final: WorkerState | None = None
        self._written = False  # anything on stdin yet: the secrets line must be first

    @property
    def id(self) -> str:
        return self._id

    # -- following --------------------------------------------------------------------------

    def open(self, *, adopted: bool = False, catch_up: bool = False) -> None:
        """Watch the container's death and attach to its output.

        `adopted`: a container an earlier orchestrator started. Its last lines are read first,
        so that a later re-attach knows what it printed before this handle existed; and since
        it may have stopped before the watch began, its state is checked once.
        `catch_up`: a container started just now by someone else (a swarm task): what it
        printed before the attach comes from its log, in order, then the stream goes on; one
        that has already stopped is not attached at all.
        """
        if adopted:
            for line in self._recent_lines(TAIL_LINES):
                self._tail.append(line)
        self._watcher.watch(self._id, self)
        if catch_up:
            state = self._inspect()
            if state.running:
                with self._lock:
                    if not self._reattach():
                        raise ConnectionError(f"cannot attach to {self.name}")
                return
            for line in self._recent_lines(RECOVER_LINES):
                self._line(self._generation, line)
            self._died(state)
            return
        with self._lock:
            self._attach()
        if adopted:
            self._engine.call_soon(self._confirm_death)

    def _attach(self) -> None:
        """A new attach stream (under self._lock); its lines are dropped once it is replaced."""
        with self._quick:
            self._generation += 1
            generation = self._generation
        self._stream = self._engine.attach(
            self._id,
            self.name,
            on_line=lambda line: self._line(generation, line),
            on_end=lambda: self._stream_ended(generation),
        )

    def _line(self, generation: int, line: str) -> None:
        with self._quick:
            if generation != self._generation or self._exited.is_set():
                return
            if self._holding is not None:
                self._holding.append(line)
                return
            self._tail.append(line)
            self._sink.on_line(line)

    def _stream_ended(self, generation: int) -> None:
        """The attach stream ended (mux thread): find out why on a call thread."""
        self._engine.call_soon(lambda: self._ended(generation))

    def _ended(self, generation: int) -> None:
        """The container stopped (its death may already be known), or the stream broke."""
        with self._lock:
            if generation != self._generation or self._released:
                return
            self._stream = None
            dead = self._dead
        if dead is not None:
            self._exit(dead)
        else:
            self._check()

    def _check(self) -> None:
        """Stopped, or still running with its stream lost? (a call thread)"""
        if self._released or self._exited.is_set():
            return
        try:
            state = self._inspect()
        except ENGINE_ERRORS as exc:
            self._trouble(exc)
            return
        if not state.running:
            self._died(state)
            return
        with self._lock:
            if self._stream is None and not self._released and self._dead is None:
                self._reattach()

    def _reattach(self) -> bool:
        """Attach again to a running container, recovering what it printed meanwhile."""
        with self._quick:
            self._holding = []
        try:
            self._attach()
        except AttachRefused:
            with self._quick:
                self._holding = None
            self._engine.call_soon(lambda: self._died(self._state_or_gone()))
            return False
        except ATTACH_ERRORS as exc:
            with self._quick:
                self._holding = None
            self._trouble(exc)
            return False
        try:
            recent = self._recent_lines(RECOVER_LINES)
        except ENGINE_ERRORS:
            recent = []
        with self._quick:
            held, self._holding = self._holding or [], None
            if self._exited.is_set():
                return True
            for line in [*after_seen(list(self._tail), recent), *not_yet_seen(held, recent)]:
                self._tail.append(line)
                self._sink.on_line(line)
        return True

    def _recent_lines(self, count: int) -> list[str]:
        try:
            raw: bytes = self._engine.api.logs(self._id, stream=False, tail=count)
        except NotFound:
            return []
        return raw.decode("utf-8", errors="replace").splitlines()

    def _trouble(self, exc: Exception) -> None:
        """An engine call failed: the watcher re-checks every container once it answers."""
        self.on_engine_lost(f"the Docker engine does not answer: {exc}")
        self._watcher.kick()

    # -- the event watcher's calls (its thread) ---------------------------------------------

    def on_die(self) -> None:
        self._engine.call_soon(self._confirm_death)

    def on_engine_lost(self, message: str) -> None:
        with self._quick:
            if self._lost or self._released or self._exited.is_set():
                return
            self._lost = True
        self._sink.on_problem(message)

    def on_engine_back(self, running: bool | None) -> None:
        if not running:
            # It stopped (or went) while the engine was away. The problem stays until the exit
            # is delivered: no status in between may say "running" and "ok" (is_running
            # follows the exit, and the exit waits for this call thread's inspect).
            with self._quick:
                if self._lost and not self._exited.is_set():
                    self._sink.on_problem("the container stopped while the Docker engine was away")
            self._engine.call_soon(self._confirm_death)
            return
        self._engine_answers()
        if self._stream is None:
            self._engine.call_soon(self._check)

    def _engine_answers(self) -> None:
        with self._quick:
            was_lost, self._lost = self._lost, False
        if was_lost and not self._exited.is_set():
            self._sink.on_problem(None)

    def _confirm_death(self) -> None:
        if self._released or self._exited.is_set():
            return
        try:
            state = self._inspect()
        except ENGINE_ERRORS as exc:
            self._trouble(exc)
            return
        if not state.running:  # a die event from before a restart would be stale
            self._died(state)
        else:  # started again meanwhile (a `docker start`): the outage is over for it
            self._engine_answers()

    # -- death and exit -------------------------------------------------------------------

    def _died(self, state: WorkerState) -> None:
        """The container has stopped: exit once its output has ended, or after DRAIN_SECONDS."""
        with self._lock:
            if self._dead is not None or self._released:
                return
            self._dead = state
            streaming = self._stream is not None
            if streaming:
                self._drain = threading.Timer(DRAIN_SECONDS, self._drained)
                self._drain.daemon = True
                self._drain.start()
        if not streaming:
            self._exit(state)

    def _drained(self) -> None:
        with self._lock:
            stream, self._stream = self._stream, None
            dead = self._dead
        if stream is not None:
            self._engine.detach(stream)
        if dead is not None:
            self._exit(dead)

    def _exit(self, state: WorkerState) -> None:
        """Deliver on_exit exactly once, after every line (lines of any stream are dropped
        from now on)."""
        with self._quick:
            if self._exited.is_set():
                return
            self._generation += 1
            self._final = state
            self._exited.set()
        with self._lock:
            if self._drain is not None:
                self._drain.cancel()
        self._watcher.unwatch(self._id)
        self._sink.on_exit(state)

    # -- the seam -------------------------------------------------------------------------

    def _inspect(self) -> WorkerState:
        try:
            return state_of(self._engine.api.inspect_container(self._id)["State"])
        except NotFound:
            return GONE

    def _state_or_gone(self) -> WorkerState:
        try:
            return self._inspect()
        except ENGINE_ERRORS:
            return GONE

    def state(self) -> WorkerState:
        if self._final is not None:
            return self._final
        try:
            return self._inspect()
        except ENGINE_ERRORS as exc:
            raise self._engine.unavailable(exc) from None

    def hand_secrets(self, secrets: dict[str, str]) -> None:
        """Write the secrets line (contract/commands.py) as the first line on stdin.

        The runtime calls it once the container runs and before it returns the handle, so
        nothing else has written yet (checked). A line that cannot be written stops the
        container (the worker waits for it, then gives up) and raises RuntimeUnavailableError;
        the error never holds the secrets.
        """
        try:
            with self._lock:
                if self._written:
                    raise RuntimeError(f"{self.name}: the secrets line must come first on stdin")
                self.send(encode_secrets(secrets))
        except BrokenPipeError as exc:
            message = f"Could not hand {self.name} its secrets: {exc}"
        else:
            return
        self.stop(1.0)
        raise RuntimeUnavailableError(message) from None

    def send(self, line: str) -> None:
        """Write one line to the container's stdin through its attach connection."""
        data = line.encode() + b"\n"
        with self._lock:
            self._written = True
            for attempt in (1, 2):
                if self._exited.is_set() or self._dead is not None:
                    raise BrokenPipeError(f"container {self.name} is not running")
                try:
                    if self._stream is None:
                        self._reattach_for_send()
                    assert self._stream is not None
                    self._stream.send(data)
                    return
                except ATTACH_ERRORS as exc:
                    stream, self._stream = self._stream, None
                    if stream is not None:
                        self._engine.detach(stream)
                    if attempt == 2 or not self._state_or_gone().running:
                        self._engine.call_soon(self._check)
                        message = f"cannot write to {self.name}'s stdin: {exc}"
                        raise BrokenPipeError(message) from exc

    def _reattach_for_send(self) -> None:
        if not self._inspect().running:
            raise BrokenPipeError(f"container {self.name} is not running")
        self._reattach()
        if self._stream is None:
            raise BrokenPipeError(f"cannot attach to {self.name}")

    def stop(self, timeout: float) -> WorkerState:
        """docker stop, wait for the last lines, remove; "already gone" is fine."""
        try:
            self._engine.api.stop(self._id, timeout=max(1, math.ceil(timeout)))
            state = self._inspect()
        except NotFound:
            state = GONE
        except ENGINE_ERRORS as exc:
            raise self._engine.unavailable(exc) from None
        # The worker's final counters are its last lines: read them before the container goes.
        self._died(state)
        if not self._exited.wait(DRAIN_SECONDS + 1.0):
            self._drained()
        self._remove(self._id)
        return self._final or state

    def release(self) -> None:
        """Stop following the container (it keeps running); free the attach connection."""
        with self._lock:
            self._released = True
            stream, self._stream = self._stream, None
            if self._drain is not None:
                self._drain.cancel()
        with self._quick:
            self._generation += 1
        self._watcher.unwatch(self._id)
        if stream is not None:
            self._engine.detach(stream)


__all__ = ["ATTACH_ERRORS", "DRAIN_SECONDS", "GONE", "DockerHandle", "state_of"]
