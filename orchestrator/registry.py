"""The connections this orchestrator process manages, and their cleanup at exit."""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
from collections.abc import Callable

from . import simulators
from .client import WebSocketClient
from .errors import ConnectionExistsError, ConnectionNotFoundError


class Registry:
    def __init__(self) -> None:
        self._clients: dict[str, WebSocketClient] = {}
        self._lock = threading.RLock()
        self._exit_hooks_installed = False

    def reserve(self, name: str) -> None:
        with self._lock:
            existing = self._clients.get(name)
            if existing is not None:
                state = "running" if existing.is_running else "stopped"
                raise ConnectionExistsError(
                    f"A connection named {name!r} already exists ({state}). "
                    "Use restart_connection, or kill it first."
                )

    def add(self, client: WebSocketClient) -> None:
        with self._lock:
            self.reserve(client.name)
            self._clients[client.name] = client
            self._install_exit_hooks()

    def get(self, name: str) -> WebSocketClient:
        with self._lock:
            client = self._clients.get(name)
        if client is None:
            known = ", ".join(sorted(self._clients)) or "none"
            raise ConnectionNotFoundError(
                f"No connection named {name!r}. Existing connections: {known}."
            )
        return client

    def remove(self, name: str) -> None:
        with self._lock:
            self._clients.pop(name, None)

    def all(self) -> list[WebSocketClient]:
        with self._lock:
            return list(self._clients.values())

    def shutdown(self, teardown: Callable[[WebSocketClient], None]) -> None:
        """Tear every connection down (workers stopped, temp files removed)."""
        for client in self.all():
            with contextlib.suppress(Exception):
                teardown(client)
            self.remove(client.name)
        simulators.stop_all()

    def _at_exit(self, teardown: Callable[[WebSocketClient], None]) -> None:
        """At exit: tear process workers down, but only detach from Docker containers.

        Docker connections outlive the orchestrator process; the next one re-adopts them
        (adopt.py). Their temp results stay, since the containers keep writing there.
        """
        for client in self.all():
            if getattr(client.runtime, "survives_exit", False):
                with contextlib.suppress(Exception):
                    client.detach()
                self.remove(client.name)
        self.shutdown(teardown)

    def _install_exit_hooks(self) -> None:
        if self._exit_hooks_installed:
            return
        self._exit_hooks_installed = True
        from .api import teardown

        atexit.register(self._at_exit, teardown)
        # A plain SIGTERM would end Python without running atexit; turn it into SystemExit.
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError):
                if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
