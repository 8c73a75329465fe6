"""A numbered feed for fault tests: the demo market's protocol, every record numbered 1..N.

It runs in its own process (`python -m tests.faults.feed`), so its sending speed does not
depend on the test process, and is driven through `Feed`: one command per line on its stdin,
one answer per line on its stdout. Each record carries its number in `q` (the demo model's
`sequence`), so a test checks exactly which records were committed: sent = committed +
dropped, with no duplicate. A record counts as sent once the WebSocket accepted its frame.

Commands: `stream RATE PER_FRAME LIMIT` (RATE 0: as fast as possible; LIMIT 0: until `stop`),
`join` (wait for that LIMIT), `stop`, `count`, `garbage K` (K frames that are not JSON),
`big BYTES` (one frame of records, just under BYTES long), `oversize BYTES` (one frame of at
least BYTES), `subscribed K` (wait until K sessions have subscribed). A closed session is
replaced by the next one that subscribes; numbering continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from typing import IO

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

RECORD = '{"ev":"trade","sym":"AAPL","t":%d,"p":1.5,"s":10,"x":"FEED","q":%d}'
GARBAGE = "this is not JSON {"
STATUS = '[{"ev":"status","status":"%s","message":"%s"}]'


class Server:
    def __init__(self) -> None:
        self.sequence = 0  # the last record number sent
        self.subscriptions = 0
        self.session: ServerConnection | None = None
        self.changed = asyncio.Condition()
        self.streaming: asyncio.Task[None] | None = None
        self.stopping = False  # checked between frames: a frame is never cut off mid-send

    async def handle(self, connection: ServerConnection) -> None:
        await connection.send(STATUS % ("connected", "numbered feed"))
        with contextlib.suppress(ConnectionClosed):
            async for message in connection:
                if '"login"' in message:
                    await connection.send(STATUS % ("authorized", "logged in"))
                elif '"subscribe"' in message:
                    await connection.send(STATUS % ("subscribed", "subscribed"))
                    async with self.changed:
                        self.session = connection
                        self.subscriptions += 1
                        self.changed.notify_all()

    async def target(self, *, stoppable: bool = False) -> ServerConnection | None:
        """The open subscribed session, waiting for one; None if `stoppable` and stopping."""

        def ready() -> bool:
            is_open = self.session is not None and self.session.state.name == "OPEN"
            return is_open or (stoppable and self.stopping)

        async with self.changed:
            await self.changed.wait_for(ready)
            return None if stoppable and self.stopping else self.session

    async def session_now(self) -> ServerConnection:
        connection = await self.target()
        assert connection is not None
        return connection

    async def send_records(self, count: int) -> None:
        """One frame of `count` records; numbers are spent only if the frame was accepted."""
        while True:
            connection = await self.target(stoppable=True)
            if connection is None:
                return
            first, now = self.sequence + 1, time.time_ns()
            frame = "[" + ",".join(RECORD % (now, first + i) for i in range(count)) + "]"
            try:
                await connection.send(frame)
            except ConnectionClosed:
                continue  # the worker reconnects: send these numbers to its next session
            self.sequence += count
            return

    async def stream(self, rate: float, per_frame: int, limit: int) -> None:
        start = time.perf_counter()
        sent = 0
        while (not limit or sent < limit) and not self.stopping:
            size = per_frame if not limit else min(per_frame, limit - sent)
            await self.send_records(size)
            sent += size
            if rate:
                delay = start + sent / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif sent % 10_000 < size:
                await asyncio.sleep(0)  # answer pings and commands while flooding

    async def big(self, size: int) -> None:
        connection = await self.session_now()
        now, parts, length, number = time.time_ns(), [], 2, self.sequence
        while True:
            record = RECORD % (now, number + 1)
            if length + len(record) + 1 >= size:
                break
            parts.append(record)
            length += len(record) + 1
            number += 1
        await connection.send("[" + ",".join(parts) + "]")
        self.sequence = number

    async def command(self, line: str) -> str:
        name, *args = line.split()
        if name == "stream":
            rate, per_frame, limit = float(args[0]), int(args[1]), int(args[2])
            self.stopping = False
            self.streaming = asyncio.create_task(self.stream(rate, per_frame, limit))
            return "ok"
        if name == "stop":
            if self.streaming is not None:
                async with self.changed:
                    self.stopping = True
                    self.changed.notify_all()
                # A send blocked by a worker that stopped reading ends when it reads again.
                await self.streaming
            return f"sent {self.sequence}"
        if name == "join":  # wait for a stream with a limit to finish
            if self.streaming is not None:
                await self.streaming
            return f"sent {self.sequence}"
        if name == "count":
            return f"sent {self.sequence}"
        if name == "garbage":
            connection = await self.session_now()
            for _ in range(int(args[0])):
                await connection.send(GARBAGE)
            return "ok"
        if name == "big":
            await self.big(int(args[0]))
            return f"sent {self.sequence}"
        if name == "oversize":
            connection = await self.session_now()
            with contextlib.suppress(ConnectionClosed):
                await connection.send("[" + "1," * (int(args[0]) // 2) + "1]")
            return "ok"
        if name == "subscribed":
            async with self.changed:
                await self.changed.wait_for(lambda: self.subscriptions >= int(args[0]))
            return "ok"
        return f"error unknown command {name!r}"


async def main() -> None:
    feed = Server()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with serve(feed.handle, "127.0.0.1", 0, compression=None, max_size=None) as server:
        print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
        while line := (await reader.readline()).decode():
            print(await feed.command(line), flush=True)


class Feed:
    """The test's handle on a feed process."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.feed"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._in: IO[str] = self.process.stdin  # type: ignore[assignment]
        self._out: IO[str] = self.process.stdout  # type: ignore[assignment]
        self.url = f"ws://127.0.0.1:{self._out.readline().split()[1]}"

    def _ask(self, line: str) -> str:
        self._in.write(line + "\n")
        self._in.flush()
        answer = self._out.readline().strip()
        if not answer or answer.startswith("error"):
            raise RuntimeError(f"feed: {line!r} -> {answer!r}")
        return answer

    def _sent(self, line: str) -> int:
        return int(self._ask(line).split()[1])

    def stream(self, rate: float, per_frame: int, limit: int = 0) -> None:
        self._ask(f"stream {rate} {per_frame} {limit}")

    def join(self) -> int:
        """Wait until a stream with a limit has sent it all; the records sent in all."""
        return self._sent("join")

    def stop(self) -> int:
        """Stop streaming; the number of records sent in all."""
        return self._sent("stop")

    def count(self) -> int:
        return self._sent("count")

    def garbage(self, frames: int) -> None:
        self._ask(f"garbage {frames}")

    def big(self, size: int) -> int:
        """Send one frame of records just under `size` characters; the records sent in all."""
        return self._sent(f"big {size}")

    def oversize(self, size: int) -> None:
        self._ask(f"oversize {size}")

    def wait_subscribed(self, sessions: int = 1) -> None:
        self._ask(f"subscribed {sessions}")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
