"""The results file: SQLite in WAL mode, one table of `(id, message)` rows.

Only the provider worker inserts. Readers (orchestrator, broadcast server) never block it for
long: WAL lets them read while it writes. Ids come from AUTOINCREMENT, so they are never reused
after `clear` or retention deletes.

Reads come in two forms over the same SQL: plain `sqlite3` for synchronous callers (the Python
API) and `aiosqlite` for code on an event loop (the REST service, the broadcast server).
SQLite failures are translated here, once, into `ResultsError` with a `Problem` read from the
error code (never from the message text).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import aiosqlite

# The writer waits this long for a lock before it reports a failed commit and retries.
WRITER_BUSY_SECONDS = 10.0
# Readers and `clear` give up sooner: a caller gets a clear "locked" error, not a long hang.
READER_BUSY_SECONDS = 2.0
# The database, its WAL companions, the broadcast server's read position (cursor.py), the
# writer's lock (lock.py) and the orchestrator's note of a stopped connection's subscriptions
# (orchestrator/results.py).
COMPANION_SUFFIXES = ("", "-wal", "-shm", "-journal", "-cursor", "-lock", "-subscriptions")


class Problem(StrEnum):
    LOCKED = "locked"  # another connection holds the lock past the busy timeout
    FULL = "full"  # the disk (or the quota) is full
    CORRUPT = "corrupt"  # not a database, or a damaged one
    UNAVAILABLE = "unavailable"  # cannot open, read-only, I/O error
    OTHER = "other"


_PROBLEMS = {
    "SQLITE_BUSY": Problem.LOCKED,
    "SQLITE_LOCKED": Problem.LOCKED,
    "SQLITE_FULL": Problem.FULL,
    "SQLITE_CORRUPT": Problem.CORRUPT,
    "SQLITE_NOTADB": Problem.CORRUPT,
    "SQLITE_CANTOPEN": Problem.UNAVAILABLE,
    "SQLITE_READONLY": Problem.UNAVAILABLE,
    "SQLITE_IOERR": Problem.UNAVAILABLE,
    "SQLITE_PERM": Problem.UNAVAILABLE,
}


def problem_of(exc: sqlite3.Error) -> Problem:
    """What went wrong, from SQLite's (extended) error code name."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    # Extended codes are named after their primary code: SQLITE_IOERR_WRITE -> SQLITE_IOERR.
    for prefix, problem in _PROBLEMS.items():
        if name == prefix or name.startswith(prefix + "_"):
            return problem
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return Problem.CORRUPT
    return Problem.OTHER


class ResultsError(Exception):
    """A results file that cannot be read or changed, and why."""

    def __init__(self, problem: Problem, path: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.problem = problem
        self.path = path
        self.detail = detail


def results_error(exc: sqlite3.Error, path: str) -> ResultsError:
    return ResultsError(problem_of(exc), path, str(exc))


# -- schema -------------------------------------------------------------------------------


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_table_sql(table: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {quote_identifier(table)} "
        "(id INTEGER PRIMARY KEY AUTOINCREMENT, message TEXT NOT NULL)"
    )


TABLE_EXISTS_SQL = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"


def select_messages_sql(table: str, *, last: int | None) -> str:
    quoted = quote_identifier(table)
    if last is None:
        return f"SELECT message FROM {quoted} ORDER BY id"
    return (
        f"SELECT message FROM (SELECT id, message FROM {quoted} ORDER BY id DESC LIMIT {last:d})"
        " ORDER BY id"
    )


def connect(path: str | Path, *, timeout: float = WRITER_BUSY_SECONDS) -> sqlite3.Connection:
    """Open the results file (created if missing) in WAL mode with a busy timeout."""
    connection = sqlite3.connect(
        str(path), timeout=timeout, isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable across application crashes in WAL mode; only an OS crash can lose
    # the last transactions, which is the trade the write rate needs.
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def ensure_table(connection: sqlite3.Connection, table: str) -> None:
    connection.execute(create_table_sql(table))


def prepare(path: str | Path, table: str) -> None:
    """Create the file and table if needed, so readers never see a missing table."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = connect(path, timeout=READER_BUSY_SECONDS)
        try:
            ensure_table(connection, table)
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise results_error(exc, str(path)) from None


# -- synchronous reads and changes ---------------------------------------------------------


@contextmanager
def _reading(path: str) -> Iterator[sqlite3.Connection | None]:
    """A short-lived reader connection (None when there is no file), errors translated."""
    # The worker put the file in WAL mode once (it persists); a reader only needs a timeout.
    if not Path(path).exists():
        yield None
        return
    try:
        connection = sqlite3.connect(path, timeout=READER_BUSY_SECONDS, isolation_level=None)
        try:
            yield connection
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise results_error(exc, path) from None


def _has_table(connection: sqlite3.Connection, table: str) -> bool:
    return connection.execute(TABLE_EXISTS_SQL, (table,)).fetchone() is not None


def read_messages(path: str, table: str, *, last: int | None = None) -> list[str]:
    """Stored JSON records in id order (only the newest `last` when given)."""
    with _reading(path) as connection:
        if connection is None or not _has_table(connection, table):
            return []
        rows = connection.execute(select_messages_sql(table, last=last)).fetchall()
    return [row[0] for row in rows]


def clear(path: str, table: str) -> int:
    """Delete every stored record; returns how many were deleted. Ids are never reused."""
    with _reading(path) as connection:
        if connection is None or not _has_table(connection, table):
            return 0
        return connection.execute(f"DELETE FROM {quote_identifier(table)}").rowcount


def count(path: str, table: str) -> int:
    with _reading(path) as connection:
        if connection is None or not _has_table(connection, table):
            return 0
        (value,) = connection.execute(f"SELECT count(*) FROM {quote_identifier(table)}").fetchone()
    return int(value)


def remove_files(path: str) -> None:
    """Delete the results file and its WAL companions."""
    for suffix in COMPANION_SUFFIXES:
        Path(path + suffix).unlink(missing_ok=True)


# -- reads on an event loop ------------------------------------------------------------------


async def read_messages_async(path: str, table: str, *, last: int | None = None) -> list[str]:
    """`read_messages` for code on an event loop (aiosqlite runs SQLite on its own thread)."""
    try:
        # mode=rw: never create the file here (a missing file simply has no records).
        async with aiosqlite.connect(
            f"{Path(path).as_uri()}?mode=rw",
            uri=True,
            timeout=READER_BUSY_SECONDS,
            isolation_level=None,
        ) as connection:
            async with connection.execute(TABLE_EXISTS_SQL, (table,)) as cursor:
                if await cursor.fetchone() is None:
                    return []
            async with connection.execute(select_messages_sql(table, last=last)) as cursor:
                rows = await cursor.fetchall()
    except sqlite3.Error as exc:
        missing = not await asyncio.to_thread(os.path.exists, path)
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_CANTOPEN" and missing:
            return []
        raise results_error(exc, path) from None
    return [row[0] for row in rows]


__all__ = [
    "COMPANION_SUFFIXES",
    "READER_BUSY_SECONDS",
    "TABLE_EXISTS_SQL",
    "WRITER_BUSY_SECONDS",
    "Problem",
    "ResultsError",
    "clear",
    "connect",
    "count",
    "create_table_sql",
    "ensure_table",
    "prepare",
    "problem_of",
    "quote_identifier",
    "read_messages",
    "read_messages_async",
    "remove_files",
    "results_error",
    "select_messages_sql",
]
