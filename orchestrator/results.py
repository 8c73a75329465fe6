"""Reading and clearing a connection's results file (the worker is the only inserter)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from contract.results import READER_BUSY_SECONDS, quote_identifier
from providers import WebSocketData


def _open(path: str) -> sqlite3.Connection | None:
    # The worker put the file in WAL mode once (it persists); a reader only needs a busy timeout.
    if not Path(path).exists():
        return None
    return sqlite3.connect(path, timeout=READER_BUSY_SECONDS, isolation_level=None)


def read_messages(path: str, table: str, *, last: int | None = None) -> list[str]:
    """Stored JSON records in id order (only the newest `last` when given)."""
    connection = _open(path)
    if connection is None:
        return []
    quoted = quote_identifier(table)
    try:
        if last is None:
            rows = connection.execute(f"SELECT message FROM {quoted} ORDER BY id").fetchall()
        else:
            rows = connection.execute(
                f"SELECT message FROM (SELECT id, message FROM {quoted} ORDER BY id DESC LIMIT ?)"
                " ORDER BY id",
                (last,),
            ).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        connection.close()
    return [row[0] for row in rows]


def read_records(
    path: str, table: str, model: type[WebSocketData], *, last: int | None = None
) -> list[WebSocketData]:
    return [model.model_validate_json(message) for message in read_messages(path, table, last=last)]


def clear(path: str, table: str) -> int:
    """Delete every stored record; returns how many were deleted. Ids are never reused."""
    connection = _open(path)
    if connection is None:
        return 0
    try:
        return connection.execute(f"DELETE FROM {quote_identifier(table)}").rowcount
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise
    finally:
        connection.close()


def remove_files(path: str) -> None:
    """Delete the results file and its WAL companions."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(path + suffix).unlink(missing_ok=True)
