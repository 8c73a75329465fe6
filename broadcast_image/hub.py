"""Fan-out of new records to listeners: one shared buffer, a read position per listener.

No sockets here: a listener writes through a `Sink` (its socket, or a fake in tests).

The tailer hands each read's rows to `Hub.publish`. They are appended once, as ready-made
WebSocket frames, to the shared buffer (`Log`); every listener has a position in it. A listener
that is caught up and whose socket takes more gets the new frames at once, built once per
framing and filter (`framing.segments`) and written straight to its socket. A listener that
cannot take them (its socket buffer is full) keeps its position; its own task (`catch_up`)
resumes from there when the socket drains. The buffer keeps only what the slowest listener has
not had yet, so memory is the buffer plus what each socket holds, not a copy per listener.

Slow listeners, in order:
- a listener more than `max_pending_records` behind the newest record is closed with 1013
  "listener too slow: N records pending";
- when the buffer holds more than `max_buffer_bytes`, the listener furthest behind is closed
  the same way, then the next, until it fits.
What a closed listener received is an in-order prefix without gaps; the close frame follows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .framing import Entry, Framing, KeyCache, Segment, SymbolFilter, make_entry, segments

SLOW_CLOSE_CODE = 1013
# Records were deleted from the table before the server read them (see `Hub.gap`).
GAP_CLOSE_CODE = 4410
# Python's own cost of one buffered record beyond its frame bytes (Entry object, list slot).
ENTRY_OVERHEAD = 96
_COMPACT_AFTER = 4096

Row = tuple[int, bytes]  # (id, stored JSON as UTF-8)
GroupKey = tuple[Framing, SymbolFilter]


class Sink(Protocol):
    """Where a listener's frames go."""

    @property
    def writable(self) -> bool:
        """True while the socket's buffer has room (below its high-water mark)."""
        ...

    def write(self, data: bytes) -> None: ...

    def buffered(self) -> int:
        """Bytes written but not yet sent."""
        ...


class Log:
    """The shared buffer: entries at absolute positions [base, head)."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.offset = 0  # position of entries[0]; entries before `_first` are dead
        self._first = 0
        self.bytes = 0

    @property
    def base(self) -> int:
        return self.offset + self._first

    @property
    def head(self) -> int:
        return self.offset + len(self.entries)

    def extend(self, entries: list[Entry]) -> None:
        self.entries.extend(entries)
        self.bytes += sum(len(e.frame) for e in entries) + ENTRY_OVERHEAD * len(entries)

    def skip(self, count: int) -> None:
        """Advance past `count` records nobody will read."""
        self.trim(self.head)
        self.offset += count

    def trim(self, position: int) -> None:
        """Forget entries before `position`."""
        end = min(position, self.head) - self.offset
        if end <= self._first:
            return
        dropped = self.entries[self._first : end]
        self.bytes -= sum(len(e.frame) for e in dropped) + ENTRY_OVERHEAD * len(dropped)
        self._first = end
        if self._first == len(self.entries):
            self.offset, self.entries, self._first = self.head, [], 0
        elif self._first > _COMPACT_AFTER and self._first * 2 > len(self.entries):
            del self.entries[: self._first]
            self.offset += self._first
            self._first = 0


@dataclass(eq=False)
class Listener:
    client: str
    framing: Framing
    symbols: SymbolFilter
    sink: Sink
    position: int
    live: bool = False  # False until accepted and replayed: publish leaves it to its own task
    records_sent: int = 0
    frames_sent: int = 0
    close_code: int | None = None
    close_reason: str = ""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def group(self) -> GroupKey:
        return (self.framing, self.symbols)

    def count(self, segment: Segment) -> None:
        self.records_sent += segment.records
        self.frames_sent += segment.frames

    def send(self, segment: Segment) -> None:
        """Write a segment of the shared buffer and move past it."""
        if segment.data:
            self.sink.write(segment.data)
            self.count(segment)
        self.position = segment.end


@dataclass
class Limits:
    max_pending_records: int = 50_000
    max_buffer_bytes: int = 32 * 2**20
    max_listeners: int = 100
    max_filters: int = 64


@dataclass
class HubStats:
    records_read: int = 0
    slow_closes: int = 0
    gaps: int = 0
    records_lost: int = 0
    refused: int = 0


OnClose = Callable[[Listener], None]


class Hub:
    def __init__(self, limits: Limits, on_slow: OnClose | None = None) -> None:
        self.limits = limits
        self.on_slow = on_slow
        self.log = Log()
        self.last_id = 0  # the newest id read from the table
        self.stats = HubStats()
        self._groups: dict[GroupKey, set[Listener]] = {}
        self._listeners: set[Listener] = set()
        # Listeners being served plus closed ones whose connection has not ended yet (a close
        # behind a full socket): what `max_listeners` counts, since each holds socket buffers.
        self.connections = 0
        self._keys = KeyCache()
        # Sent before the listeners that left took their counts with them.
        self._gone_records = 0
        self._gone_frames = 0

    # -- listeners ----------------------------------------------------------------------------

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    @property
    def filter_count(self) -> int:
        return sum(1 for _, symbols in self._groups if symbols is not None)

    def refusal(self, framing: Framing, symbols: SymbolFilter) -> str | None:
        """Why one more listener with this filter cannot be admitted, or None."""
        if self.connections >= self.limits.max_listeners:
            return f"too many listeners: {self.connections} connected (max_listeners)"
        new_filter = symbols is not None and (framing, symbols) not in self._groups
        if new_filter and self.filter_count >= self.limits.max_filters:
            return (
                f"too many distinct symbol filters: {self.filter_count} in use (max_filters); "
                "use one of the filters already in use or none"
            )
        return None

    def register(
        self, client: str, framing: Framing, symbols: SymbolFilter, sink: Sink
    ) -> Listener:
        """A listener that gets every record read from now on (its task makes it live)."""
        listener = Listener(client, framing, symbols, sink, self.log.head)
        self._groups.setdefault(listener.group, set()).add(listener)
        self._listeners.add(listener)
        self.connections += 1
        return listener

    def release(self, listener: Listener) -> None:
        """The listener's connection is gone: its place under `max_listeners` is free."""
        self.unregister(listener)
        self.connections -= 1

    def unregister(self, listener: Listener) -> None:
        if listener not in self._listeners:
            return
        self._listeners.discard(listener)
        group = self._groups.get(listener.group)
        if group is not None:
            group.discard(listener)
            if not group:
                del self._groups[listener.group]
        self._gone_records += listener.records_sent
        self._gone_frames += listener.frames_sent
        self._trim()

    def close(self, listener: Listener, code: int, reason: str) -> None:
        """Stop sending to `listener`; its task closes the socket with `code` and `reason`."""
        if listener.close_code is not None:
            return
        listener.close_code, listener.close_reason = code, reason
        self.unregister(listener)
        listener.closed.set()
        listener.wake.set()

    def close_all(self, code: int, reason: str) -> int:
        listeners = list(self._listeners)
        for listener in listeners:
            self.close(listener, code, reason)
        return len(listeners)

    def gap(self, first_id: int, last_id: int) -> int:
        """Rows first_id..last_id were deleted unread: close every listener, so no stream has a
        hole in it (each got an in-order prefix, then this close); returns how many closed."""
        missed = last_id - first_id + 1
        self.stats.gaps += 1
        self.stats.records_lost += missed
        reason = f"records lost: {missed} (ids {first_id}-{last_id}) deleted before they were read"
        return self.close_all(GAP_CLOSE_CODE, reason[:123])

    def _close_slow(self, listener: Listener) -> None:
        pending = self.log.head - listener.position
        self.close(listener, SLOW_CLOSE_CODE, f"listener too slow: {pending} records pending")
        self.stats.slow_closes += 1
        if self.on_slow is not None:
            self.on_slow(listener)

    # -- records ------------------------------------------------------------------------------

    def publish(self, rows: list[Row]) -> None:
        """Append one read's rows (id order) and hand them to every listener that can take them."""
        if not rows:
            return
        self.last_id = rows[-1][0]
        self.stats.records_read += len(rows)
        if not self._listeners:
            self.log.skip(len(rows))
            return
        keyed = self.filter_count > 0
        entries = [make_entry(m, self._keys(m) if keyed else None) for _, m in rows]
        old = self.log.head
        self.log.extend(entries)
        new = self.log.head
        for (framing, symbols), group in list(self._groups.items()):
            shared: list[Segment] | None = None
            for listener in list(group):
                caught_up = listener.live and listener.position == old
                if caught_up:
                    if shared is None:  # built once for the whole group
                        shared = list(segments(entries, old, old, new, framing, symbols))
                    for segment in shared:
                        if segment.records and not listener.sink.writable:
                            break
                        listener.send(segment)
                if listener.position != new:
                    if new - listener.position > self.limits.max_pending_records:
                        self._close_slow(listener)
                    elif caught_up or listener.sink.writable:
                        # Its task takes over (a listener already behind whose socket is full
                        # is waiting for the socket, not for us).
                        listener.wake.set()
        self._enforce_budget()
        self._trim()

    def catch_up(self, listener: Listener) -> bool:
        """Write what `listener` is missing while its socket takes it; True once caught up."""
        log = self.log
        while listener.position < log.head and listener.close_code is None:
            if not listener.sink.writable:
                return False
            segment = next(
                segments(
                    log.entries,
                    log.offset,
                    listener.position,
                    log.head,
                    listener.framing,
                    listener.symbols,
                )
            )
            listener.send(segment)
        self._trim()
        return listener.position >= log.head

    def _enforce_budget(self) -> None:
        while self.log.bytes > self.limits.max_buffer_bytes:
            behind = [lis for lis in self._listeners if lis.position < self.log.head]
            if not behind:
                return
            self._close_slow(min(behind, key=lambda lis: lis.position))
            self._trim()

    def _trim(self) -> None:
        oldest = min((lis.position for lis in self._listeners), default=self.log.head)
        self.log.trim(oldest)

    def reset(self, last_id: int = 0) -> None:
        """Read ids from `last_id` on (a new file or table); positions carry on."""
        self.last_id = last_id

    # -- counters -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, int]:
        """The counters for the `stats` status line."""
        live = list(self._listeners)
        records = self._gone_records + sum(lis.records_sent for lis in live)
        frames = self._gone_frames + sum(lis.frames_sent for lis in live)
        buffered = self.log.bytes + sum(lis.sink.buffered() for lis in live)
        return {
            "listeners": len(live),
            "filters": self.filter_count,
            "records_read": self.stats.records_read,
            "records_sent": records,
            "frames_sent": frames,
            "slow_closes": self.stats.slow_closes,
            "gaps": self.stats.gaps,
            "records_lost": self.stats.records_lost,
            "refused": self.stats.refused,
            "buffered_bytes": buffered,
        }


__all__ = [
    "GAP_CLOSE_CODE",
    "SLOW_CLOSE_CODE",
    "Hub",
    "HubStats",
    "Limits",
    "Listener",
    "Log",
    "Row",
    "Sink",
]
