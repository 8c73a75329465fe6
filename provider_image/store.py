"""The results file: SQLite in WAL mode, one table of (id, JSON text) rows.

Only the provider worker inserts. Readers (orchestrator, broadcast server) never block it for long:
WAL lets them read while it writes, and every connection waits on a busy timeout instead of failing.
Ids come from AUTOINCREMENT, so they are never reused after `clear_results` or retention deletes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

BUSY_TIMEOUT_SECONDS = 10.0


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def connect(path: str | Path, *, timeout: float = BUSY_TIMEOUT_SECONDS) -> sqlite3.Connection:
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
    connection.execute(
        f"CREATE TABLE IF NOT EXISTS {quote_identifier(table)} "
        "(id INTEGER PRIMARY KEY AUTOINCREMENT, message TEXT NOT NULL)"
    )


def prepare(path: str | Path, table: str) -> None:
    """Create the file and table if needed, so readers never see a missing table."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = connect(path)
    try:
        ensure_table(connection, table)
    finally:
        connection.close()
