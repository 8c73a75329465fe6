"""Rows on their way from the receive loop to the writer thread: bounded in bytes and in age.

The receive loop (event loop thread) `put`s chunks of serialised rows; the writer thread
`take`s them, commits them and calls `done`. The buffer is *full* when the rows not yet
committed (queued or being written) hold `max_bytes`, or when the oldest of them has waited
`max_backlog` seconds. The receive loop then stops reading the socket (`wait_for_room`): the
kernel and the provider hold the backlog, nothing is dropped, and a kill -9 loses at most
what the buffer holds.

Only if the writer stays stuck for `stall_seconds` (a full disk, a lock held for long) does the
buffer `overflow`: the receive loop reads again (so the connection's keep-alive is answered),
lag no longer matters, and each `put` drops the OLDEST queued rows beyond `max_bytes` (the
newest market data is worth more), counted in `dropped`. The first commit that succeeds ends
the overflow.

Sizes are the rows' characters plus ROW_OVERHEAD_BYTES each (a str object and its list slot),
so `max_bytes` bounds the memory the rows really take.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass

ROW_OVERHEAD_BYTES = 64


@dataclass(slots=True)
class Chunk:
    rows: list[str]
    size: int  # bytes charged to the bound
    received: float  # time.monotonic() when its first row arrived


def chunk_of(rows: list[str], received: float) -> Chunk:
    return Chunk(rows, sum(map(len, rows)) + ROW_OVERHEAD_BYTES * len(rows), received)


class RowBuffer:
    def __init__(self, max_bytes: int, max_backlog: float) -> None:
        self.max_bytes = max_bytes
        self.max_backlog = max_backlog
        self.dropped = 0  # rows dropped by overflow
        self.overflowing = False
        self._queue: deque[Chunk] = deque()
        self._queued_bytes = 0
        self._queued_rows = 0
        self._inflight_bytes = 0
        self._inflight_since: float | None = None
        self._closing = False
        self._lock = threading.Lock()
        self._has_rows = threading.Condition(self._lock)
        self._room: asyncio.Future[None] | None = None
        self._room_loop: asyncio.AbstractEventLoop | None = None

    # -- state --------------------------------------------------------------------------------

    @property
    def rows(self) -> int:
        """Rows waiting (not counting a batch being written)."""
        return self._queued_rows

    @property
    def size(self) -> int:
        """Bytes held: rows waiting plus the batch being written."""
        return self._queued_bytes + self._inflight_bytes

    def backlog(self, now: float | None = None) -> float:
        """Seconds the oldest uncommitted row has waited (0 when there is none)."""
        oldest = self._inflight_since
        if oldest is None and self._queue:
            oldest = self._queue[0].received
        if oldest is None:
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - oldest)

    def _full(self) -> bool:
        if self.size >= self.max_bytes:
            return True
        return not self.overflowing and self.backlog() >= self.max_backlog

    def full(self) -> bool:
        with self._lock:
            return self._full()

    # -- the receive loop's side --------------------------------------------------------------

    def put(self, chunk: Chunk) -> bool:
        """Queue a chunk; returns whether the buffer is now full (time to stop reading)."""
        with self._lock:
            self._queue.append(chunk)
            self._queued_bytes += chunk.size
            self._queued_rows += len(chunk.rows)
            self._has_rows.notify()
            if self.overflowing:
                self._drop_oldest()
                return False  # keep reading: the limit of waiting has passed
            return self._full()

    def _drop_oldest(self) -> None:
        # Keep at least the newest chunk: a single chunk larger than the bound still goes.
        while self.size > self.max_bytes and len(self._queue) > 1:
            old = self._queue.popleft()
            self._queued_bytes -= old.size
            self._queued_rows -= len(old.rows)
            self.dropped += len(old.rows)

    async def wait_for_room(self, patience: float) -> bool:
        """Wait until the buffer is no longer full; False when `patience` (s) ran out first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while True:
            with self._lock:
                if not self._full():
                    return True
                room = self._room = loop.create_future()
                self._room_loop = loop
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            # The writer wakes us after each batch; the timeout also re-checks the backlog,
            # which shrinks with time only through commits.
            try:
                await asyncio.wait_for(room, min(remaining, 0.25))
            except TimeoutError:
                pass
            finally:
                with self._lock:
                    self._room = None

    def overflow(self) -> int:
        """The writer is stuck: keep reading, dropping the oldest rows beyond the bound.

        Returns how many rows this dropped at once (more are dropped by later `put`s).
        """
        with self._lock:
            before = self.dropped
            self.overflowing = True
            self._drop_oldest()
            return self.dropped - before

    # -- the writer's side --------------------------------------------------------------------

    def take(self, max_rows: int) -> list[Chunk]:
        """Wait for rows and take whole chunks, up to `max_rows` (at least one chunk).

        Returns [] once `close()` was called and nothing is left.
        """
        with self._lock:
            while not self._queue and not self._closing:
                self._has_rows.wait()
            taken: list[Chunk] = []
            count = 0
            while self._queue and (not taken or count + len(self._queue[0].rows) <= max_rows):
                chunk = self._queue.popleft()
                taken.append(chunk)
                count += len(chunk.rows)
                self._queued_bytes -= chunk.size
                self._queued_rows -= len(chunk.rows)
                self._inflight_bytes += chunk.size
            if taken:
                self._inflight_since = taken[0].received
            return taken

    def done(self, *, committed: bool) -> None:
        """The batch taken last was committed (or given up): wake a paused receive loop."""
        with self._lock:
            self._inflight_bytes = 0
            self._inflight_since = None
            if committed:
                self.overflowing = False
            self._wake_locked()

    def _wake_locked(self) -> None:
        room, loop = self._room, self._room_loop
        if room is not None and loop is not None and not self._full():
            loop.call_soon_threadsafe(_resolve, room)

    def drain(self) -> list[Chunk]:
        """Everything still queued (the writer gives up on it at shutdown)."""
        with self._lock:
            chunks = list(self._queue)
            self._queue.clear()
            self._queued_bytes = self._queued_rows = 0
            return chunks

    def close(self) -> None:
        """No more rows will come: `take` returns [] once the queue is empty."""
        with self._lock:
            self._closing = True
            self._has_rows.notify_all()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
