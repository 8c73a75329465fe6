"""Tails the results table by id with one long-lived SQLite connection.

Synchronous on purpose: the server runs every call on one dedicated thread, so the connection
never crosses threads and SQLite works (with the GIL released) beside the event loop.

The file or the table may not exist yet (the broadcast can start before the provider); the
reader reports "nothing new" until they appear. `PRAGMA data_version` changes only when another
connection commits, so an idle tick costs one pragma instead of a query. Ids come from
AUTOINCREMENT and are never reused, so `DELETE FROM <table>` and retention deletes need no
special case; a table dropped and recreated (or a file replaced) is noticed and read from the
start.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass

import orjson

from contract.results import READER_BUSY_SECONDS, quote_identifier
from providers.symbols import symbol_key

Row = tuple[int, str]


@dataclass
class Poll:
    rows: list[Row]
    reset: str | None = None  # why the reader restarted from id 0, if it did


def record_symbol(message: str) -> str | None:
    """The record's `symbol` as filters compare it (`symbol_key`: lower case, no pair
    separators), or None when the row has none."""
    try:
        record = orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    symbol = record.get("symbol") if isinstance(record, dict) else None
    return symbol_key(symbol) if isinstance(symbol, str) else None


class TableReader:
    def __init__(self, path: str, table: str, *, batch_rows: int = 10_000) -> None:
        self.path = path
        self.table = table
        self.batch_rows = batch_rows
        quoted = quote_identifier(table)
        self._select = f"SELECT id, message FROM {quoted} WHERE id > ? ORDER BY id LIMIT ?"
        self._backwards = f"SELECT id, message FROM {quoted} WHERE id <= ? ORDER BY id DESC LIMIT ?"
        self._max_id = f"SELECT max(id) FROM {quoted}"
        self._connection: sqlite3.Connection | None = None
        self._inode: int | None = None
        self._data_version: int | None = None

    # -- connection -------------------------------------------------------------------------

    def _file_inode(self) -> int | None:
        try:
            return os.stat(self.path).st_ino
        except OSError:
            return None

    def _open(self) -> bool:
        """Open the file if it exists; True when a connection is ready."""
        if self._connection is not None:
            return True
        inode = self._file_inode()
        if inode is None:
            return False
        connection = sqlite3.connect(
            self.path, timeout=READER_BUSY_SECONDS, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute(f"PRAGMA busy_timeout={int(READER_BUSY_SECONDS * 1000)}")
            connection.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error:
            connection.close()
            return False
        self._connection, self._inode, self._data_version = connection, inode, None
        return True

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection, self._inode, self._data_version = None, None, None

    def _changed(self) -> bool:
        """False only when nobody committed since the last call (cheap idle ticks)."""
        assert self._connection is not None
        (version,) = self._connection.execute("PRAGMA data_version").fetchone()
        changed = version != self._data_version
        self._data_version = version
        return bool(changed)

    # -- queries ----------------------------------------------------------------------------

    def start_id(self) -> int:
        """The id to tail from: the current MAX(id), or 0 when there is no file or table yet."""
        if not self._open():
            return 0
        assert self._connection is not None
        try:
            (value,) = self._connection.execute(self._max_id).fetchone()
        except sqlite3.OperationalError:  # no such table (yet)
            return 0
        return int(value or 0)

    def _sequence(self) -> int | None:
        assert self._connection is not None
        try:
            row = self._connection.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = ?", (self.table,)
            ).fetchone()
        except sqlite3.OperationalError:
            return None
        return None if row is None else int(row[0])

    def poll(self, after_id: int) -> Poll:
        """Rows with id > after_id, oldest first, at most `batch_rows` of them."""
        if self._connection is not None and self._file_inode() != self._inode:
            self.close()  # the file was deleted or replaced: read the new one from the start
            if self._open():
                return Poll(self._select_after(0), reset="results file replaced")
            return Poll([])
        if not self._open() or not self._changed():
            return Poll([])
        rows = self._select_after(after_id)
        if not rows and after_id > 0:
            sequence = self._sequence()
            if sequence is not None and sequence < after_id:
                return Poll(self._select_after(0), reset="results table recreated")
        return Poll(rows)

    def _select_after(self, after_id: int) -> list[Row]:
        assert self._connection is not None
        try:
            rows = self._connection.execute(self._select, (after_id, self.batch_rows)).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        if len(rows) == self.batch_rows:
            self._data_version = None  # more to read: do not let the idle check skip it
        return rows

    def last_records(self, up_to_id: int, count: int, symbols: Collection[str] | None) -> list[str]:
        """The last `count` records with id <= up_to_id (matching `symbols`), oldest first."""
        if count <= 0 or up_to_id <= 0 or not self._open():
            return []
        assert self._connection is not None
        found: list[str] = []
        cursor_id = up_to_id
        chunk = max(count, 1000) if symbols is None else 5000
        while len(found) < count:
            try:
                rows = self._connection.execute(self._backwards, (cursor_id, chunk)).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    break
                raise
            for _, message in rows:
                if symbols is None or record_symbol(message) in symbols:
                    found.append(message)
                    if len(found) == count:
                        break
            if len(rows) < chunk:
                break
            cursor_id = rows[-1][0] - 1
        found.reverse()
        return found
