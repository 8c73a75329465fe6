"""Commands arriving on stdin: one JSON object per line.

    {"event": "subscribe", "symbol": "aapl,msft"}
    {"event": "unsubscribe", "symbol": "msft", "id": "7"}

`symbol` may also be a list. The optional `id` is echoed in the worker's acknowledgement so a
caller can wait for the answer to its own command.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import Literal

import orjson

from providers.params import split_symbols

Action = Literal["subscribe", "unsubscribe"]


class CommandError(ValueError):
    pass


@dataclass(frozen=True)
class Command:
    action: Action
    symbols: list[str]
    id: str | None = None


def parse_command(line: str | bytes) -> Command:
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise CommandError(f"not JSON: {line[:200]!r}") from None
    if not isinstance(message, dict):
        raise CommandError("a command must be a JSON object")
    action = message.get("event")
    if action not in ("subscribe", "unsubscribe"):
        raise CommandError(f"'event' must be 'subscribe' or 'unsubscribe', got {action!r}")
    raw = message.get("symbol")
    if not isinstance(raw, str | list) or (
        isinstance(raw, list) and not all(isinstance(item, str) for item in raw)
    ):
        raise CommandError("'symbol' must be a comma-separated string or a list of strings")
    symbols = split_symbols(raw)
    if not symbols:
        raise CommandError("'symbol' names no symbol")
    command_id = message.get("id")
    return Command(action, symbols, None if command_id is None else str(command_id))


async def open_stdin() -> asyncio.StreamReader:
    """An asyncio reader over stdin (a pipe from the process runtime or Docker's attach)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader
