"""Shared machinery for local provider simulators (tests, benchmarks, the demo).

A simulator is a real WebSocket server on loopback that speaks one provider's protocol. It runs
its own event loop in a background thread so that synchronous code (the Python API, pytest)
can drive it. Subclasses implement the protocol in `session()`; this module handles the
server, the thread, the record of received messages, streaming ticks and server-side closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Self

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed


@dataclass
class Session:
    """One client connection as the simulator sees it."""

    connection: ServerConnection
    authorized: bool = False
    symbols: set[str] = field(default_factory=set)
    streamer: asyncio.Task[None] | None = None


class SimulatorServer(ABC):
    """A provider simulator on 127.0.0.1 running in a background thread.

    Args:
        port: 0 picks a free port.
        rate: data messages per second per connection while subscribed (0 = none).
        api_keys: accepted keys; None accepts any non-empty key.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate: float = 20.0,
        api_keys: Iterable[str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.rate = rate
        self.api_keys = set(api_keys) if api_keys is not None else None
        self.received: list[Any] = []
        self.connections_opened = 0
        self.sessions: list[Session] = []
        self._changed = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._sequence = 0

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self) -> Self:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._open())
            except BaseException as exc:  # surfaced to the caller of start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"{type(self).__name__}", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]
        return self

    async def _open(self) -> None:
        self._server = await serve(self._handle, self.host, self.port, max_size=None)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def call(self, coro_factory: Callable[[], Any], timeout: float = 10) -> Any:
        """Run a coroutine on the simulator's loop from another thread and return its result."""
        assert self._loop is not None, "simulator is not running"
        return asyncio.run_coroutine_threadsafe(coro_factory(), self._loop).result(timeout)

    # -- observation -------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[SimulatorServer], bool], timeout: float = 10) -> None:
        """Block until `predicate(self)` holds (re-checked whenever a message arrives)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"simulator condition not met within {timeout}s; received: "
                        f"{self.received[-10:]!r}"
                    )
                self._changed.wait(remaining)

    def wait_for_message(self, predicate: Callable[[Any], bool], timeout: float = 10) -> Any:
        """Block until a received client message satisfies `predicate`; return it."""
        found: list[Any] = []

        def check(sim: SimulatorServer) -> bool:
            for message in sim.received:
                if predicate(message):
                    found.append(message)
                    return True
            return False

        self.wait_for(check, timeout)
        return found[0]

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # -- server-side actions ------------------------------------------------------------------

    def close_connections(self, code: int = 1001, reason: str = "going away") -> None:
        """Close every client connection from the server side (as a provider restart would)."""

        async def close_all() -> None:
            for session in list(self.sessions):
                await session.connection.close(code, reason)

        self.call(close_all)

    # -- per-connection handling -------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        session = Session(connection)
        self.sessions.append(session)
        self.connections_opened += 1
        self._notify()
        try:
            await self.session(session)
        except ConnectionClosed:
            pass
        finally:
            if session.streamer is not None:
                session.streamer.cancel()
            self.sessions.remove(session)
            self._notify()

    async def messages(self, session: Session) -> Any:
        """Yield every client message, parsed as JSON when it is JSON, recording each one."""
        async for raw in session.connection:
            try:
                message: Any = orjson.loads(raw)
            except orjson.JSONDecodeError:
                message = raw
            self.received.append(message)
            self._notify()
            yield message

    async def send_json(self, session: Session, payload: Any) -> None:
        await session.connection.send(orjson.dumps(payload).decode())

    def key_is_valid(self, key: object) -> bool:
        if not isinstance(key, str) or not key:
            return False
        return self.api_keys is None or key in self.api_keys

    @property
    def last_sequence(self) -> int:
        """The newest sequence number handed out so far (0 before any data)."""
        return self._sequence

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def start_streaming(self, session: Session) -> None:
        """Start (once) the task that sends data for the session's symbols at `rate`."""
        if session.streamer is None and self.rate > 0:
            session.streamer = asyncio.get_running_loop().create_task(self._stream(session))

    async def _stream(self, session: Session) -> None:
        interval = 1.0 / self.rate
        next_tick = time.monotonic()
        while True:
            next_tick += interval
            if session.symbols:
                symbol = sorted(session.symbols)[self._sequence % len(session.symbols)]
                frame = self.data_frame(symbol, time.time_ns())
                if frame is not None:
                    await session.connection.send(frame)
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))

    @abstractmethod
    async def session(self, session: Session) -> None:
        """Speak the provider's protocol with one client until it disconnects."""

    @abstractmethod
    def data_frame(self, symbol: str, timestamp_ns: int) -> str | bytes | None:
        """One data frame for `symbol` in the provider's wire format (None to skip)."""


def simulator_arguments(description: str, default_port: int = 8765) -> argparse.ArgumentParser:
    """Command-line options every simulator shares; add provider-specific ones to the result."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port, help="0 picks a free port")
    parser.add_argument("--rate", type=float, default=20.0, help="data messages/s per connection")
    parser.add_argument("--api-key", action="append", help="accept only these keys")
    parser.add_argument(
        "--exit-on-stdin-eof", action="store_true", help="stop when stdin closes (parent died)"
    )
    return parser


def serve_until_stopped(simulator: SimulatorServer, *, exit_on_stdin_eof: bool = False) -> int:
    """Run a simulator until SIGINT/SIGTERM (or stdin's end); announce its URL first.

    Prints `listening on ws://HOST:PORT` once it accepts connections: the orchestrator and
    scripts read that line to learn the port.
    """
    simulator.start()
    print(f"listening on {simulator.url}", flush=True)
    stop = asyncio.Event()

    def stop_at_stdin_eof(loop: asyncio.AbstractEventLoop) -> None:
        # A blocking read in a thread works for pipes, files and /dev/null alike.
        while os.read(sys.stdin.fileno(), 65536):
            pass
        loop.call_soon_threadsafe(stop.set)

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if exit_on_stdin_eof:
            threading.Thread(target=stop_at_stdin_eof, args=(loop,), daemon=True).start()
        await stop.wait()

    asyncio.run(wait())
    simulator.stop()
    return 0
