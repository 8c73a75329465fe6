"""The broadcast server's read position, so the writer never trims rows it has not sent.

`limit` keeps the newest `limit` rows. Without coordination, a burst larger than `limit`
between two reads of the broadcast server would be trimmed before any listener saw it. So the
broadcast server publishes how far it has read (`publish`), in a small file beside the results
file (`<results_file>-cursor`, inside the bind-mounted directory both containers share), and
the writer trims only rows at or below that position (`trim_floor`):

- rows the broadcast server has not read yet stay, beyond `limit`, up to `hold_max_rows`;
  past that the writer trims anyway (the disk is finite) and the broadcast server, seeing ids
  jump, tells its listeners about the gap and counts it;
- a cursor older than `STALE_AFTER_SECONDS` (a broadcast server that died or hangs) is ignored,
  so a dead reader never stops retention;
- with no broadcast server there is no cursor and `limit` applies exactly as before.

The file is replaced atomically (write + rename), so a reader never sees half of it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson

CURSOR_SUFFIX = "-cursor"
# A live broadcast server rewrites its cursor at least this often, even when idle.
REFRESH_SECONDS = 5.0
STALE_AFTER_SECONDS = 30.0
# Rows kept beyond `limit` while the broadcast server catches up (10 s at 10,000 msg/s).
DEFAULT_HOLD_MAX_ROWS = 100_000


def cursor_path(results_file: str) -> Path:
    return Path(results_file + CURSOR_SUFFIX)


def publish(results_file: str, table: str, last_id: int, *, now: float | None = None) -> None:
    """Record that every row of `table` with id <= last_id has been read."""
    target = cursor_path(results_file)
    temp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    payload = {"table": table, "last_id": last_id, "time": time.time() if now is None else now}
    temp.write_bytes(orjson.dumps(payload))
    temp.replace(target)


def withdraw(results_file: str) -> None:
    """The broadcast server stops: retention goes back to plain `limit`."""
    cursor_path(results_file).unlink(missing_ok=True)


def read(results_file: str, table: str, *, now: float | None = None) -> int | None:
    """The published read position for `table`, or None (no reader, stale, or unreadable)."""
    try:
        payload = orjson.loads(cursor_path(results_file).read_bytes())
        last_id, stamp = int(payload["last_id"]), float(payload["time"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if payload.get("table") != table:
        return None
    if (time.time() if now is None else now) - stamp > STALE_AFTER_SECONDS:
        return None
    return last_id


def trim_floor(max_id: int, limit: int, reader_id: int | None, hold_max_rows: int) -> int:
    """Rows with id <= the returned value may be deleted.

    `limit` alone would delete up to `max_id - limit`; an unread row above `reader_id` is kept
    unless that would keep more than `hold_max_rows` rows beyond `limit`.
    """
    natural = max_id - limit
    if reader_id is None:
        return natural
    return max(min(natural, reader_id), natural - hold_max_rows)


__all__ = [
    "CURSOR_SUFFIX",
    "DEFAULT_HOLD_MAX_ROWS",
    "REFRESH_SECONDS",
    "STALE_AFTER_SECONDS",
    "cursor_path",
    "publish",
    "read",
    "trim_floor",
    "withdraw",
]
