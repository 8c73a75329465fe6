"""Commands the orchestrator writes to a provider worker's stdin: one JSON object per line.

    {"event": "subscribe", "symbol": ["AAPL", "MSFT"], "id": "7"}
    {"event": "unsubscribe", "symbol": "msft"}

`symbol` is a list or a comma-separated string. The optional `id` comes back in the worker's
acknowledgement (a status line with the same `id`), so a caller waits for its own answer.
`encode_command` and `parse_command` are the only places that know this format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import orjson

from providers.params import split_symbols

Action = Literal["subscribe", "unsubscribe"]
ACTIONS: tuple[Action, ...] = ("subscribe", "unsubscribe")


class CommandError(ValueError):
    pass


@dataclass(frozen=True)
class Command:
    action: Action
    symbols: list[str]
    id: str | None = None


def encode_command(action: Action, symbols: Sequence[str], command_id: str | None = None) -> str:
    """One stdin line (without its newline)."""
    if action not in ACTIONS:
        raise CommandError(f"'event' must be one of {', '.join(ACTIONS)}, got {action!r}")
    message: dict[str, object] = {"event": action, "symbol": list(symbols)}
    if command_id is not None:
        message["id"] = command_id
    return orjson.dumps(message).decode()


def parse_command(line: str | bytes) -> Command:
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise CommandError(f"not JSON: {line[:200]!r}") from None
    if not isinstance(message, dict):
        raise CommandError("a command must be a JSON object")
    action = message.get("event")
    if action not in ACTIONS:
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


__all__ = ["ACTIONS", "Action", "Command", "CommandError", "encode_command", "parse_command"]
