"""Commands the orchestrator writes to a provider worker's stdin: one JSON object per line.

    {"event": "subscribe", "symbol": ["AAPL", "MSFT"], "id": "7"}
    {"event": "unsubscribe", "symbol": "msft"}

`symbol` is a list or a comma-separated string. The optional `id` comes back in the worker's
acknowledgement (a status line with the same `id`), so a caller waits for its own answer.
`encode_command` and `parse_command` are the only places that know this format.

One more line comes first, and only when the worker's environment says FEEDDOCK_SECRETS=stdin
(contract/secrets.py): the worker's secrets, which a runtime keeps out of the environment.

    {"event": "secrets", "secrets": {"FEEDDOCK_API_KEY": "..."}}

Its parser never repeats the line in an error: it holds credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import orjson

from providers.params import split_symbols

Action = Literal["subscribe", "unsubscribe"]
ACTIONS: tuple[Action, ...] = ("subscribe", "unsubscribe")
SECRETS_EVENT = "secrets"


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


def encode_secrets(secrets: dict[str, str]) -> str:
    """The secrets line (without its newline)."""
    return orjson.dumps({"event": SECRETS_EVENT, "secrets": secrets}).decode()


def parse_secrets(line: str | bytes) -> dict[str, str]:
    """The secrets a secrets line carries; errors describe its shape, never its content."""
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise CommandError("the secrets line is not JSON") from None
    if not isinstance(message, dict) or message.get("event") != SECRETS_EVENT:
        raise CommandError(f"the first stdin line must be the {SECRETS_EVENT!r} event")
    secrets = message.get("secrets")
    if not isinstance(secrets, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in secrets.items()
    ):
        raise CommandError("'secrets' must map names to strings")
    return dict(secrets)


__all__ = [
    "ACTIONS",
    "SECRETS_EVENT",
    "Action",
    "Command",
    "CommandError",
    "encode_command",
    "encode_secrets",
    "parse_command",
    "parse_secrets",
]
