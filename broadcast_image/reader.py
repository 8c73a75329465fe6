"""Reads the results table by id through `aiosqlite`, from the event loop.

Two long-lived connections, each on aiosqlite's own thread: one tails new rows (`poll`), the
other serves replays (`history`), so a long replay scan never delays the live stream.

The file or the table may not exist yet (the broadcast can start before the provider); the
reader reports "nothing new" until they appear. `PRAGMA data_version` changes only when another
connection commits, so a read that finds nothing costs little. Ids come from AUTOINCREMENT and
are never reused, so `DELETE FROM <table>` and retention deletes need no special case, and a
first id beyond the last one read + 1 means rows were deleted before they were read (a gap).
A table dropped and recreated (or a file replaced) is noticed and read from the start.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from contract.results import READER_BUSY_SECONDS, TABLE_EXISTS_SQL, quote_identifier

from .framing import KeyCache, SymbolFilter
from .hub import Row

BATCH_ROWS = 10_000
REPLAY_PAGE_ROWS = 1_000
_KEY_FUNCTION = "feeddock_symbol_key"


@dataclass
class Poll:
    rows: list[Row]
    reset: str | None = None  # why the reader restarted from id 0, if it did
    missing: tuple[int, int] | None = None  # ids deleted before they were read, if any
    full: bool = False  # BATCH_ROWS rows: more are waiting


def _signature(path: str) -> tuple[int, int, int] | None:
    """What any write changes about a file: inode, size, modification time (ns)."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


class _Connection:
    """One aiosqlite connection to the results file, opened once the file exists."""

    def __init__(self, path: str, table: str, key_function: KeyCache | None = None) -> None:
        self.path = path
        self.table = table
        self.key_function = key_function
        self.db: aiosqlite.Connection | None = None
        self.inode: int | None = None
        self.table_ready = False

    def file_inode(self) -> int | None:
        try:
            return os.stat(self.path).st_ino
        except OSError:
            return None

    async def open(self) -> bool:
        """True when a connection is ready (the file exists)."""
        if self.db is not None:
            return True
        inode = self.file_inode()
        if inode is None:
            return False
        try:
            # mode=rw: never create the file; query_only: this reader never writes.
            db = await aiosqlite.connect(
                f"{Path(self.path).as_uri()}?mode=rw",
                uri=True,
                timeout=READER_BUSY_SECONDS,
                isolation_level=None,
            )
        except sqlite3.Error:
            return False
        try:
            await db.execute_fetchall("PRAGMA query_only=1")
            if self.key_function is not None:
                await db.create_function(_KEY_FUNCTION, 1, self.key_function, deterministic=True)
        except sqlite3.Error:
            await _close(db)
            return False
        self.db, self.inode, self.table_ready = db, inode, False
        return True

    async def has_table(self) -> bool:
        assert self.db is not None
        if not self.table_ready:
            found = await self.db.execute_fetchall(TABLE_EXISTS_SQL, (self.table,))
            self.table_ready = bool(list(found))
        return self.table_ready

    async def close(self) -> None:
        db, self.db, self.inode, self.table_ready = self.db, None, None, False
        if db is not None:
            await _close(db)


async def _close(db: aiosqlite.Connection) -> None:
    # aiosqlite's thread is not a daemon: it must be stopped whatever the close says.
    with contextlib.suppress(sqlite3.Error):
        await db.close()


class TableReader:
    def __init__(self, path: str, table: str, *, batch_rows: int = BATCH_ROWS) -> None:
        self.path = path
        self.table = table
        self.batch_rows = batch_rows
        quoted = quote_identifier(table)
        # CAST: the stored JSON arrives as UTF-8 bytes, ready to go into a frame.
        self._select = (
            f"SELECT id, CAST(message AS BLOB) FROM {quoted} WHERE id > ? ORDER BY id LIMIT ?"
        )
        self._start = (
            f"SELECT max(coalesce((SELECT max(id) FROM {quoted}), 0),"
            " coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0))"
        )
        self._sequence = "SELECT seq FROM sqlite_sequence WHERE name = ?"
        self._tail = _Connection(path, table)
        self._history = _Connection(path, table, KeyCache())
        self._data_version: tuple[aiosqlite.Connection, int] | None = None
        self._drained = False  # the last read returned all there was
        self.queries = 0  # made by `poll` (the `stats` line's `queries`: an idle server makes none)
        self._wal: tuple[aiosqlite.Connection, tuple[int, int, int]] | None = None

    async def close(self) -> None:
        await self._tail.close()
        await self._history.close()

    async def start_id(self) -> int:
        """The id to tail from: the last id ever used, or 0 when there is no table yet."""
        tail = self._tail
        if not await tail.open() or not await tail.has_table():
            return 0
        assert tail.db is not None
        [(value,)] = list(await tail.db.execute_fetchall(self._start, (self.table,)))
        return int(value or 0)

    async def poll(self, after_id: int, *, notified: bool = False) -> Poll:
        """Rows with id > after_id, oldest first, at most `batch_rows` of them.

        `notified`: a change notification woke the caller, so something was probably written:
        read without first asking whether anything changed.
        """
        tail = self._tail
        if tail.db is not None and tail.file_inode() != tail.inode:
            await tail.close()  # the file was deleted or replaced: read the new one from the start
            await self._history.close()
            if await tail.open() and await tail.has_table():
                return self._restart(await self._select_after(0), "results file replaced")
            return Poll([])
        if not await tail.open() or not await tail.has_table():
            return Poll([])
        # An idle server polls every `sleep_time`: when the last read left nothing unread and
        # nobody committed since, a stat (or at most one query) says so.
        if self._drained and not notified and not await self._changed():
            return Poll([])
        if notified:  # this read sees the WAL as it is now: polls need no query until it changes
            wal = _signature(self.path + "-wal")
            self._wal = (tail.db, wal) if wal is not None and tail.db is not None else None
        rows = await self._select_after(after_id)
        self._drained = len(rows) < self.batch_rows
        if rows:
            return self._with_gap(rows, after_id)
        if after_id > 0:  # a commit that added nothing to read: rows deleted, or a new table?
            sequence = await self._last_sequence()
            if sequence is not None and sequence < after_id:
                return self._restart(await self._select_after(0), "results table recreated")
        return Poll([])

    def _restart(self, rows: list[Row], reason: str) -> Poll:
        self._drained = len(rows) < self.batch_rows
        return Poll(rows, reset=reason, full=len(rows) == self.batch_rows)

    def _with_gap(self, rows: list[Row], after_id: int) -> Poll:
        missing = (after_id + 1, rows[0][0] - 1) if rows[0][0] > after_id + 1 else None
        return Poll(rows, missing=missing, full=len(rows) == self.batch_rows)

    async def _select_after(self, after_id: int) -> list[Row]:
        db = self._tail.db
        assert db is not None
        try:
            self.queries += 1
            found = await db.execute_fetchall(self._select, (after_id, self.batch_rows))
        except sqlite3.OperationalError:
            self._tail.table_ready = False  # dropped under us? look again next time
            raise
        return [(int(row[0]), bytes(row[1])) for row in found]

    async def _changed(self) -> bool:
        """False only when nobody committed since the last call on this connection.

        Every commit writes to the WAL, which changes its size or modification time (or its
        inode, when the file is replaced): an unchanged WAL needs no query, which spares an
        idle server a trip through the reader's thread at every poll. The one miss (the WAL
        started over and rewritten to the very same size within one tick of the file
        system's clock) needs a lost notification as well, and the next commit reveals it.
        """
        db = self._tail.db
        assert db is not None
        wal = _signature(self.path + "-wal")
        if wal is not None and self._wal == (db, wal):
            return False
        self.queries += 1
        [(version,)] = list(await db.execute_fetchall("PRAGMA data_version"))
        # data_version is per connection: a reopened file starts a new series.
        changed = (db, version) != self._data_version
        self._data_version = (db, version)
        # Taken before the query: a commit between the two shows at the next call.
        self._wal = (db, wal) if wal is not None else None
        return bool(changed)

    async def _last_sequence(self) -> int | None:
        db = self._tail.db
        assert db is not None
        self.queries += 1
        found = list(await db.execute_fetchall(self._sequence, (self.table,)))
        return int(found[0][0]) if found else None

    # -- replays --------------------------------------------------------------------------------

    async def replay_start(self, up_to_id: int, count: int, symbols: SymbolFilter) -> int | None:
        """The id of the first of the last `count` records with id <= up_to_id (matching
        `symbols`), or None when there are none."""
        history = self._history
        if count <= 0 or up_to_id <= 0:
            return None
        if not await history.open() or not await history.has_table():
            return None
        assert history.db is not None
        quoted = quote_identifier(self.table)
        where, params = self._where(symbols)
        found = list(
            await history.db.execute_fetchall(
                f"SELECT min(id) FROM (SELECT id FROM {quoted} WHERE id <= ?{where}"
                " ORDER BY id DESC LIMIT ?)",
                (up_to_id, *params, count),
            )
        )
        first = found[0][0] if found else None
        return None if first is None else int(first)

    async def replay_page(self, from_id: int, up_to_id: int, symbols: SymbolFilter) -> list[Row]:
        """Up to REPLAY_PAGE_ROWS matching records with from_id <= id <= up_to_id, in order."""
        history = self._history
        if not await history.open() or not await history.has_table():
            return []
        assert history.db is not None
        quoted = quote_identifier(self.table)
        where, params = self._where(symbols)
        found = await history.db.execute_fetchall(
            f"SELECT id, CAST(message AS BLOB) FROM {quoted} WHERE id >= ? AND id <= ?{where}"
            " ORDER BY id LIMIT ?",
            (from_id, up_to_id, *params, REPLAY_PAGE_ROWS),
        )
        return [(int(row[0]), bytes(row[1])) for row in found]

    @staticmethod
    def _where(symbols: SymbolFilter) -> tuple[str, tuple[str, ...]]:
        if symbols is None:
            return "", ()
        keys = tuple(sorted(symbols))
        marks = ", ".join("?" for _ in keys)
        return f" AND {_KEY_FUNCTION}(message) IN ({marks})", keys


__all__ = ["BATCH_ROWS", "REPLAY_PAGE_ROWS", "Poll", "TableReader"]
