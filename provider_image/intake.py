"""The receive loop's side of the buffer: records become rows, handed over in chunks.

Per record the receive loop only serialises (`to_json`) and appends to a local list: the list
goes to the writer's buffer once per event-loop turn (or every HANDOFF_ROWS rows), so the lock
is taken per chunk, not per record. After each frame the worker asks `must_wait`: when the
buffer is full it stops reading (`room`) until the writer catches up, for at most
`stall_seconds`; past that the buffer overflows (see `buffer.py`) and reading resumes.

Very large frames of protocols whose arrays are batches (`arrays_are_batches`) are cut into
slices of SLICE_ITEMS messages before the protocol sees them, so their records are
validated, serialised and handed over slice by slice instead of all existing at once
(`slices`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from contract.status import Reporter
from providers import Message, WebSocketData

from .buffer import RowBuffer, chunk_of

HANDOFF_ROWS = 256
SPLIT_BYTES = 256 * 1024
SLICE_ITEMS = 1000


@dataclass
class Counters:
    """What the receive loop counts (the writer and the buffer count the rest)."""

    received: int = 0  # valid records handed to the writer
    invalid: int = 0  # records the data model refused
    unreadable: int = 0  # frames that were not JSON, or over max_size
    reconnects: int = 0
    last_record_time: float | None = None  # wall clock of the newest record received


class Intake:
    def __init__(
        self,
        buffer: RowBuffer,
        counters: Counters,
        reporter: Reporter,
        *,
        stall_seconds: float,
    ) -> None:
        self.buffer = buffer
        self.counters = counters
        self.reporter = reporter
        self.stall_seconds = stall_seconds
        self.must_wait = False
        self._pending: list[str] = []
        self._since = 0.0
        self._scheduled = False
        self._dropped_reported = 0

    def add(self, records: Sequence[WebSocketData]) -> None:
        pending = self._pending
        if not pending:
            self._since = time.monotonic()
            if not self._scheduled:
                # Runs when the receive loop next waits for the network.
                asyncio.get_running_loop().call_soon(self.handoff)
                self._scheduled = True
        for record in records:  # a loop, not a comprehension: most frames hold one record
            pending.append(record.to_json())
        self.counters.received += len(records)
        if len(pending) >= HANDOFF_ROWS:
            self.handoff()

    def handoff(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        self.must_wait = self.buffer.put(chunk_of(rows, self._since))
        self.counters.last_record_time = time.time()
        if self.buffer.dropped != self._dropped_reported:
            self._report_dropped()

    async def room(self) -> None:
        """Stop reading until the buffer has room, for at most `stall_seconds`."""
        self.must_wait = False
        if await self.buffer.wait_for_room(self.stall_seconds):
            return
        self.buffer.overflow()
        self.reporter.warning(
            "overflow",
            f"The writer has not caught up for {self.stall_seconds:g} s: reading again, "
            f"dropping the oldest records beyond {self.buffer.max_bytes} bytes until a "
            "commit succeeds.",
            max_bytes=self.buffer.max_bytes,
        )
        self._report_dropped()

    def _report_dropped(self) -> None:
        dropped = self.buffer.dropped
        if dropped == self._dropped_reported:
            return
        self.reporter.emit(
            "WARNING",
            "dropped",
            f"{dropped - self._dropped_reported} oldest records dropped (buffer full while "
            f"the writer is stuck); {dropped} in all.",
            throttle="drop reports",
            dropped=dropped,
        )
        self._dropped_reported = dropped


def slices(frame: Message) -> Iterator[Message]:
    """A very large JSON array frame as arrays of up to SLICE_ITEMS messages each.

    The frame is scanned element by element (the stdlib decoder's `raw_decode`, in C) to find
    where slices start and end: each element's objects are dropped at once, so the frame never
    exists parsed as a whole (that takes ~6x its size). Slices are substrings of the frame, so
    the protocol sees exactly the bytes the provider sent.
    Anything that is not a well-formed array comes back whole, for the protocol to judge.
    """
    text = frame if isinstance(frame, str) else frame.decode(errors="replace")
    bounds = _slice_bounds(text)
    if bounds is None:
        yield frame
        return
    for start, end in bounds:
        yield f"[{text[start:end]}]"


def _slice_bounds(text: str) -> list[tuple[int, int]] | None:
    """(start, end) of each run of SLICE_ITEMS elements of a JSON array; None if not one."""
    try:
        position = _skip(text, 0)
        if text[position] != "[":
            return None
        position = _skip(text, position + 1)
        if text[position] == "]":
            return None  # empty: nothing to cut
        bounds: list[tuple[int, int]] = []
        first, count = position, 0
        while True:
            _, end = _DECODER.raw_decode(text, position)
            count += 1
            position = _skip(text, end)
            if count == SLICE_ITEMS or text[position] == "]":
                bounds.append((first, end))
                count = 0
            if text[position] == "]":
                break
            if text[position] != ",":
                return None
            position = _skip(text, position + 1)
            if count == 0:
                first = position
        if _skip(text, position + 1) != len(text):
            return None
    except (ValueError, IndexError):  # JSONDecodeError is a ValueError
        return None
    return bounds


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # NaN/Infinity: orjson refuses them too


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, position: int) -> int:
    match = _WHITESPACE.match(text, position)
    return position if match is None else match.end()
