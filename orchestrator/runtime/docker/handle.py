"""One container started (or adopted) by the Docker runtime.

    follower thread   follows `docker logs` (stdout+stderr) and pushes every line to the sink,
                      resuming after the last line seen if the stream breaks while the
                      container runs (and waiting out an engine that went away); once the
                      container has ended it reports its state to the sink, exactly once
    send()            writes to ONE attach socket per container, reopened when it breaks
    stop()            docker stop (SIGTERM; the worker flushes and exits 0), waits until the
                      sink has the container's last lines, then removes the container

Commands go through the raw socket under the attach response (`sock._sock.sendall`): the
object docker-py returns is a read-only SocketIO on unix sockets.
"""

from __future__ import annotations

import calendar
import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from docker.errors import NotFound

from ..base import WorkerSink, WorkerState
from .engine import ENGINE_ERRORS, Engine

# How long stop() waits for the follower to read the container's last lines.
DRAIN_SECONDS = 5.0
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


def parse_timestamp(raw: bytes) -> int:
    """RFC 3339 timestamp from `docker logs --timestamps`, as nanoseconds since the epoch."""
    text = raw.decode("ascii", errors="replace").rstrip("Z")
    whole, _, fraction = text.partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int((fraction + "000000000")[:9] or 0)


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
SEND_ERRORS: tuple[type[Exception], ...] = (OSError, *ENGINE_ERRORS)


class DockerHandle:
    def __init__(
        self,
        engine: Engine,
        container_id: str,
        name: str,
        sink: WorkerSink,
        *,
        remove: Callable[[str], None],
        since: float | None = None,
    ) -> None:
        self._engine = engine
        self._id = container_id
        self.name = name
        self._sink = sink
        self._remove = remove
        self._since = since  # adopted handles skip the history
        self._lock = threading.Lock()
        self._socket: Any = None
        self._logs: Any = None
        self._released = threading.Event()
        self._exited = threading.Event()
        self._final: WorkerState | None = None
        self._follower = threading.Thread(
            target=self._follow, name=f"logs-{container_id[:12]}", daemon=True
        )
        self._follower.start()

    @property
    def id(self) -> str:
        return self._id

    # -- state ----------------------------------------------------------------------------

    def state(self) -> WorkerState:
        if self._final is not None:
            return self._final
        try:
            return state_of(self._engine.api.inspect_container(self._id)["State"])
        except NotFound:
            return GONE
        except ENGINE_ERRORS as exc:
            raise self._engine.unavailable(exc) from None

    def _exit(self, state: WorkerState) -> None:
        if self._exited.is_set():
            return
        self._final = state
        self._exited.set()
        self._sink.on_exit(state)

    # -- output ---------------------------------------------------------------------------

    def _follow(self) -> None:
        last_ns, since, resumed, failures = 0, self._since, False, 0
        while not self._released.is_set():
            try:
                for stamp_ns, text in self._stream(since):
                    if failures:  # the engine answers again
                        self._sink.on_problem(None)
                        failures = 0
                    if resumed and stamp_ns <= last_ns:
                        continue  # already seen before the stream was resumed
                    last_ns = max(last_ns, stamp_ns)
                    self._sink.on_line(text)
                state = self.state()
            except NotFound:
                state = GONE
            except Exception as exc:  # the engine went away: wait for it, then look again
                failures += 1
                if failures == 1:
                    self._sink.on_problem(f"the Docker engine does not answer: {exc}")
                self._released.wait(RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1])
                since, resumed = (last_ns / 1e9 if last_ns else since), True
                continue
            if failures:
                self._sink.on_problem(None)
                failures = 0
            if not state.running:
                self._exit(state)
                return
            # The stream ended while the container runs (engine hiccup): resume after last_ns.
            since, resumed = (last_ns / 1e9 if last_ns else since), True
            self._released.wait(0.2)

    def _stream(self, since: float | None) -> Iterator[tuple[int, str]]:
        stream = self._engine.api.logs(
            self._id, stream=True, follow=True, timestamps=True, since=since
        )
        self._logs = stream
        pending = b""
        last_ns = 0
        try:
            for chunk in stream:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    stamp, _, text = raw.partition(b" ")
                    with contextlib.suppress(ValueError):  # keep the previous stamp
                        last_ns = parse_timestamp(stamp)
                    yield last_ns, text.decode("utf-8", errors="replace").rstrip("\r")
        finally:
            with contextlib.suppress(Exception):
                stream.close()
            self._logs = None
        if pending.strip():
            yield last_ns, pending.partition(b" ")[2].decode("utf-8", errors="replace")

    # -- stdin ----------------------------------------------------------------------------

    def _open_socket(self) -> Any:
        self._socket = self._engine.api.attach_socket(
            self._id, params={"stdin": 1, "stream": 1, "stdout": 0, "stderr": 0}
        )
        return self._socket

    def _close_socket(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            with contextlib.suppress(Exception):
                sock.close()

    def send(self, line: str) -> None:
        """Write one line to the container's stdin through the long-lived attach socket."""
        data = line.encode() + b"\n"
        with self._lock:
            for attempt in (1, 2):
                if self._exited.is_set():
                    raise BrokenPipeError(f"container {self.name} is not running")
                try:
                    sock = self._socket or self._open_socket()
                    getattr(sock, "_sock", sock).sendall(data)
                    return
                except SEND_ERRORS as exc:
                    self._close_socket()
                    if attempt == 2 or not self.state().running:
                        message = f"cannot write to {self.name}'s stdin: {exc}"
                        raise BrokenPipeError(message) from exc

    # -- teardown -------------------------------------------------------------------------

    def stop(self, timeout: float) -> WorkerState:
        """docker stop, wait for the last lines, remove; "already gone" is fine."""
        with self._lock:
            self._close_socket()
        try:
            self._engine.api.stop(self._id, timeout=max(1, math.ceil(timeout)))
        except NotFound:
            pass
        except ENGINE_ERRORS as exc:
            raise self._engine.unavailable(exc) from None
        # The worker's final counters are its last lines: read them before the container goes.
        following = self._follower.is_alive() and not self._released.is_set()
        if not (following and self._exited.wait(DRAIN_SECONDS)):
            self._exit(self.state())
        state = self._final or self.state()
        self._remove(self._id)
        return state

    def release(self) -> None:
        """Release local resources (attach socket, log stream); the container keeps running."""
        self._released.set()
        with self._lock:
            self._close_socket()
        logs = self._logs
        if logs is not None:
            with contextlib.suppress(Exception):
                logs.close()


__all__ = ["DRAIN_SECONDS", "DockerHandle", "parse_timestamp", "state_of"]
