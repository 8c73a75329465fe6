"""WebSocket frames built once from stored records and shared by every listener that gets them.

A record read from the table becomes an `Entry` holding its complete WebSocket text frame
(header + the stored JSON, unmasked as a server sends it). Listeners that share a framing and a
filter are handed the same bytes: `segments` cuts a run of entries into pieces of at most
`SEGMENT_BYTES` that a listener's socket takes in one write.

- `Framing.RECORD` (the default): one record per frame, exactly its stored JSON. A segment is
  the concatenation of the matching entries' frames.
- `Framing.NDJSON` (`format=ndjson`): the matching records joined with newlines into frames of
  at most `MAX_NDJSON_BYTES`; one frame per segment. A bigger single record goes out alone.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

import orjson

from providers.symbols import symbol_key

# Frames stay under the 1 MiB default `max_size` of websockets clients.
MAX_NDJSON_BYTES = 512 * 1024
# One write to a listener's socket; with the socket's own buffer limit it bounds what one
# listener can hold (see `channel.py`).
SEGMENT_BYTES = 256 * 1024
_TEXT_FIN = 0x81  # FIN bit + text opcode; server frames are never masked

SymbolFilter = frozenset[str] | None


class Framing(StrEnum):
    RECORD = "record"
    NDJSON = "ndjson"


def text_header(length: int) -> bytes:
    """The header of an unmasked, unfragmented text frame with a `length`-byte payload."""
    if length < 126:
        return bytes((_TEXT_FIN, length))
    if length < 65536:
        return struct.pack("!BBH", _TEXT_FIN, 126, length)
    return struct.pack("!BBQ", _TEXT_FIN, 127, length)


def text_frame(payload: bytes) -> bytes:
    return text_header(len(payload)) + payload


@dataclass(slots=True)
class Entry:
    """One stored record: its filter key and its frame (`header` bytes, then the JSON)."""

    key: str | None
    frame: bytes
    header: int

    @property
    def payload(self) -> memoryview:
        return memoryview(self.frame)[self.header :]


def make_entry(message: bytes, key: str | None = None) -> Entry:
    header = text_header(len(message))
    return Entry(key, header + message, len(header))


class KeyCache:
    """`symbol_key` of each record's `symbol`, memoised (a feed has few distinct symbols)."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}

    def __call__(self, message: bytes | str) -> str | None:
        try:
            record = orjson.loads(message)
        except orjson.JSONDecodeError:
            return None
        symbol = record.get("symbol") if isinstance(record, dict) else None
        if not isinstance(symbol, str):
            return None
        key = self._keys.get(symbol)
        if key is None:
            if len(self._keys) >= self.LIMIT:
                self._keys.clear()
            key = self._keys[symbol] = symbol_key(symbol)
        return key


def parse_symbols(value: str | None) -> SymbolFilter:
    """`"BTC/USD, msft"` -> frozenset({"btcusd", "msft"}); empty or `*` means no filter."""
    if value is None:
        return None
    keys = frozenset(symbol_key(s) for s in value.split(",") if s.strip())
    keys = frozenset(k for k in keys if k)
    return None if not keys or "*" in keys else keys


@dataclass(frozen=True, slots=True)
class Segment:
    end: int  # the position just after the last entry this segment covers
    data: bytes  # whole frames; empty when no entry in the span matched
    records: int
    frames: int


def segments(
    entries: Sequence[Entry],
    offset: int,
    start: int,
    stop: int,
    framing: Framing,
    symbols: SymbolFilter,
    cap: int = SEGMENT_BYTES,
) -> Iterator[Segment]:
    """Segments covering positions [start, stop) of `entries` (entries[0] is at `offset`).

    Positions are counted over all records, matching or not, so the last segment always ends
    at `stop` (possibly with no data: the span had nothing for this filter).
    """
    if framing is Framing.NDJSON:
        cap = min(cap, MAX_NDJSON_BYTES)
    parts: list[bytes | memoryview] = []
    size = 0
    for position in range(start, stop):
        entry = entries[position - offset]
        if symbols is not None and entry.key not in symbols:
            continue
        if framing is Framing.RECORD:
            parts.append(entry.frame)
            size += len(entry.frame)
            if size >= cap:
                yield Segment(position + 1, b"".join(parts), len(parts), len(parts))
                parts, size = [], 0
        else:
            payload = entry.payload
            if parts and size + len(payload) > cap:
                yield _ndjson(parts, size - 1, position)
                parts, size = [], 0
            parts.append(payload)
            size += len(payload) + 1
    if not parts:
        yield Segment(stop, b"", 0, 0)
    elif framing is Framing.RECORD:
        yield Segment(stop, b"".join(parts), len(parts), len(parts))
    else:
        yield _ndjson(parts, size - 1, stop)


def _ndjson(parts: list[bytes | memoryview], length: int, end: int) -> Segment:
    return Segment(end, text_header(length) + b"\n".join(parts), len(parts), 1)


__all__ = [
    "MAX_NDJSON_BYTES",
    "SEGMENT_BYTES",
    "Entry",
    "Framing",
    "KeyCache",
    "Segment",
    "SymbolFilter",
    "make_entry",
    "parse_symbols",
    "segments",
    "text_frame",
    "text_header",
]
