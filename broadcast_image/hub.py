"""Fan-out of new records to listeners: frames built once, bounded queues, slow-listener policy.

No sockets here. The reader hands each tick's rows to `Hub.publish`, which builds the outgoing
frames once per distinct symbol filter and appends them to every matching listener's queue. A
listener's own sender task (`Listener.run`) drains its queue through the `send` coroutine it is
given, so a listener that stops reading only ever blocks its own task.

Policy for slow listeners: when the records waiting in a listener's queue (plus the frame being
sent) would exceed `max_pending`, the queue is dropped and the listener is disconnected with
close code 1013 and the reason "listener too slow: N records pending". It is never sent a
partial stream: whatever it received is an in-order prefix without gaps.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from providers.symbols import symbol_key

from .reader import Row, record_symbol

# Frames stay under the 1 MiB default `max_size` of websockets clients; a bigger single record
# still goes out alone.
MAX_FRAME_CHARS = 512 * 1024
SLOW_CLOSE_CODE = 1013

Frame = tuple[str, int]  # (newline-delimited records, how many)
SymbolFilter = frozenset[str] | None


def build_frames(messages: Iterable[str], limit: int = MAX_FRAME_CHARS) -> list[Frame]:
    """Join records with newlines into frames of at most `limit` characters (id order kept)."""
    frames: list[Frame] = []
    chunk: list[str] = []
    size = 0
    for message in messages:
        if chunk and size + len(message) + 1 > limit:
            frames.append(("\n".join(chunk), len(chunk)))
            chunk, size = [], 0
        chunk.append(message)
        size += len(message) + 1
    if chunk:
        frames.append(("\n".join(chunk), len(chunk)))
    return frames


def parse_symbols(value: str | None) -> SymbolFilter:
    """`"aapl, BTC-USD"` -> frozenset({"aapl", "btcusd"}); empty or `*` means no filter."""
    if value is None:
        return None
    symbols = frozenset(symbol_key(s) for s in value.split(",") if s.strip())
    return None if not symbols or "*" in symbols else symbols


@dataclass(eq=False)
class Listener:
    client: str
    symbols: SymbolFilter
    max_pending: int
    queue: deque[Frame] = field(default_factory=deque)
    pending: int = 0  # records queued or being sent
    sent: int = 0
    too_slow: str | None = None  # the close reason once the listener has been dropped
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, frames: list[Frame]) -> bool:
        """Queue a tick's frames; False (and the queue dropped) when over the bound."""
        if self.too_slow is not None:
            return False
        count = sum(n for _, n in frames)
        if self.pending + count > self.max_pending:
            self.too_slow = f"listener too slow: {self.pending + count} records pending"
            self.queue.clear()
            self.dropped.set()
            return False
        self.queue.extend(frames)
        self.pending += count
        self.wake.set()
        return True

    def _take(self) -> Frame:
        """The next frame, merged with the ones queued behind it while they fit."""
        text, count = self.queue.popleft()
        if not self.queue or len(text) + len(self.queue[0][0]) >= MAX_FRAME_CHARS:
            return text, count
        parts, size = [text], len(text)
        while self.queue and size + len(self.queue[0][0]) < MAX_FRAME_CHARS:
            more, n = self.queue.popleft()
            parts.append(more)
            size += len(more) + 1
            count += n
        return "\n".join(parts), count

    async def run(self, send: Callable[[str], Awaitable[None]]) -> None:
        """Send queued frames until cancelled (the connection ended or the listener was dropped)."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.queue and self.too_slow is None:
                text, count = self._take()
                await send(text)
                self.pending -= count
                self.sent += count


@dataclass
class HubStats:
    listeners: int = 0
    records: int = 0
    slow_disconnects: int = 0


class Hub:
    def __init__(self, max_pending: int, on_slow: Callable[[Listener, HubStats], Any]) -> None:
        self.max_pending = max_pending
        self.on_slow = on_slow
        self.last_id = 0
        self.stats = HubStats()
        self._groups: dict[SymbolFilter, set[Listener]] = {}

    def listener(self, client: str, symbols: SymbolFilter) -> Listener:
        return Listener(client, symbols, self.max_pending)

    def register(self, listener: Listener) -> int:
        """Start queueing for `listener`; returns the last id it will NOT get live (for replay)."""
        self._groups.setdefault(listener.symbols, set()).add(listener)
        self.stats.listeners += 1
        return self.last_id

    def unregister(self, listener: Listener) -> None:
        group = self._groups.get(listener.symbols)
        if group is not None and listener in group:
            group.discard(listener)
            self.stats.listeners -= 1
            if not group:
                del self._groups[listener.symbols]

    @property
    def listener_count(self) -> int:
        return self.stats.listeners

    def reset(self, last_id: int = 0) -> None:
        self.last_id = last_id

    def publish(self, rows: list[Row]) -> None:
        """Deliver one tick of rows (id order) to every listener whose filter they match."""
        if not rows:
            return
        self.last_id = rows[-1][0]
        self.stats.records += len(rows)
        if not self._groups:
            return
        messages = [message for _, message in rows]
        symbols: list[str | None] | None = None
        for key, group in list(self._groups.items()):
            if key is None:
                frames = build_frames(messages)
            else:
                if symbols is None:  # parsed once per tick, only when someone filters
                    symbols = [record_symbol(m) for m in messages]
                frames = build_frames(m for m, s in zip(messages, symbols, strict=True) if s in key)
            if not frames:
                continue
            for listener in list(group):
                if not listener.offer(frames):
                    self.unregister(listener)
                    self.stats.slow_disconnects += 1
                    self.on_slow(listener, self.stats)
