"""Real processes for the broadcast tests: the server, a results file, and listeners."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from contract import lock
from contract.results import connect as store_connect
from contract.results import prepare
from contract.status import parse_line

from ..helpers import free_port as free_port
from ..helpers import port_is_free as port_is_free

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """A `python -m <module>` child whose status lines are collected as they are printed."""

    def __init__(self, module: str, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = parse_line(line)
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                if event is not None:
                    self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_event(
        self,
        kind: str,
        timeout: float = 15,
        count: int = 1,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """The `count`-th status line with event `kind` (and `where` true); fails on timeout or
        exit."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [
                    e for e in self.events if e["event"] == kind and (where is None or where(e))
                ]
                if len(found) >= count:
                    return found[count - 1]
                remaining = deadline - time.monotonic()
                exited = self.proc.poll() is not None and not self._thread.is_alive()
                if remaining <= 0 or exited:
                    raise AssertionError(
                        f"no {kind!r} event (exit={self.proc.poll()}); output:\n"
                        + "\n".join(self.lines[-30:])
                    )
                self._cond.wait(min(remaining, 0.2))

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._thread.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        self._thread.join(5)

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)


def start_broadcast(
    results_file: Path, port: int, token: str | None = None, **config: Any
) -> WorkerProcess:
    env = {
        "FEEDDOCK_BROADCAST_CONFIG": orjson.dumps(
            {"results_file": str(results_file), "port": port, **config}
        ).decode()
    }
    if token is not None:
        env["FEEDDOCK_AUTH_TOKEN"] = token
    else:
        env["FEEDDOCK_AUTH_TOKEN"] = ""
    return WorkerProcess("broadcast_image", env)


class Table:
    """The results table, written the way the provider worker writes it."""

    def __init__(self, path: Path, table: str = "records", *, signal_commits: bool = True) -> None:
        prepare(path, table)
        self.path = path
        self.connection = store_connect(path)
        self.table = table
        self.sequence = 0
        # Like the worker's writer: the lock file's timestamps after each commit (or, False:
        # a writer that does not, heard through the WAL's events only).
        with contextlib.suppress(FileExistsError):  # made, never touched: a touch signals
            lock.lock_path(str(path)).touch(exist_ok=False)
        self.signal = lock.open_signal(str(path)) if signal_commits else None

    def insert(self, count: int, symbol: str = "AAPL", pad: int = 0) -> list[str]:
        """Insert `count` records numbered on from the last; returns their stored JSON text."""
        messages = []
        for _ in range(count):
            self.sequence += 1
            record: dict[str, Any] = {"date": time.time(), "symbol": symbol, "n": self.sequence}
            if pad:
                record["pad"] = "x" * pad
            messages.append(orjson.dumps(record).decode())
        self.insert_messages(messages)
        return messages

    def insert_symbols(self, symbols: list[str]) -> list[str]:
        """One commit with a record for each of `symbols`, numbered on from the last."""
        messages = []
        for symbol in symbols:
            self.sequence += 1
            record = {"date": time.time(), "symbol": symbol, "n": self.sequence}
            messages.append(orjson.dumps(record).decode())
        self.insert_messages(messages)
        return messages

    def insert_messages(self, messages: Iterable[str]) -> None:
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.executemany(
            f'INSERT INTO "{self.table}" (message) VALUES (?)', [(m,) for m in messages]
        )
        self.connection.execute("COMMIT")
        if self.signal is not None:
            assert lock.signal_commit(self.signal)

    def clear(self) -> None:
        self.connection.execute(f'DELETE FROM "{self.table}"')

    def messages(self) -> list[str]:
        rows = self.connection.execute(f'SELECT message FROM "{self.table}" ORDER BY id')
        return [row[0] for row in rows]

    def close(self) -> None:
        self.connection.close()
        if self.signal is not None:
            os.close(self.signal)


class Listener:
    """A real websockets client that records every frame and every line it receives, with
    arrival times (a per-record frame is one line; a batched one holds several)."""

    def __init__(self, url: str, **connect_kwargs: Any) -> None:
        self.url = url
        self.connect_kwargs = connect_kwargs
        self.frames: list[str] = []
        self.lines: list[str] = []
        self.arrivals: list[float] = []
        self.closed: ConnectionClosed | None = None
        self.connection: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def open(self, *, read: bool = True) -> Listener:
        self.connection = await connect(self.url, **self.connect_kwargs)
        if read:
            self.start_reading()
        return self

    @property
    def reading(self) -> bool:
        return self._task is not None

    def start_reading(self) -> None:
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.connection is not None
        try:
            while True:
                frame = await self.connection.recv()
                now = time.monotonic()
                assert isinstance(frame, str)
                self.frames.append(frame)
                for line in frame.split("\n"):
                    self.lines.append(line)
                    self.arrivals.append(now)
                self._changed.set()
        except ConnectionClosed as exc:
            self.closed = exc
        self._changed.set()

    async def wait_for(self, predicate: Callable[[Listener], bool], within: float = 10) -> None:
        deadline = time.monotonic() + within
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"listener condition not met in {within}s: {len(self.lines)} lines, "
                    f"closed={self.closed!r}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_count(self, count: int, within: float = 10) -> None:
        await self.wait_for(lambda lis: len(lis.lines) >= count, within)

    async def wait_closed(self, within: float = 10) -> ConnectionClosed:
        await self.wait_for(lambda lis: lis.closed is not None, within)
        assert self.closed is not None
        return self.closed

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 5)
