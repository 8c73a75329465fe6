"""One thread per engine follows its event stream and tells each followed container's handle
when it dies, and every handle when the engine goes away and comes back.

The stream is filtered by the orchestrator instance's label, so the engine sends only our
containers' `die` events: nothing is polled while the engine answers. When the stream breaks
(the engine stops or restarts, or a handle found that an engine call failed and `kick`ed the
watcher), every handle hears `on_engine_lost`; the watcher retries with backoff and, once the
engine answers again, lists this instance's containers in one call and hands each handle its
container's state (`on_engine_back`), because events of the outage may be lost.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from .failures import ENGINE_ERRORS

RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
CONNECT_WAIT_SECONDS = 5.0
# The first subscription asks for this much of the past: an event the engine sent between
# our request and its subscription is not lost.
FIRST_LOOKBACK_SECONDS = 2.0


class ContainerWatch(Protocol):
    def on_die(self) -> None:
        """The engine says the container stopped."""

    def on_engine_lost(self, message: str) -> None: ...

    def on_engine_back(self, running: bool | None) -> None:
        """The engine answers again; `running` is the container's state (None: it is gone)."""


class EventWatcher:
    def __init__(
        self, api: Callable[[], Any], labels: list[str], name: str = "docker-events"
    ) -> None:
        self._api = api  # the engine's docker-py API client (it may reconnect)
        self.labels = labels
        self._name = name
        self._lock = threading.Lock()
        self._watched: dict[str, ContainerWatch] = {}
        self._thread: threading.Thread | None = None
        self._stream: Any = None
        self._connected = threading.Event()
        self._closed = threading.Event()
        self._lost: str | None = None

    def watch(self, container_id: str, listener: ContainerWatch) -> None:
        """Follow a container's death; waits for the first subscription (a few seconds)."""
        with self._lock:
            self._watched[container_id] = listener
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._connected.wait(CONNECT_WAIT_SECONDS)

    def unwatch(self, container_id: str) -> None:
        with self._lock:
            self._watched.pop(container_id, None)

    def kick(self) -> None:
        """An engine call failed: re-check everything once the event stream is re-established."""
        self._close_stream()

    def close(self) -> None:
        self._closed.set()
        self._close_stream()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _close_stream(self) -> None:
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    def _listeners(self) -> list[tuple[str, ContainerWatch]]:
        with self._lock:
            return list(self._watched.items())

    def _run(self) -> None:
        since = f"{time.time() - FIRST_LOOKBACK_SECONDS:.9f}"
        failures = 0
        while not self._closed.is_set():
            try:
                stream = self._api().events(
                    decode=True,
                    since=since,
                    filters={"type": ["container"], "event": ["die"], "label": self.labels},
                )
            except ENGINE_ERRORS as exc:
                failures += 1
                self._engine_lost(f"the Docker engine does not answer: {exc}")
                self._closed.wait(RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1])
                continue
            self._stream = stream
            if self._lost is not None and not self._engine_back():
                with contextlib.suppress(Exception):
                    stream.close()
                failures += 1
                self._closed.wait(RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1])
                continue
            failures = 0
            self._connected.set()
            reason = "the Docker engine closed its event stream"
            try:
                for event in stream:
                    since = _event_time(event, since)
                    listener = self._listener(str(event.get("id", "")))
                    if listener is not None:
                        listener.on_die()
            except Exception as exc:  # the stream broke: the engine went away, or a kick
                reason = f"the Docker engine's event stream broke: {exc}"
            finally:
                self._stream = None
                with contextlib.suppress(Exception):
                    stream.close()
            if not self._closed.is_set():
                self._engine_lost(reason)

    def _listener(self, container_id: str) -> ContainerWatch | None:
        with self._lock:
            return self._watched.get(container_id)

    def _engine_lost(self, message: str) -> None:
        if self._lost is not None:
            return
        self._lost = message
        for _, listener in self._listeners():
            listener.on_engine_lost(message)

    def _engine_back(self) -> bool:
        """One list call for every container's state (events of the outage may be lost)."""
        try:
            found = self._api().containers(all=True, filters={"label": self.labels})
        except ENGINE_ERRORS:
            return False
        running = {str(c["Id"]): c.get("State") == "running" for c in found}
        self._lost = None
        for container_id, listener in self._listeners():
            listener.on_engine_back(running.get(container_id))
        return True


def _event_time(event: dict[str, Any], previous: str) -> str:
    nanos = event.get("timeNano")
    if isinstance(nanos, int):
        return f"{nanos // 1_000_000_000}.{nanos % 1_000_000_000:09d}"
    return previous


__all__ = ["ContainerWatch", "EventWatcher"]
