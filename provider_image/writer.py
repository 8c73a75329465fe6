"""Batched SQLite writer running in its own thread behind a bounded buffer.

The receive loop hands records over with `put()`, which never blocks on the disk. When the
buffer is full the OLDEST records are dropped (the newest market data is worth more), counted,
and reported. The thread drains up to `batch_size` records per transaction, so the commit rate
follows the arrival rate instead of one transaction per message.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from contract.results import connect, ensure_table, quote_identifier
from contract.status import Reporter
from providers.records import WebSocketData

RETRY_SECONDS = 0.5
CLOSING_ATTEMPTS = 5
CHECKPOINT_SECONDS = 1.0


@dataclass
class WriterStats:
    received: int = 0
    written: int = 0
    dropped: int = 0


class RecordWriter:
    def __init__(
        self,
        path: str,
        table: str,
        *,
        limit: int | None,
        capacity: int,
        batch_size: int,
        reporter: Reporter,
    ) -> None:
        self.path = path
        self.table = table
        self.limit = limit
        self.capacity = capacity
        self.batch_size = batch_size
        self.reporter = reporter
        self.stats = WriterStats()
        self._buffer: deque[WebSocketData] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
        self._checkpointer = threading.Thread(
            target=self._checkpoint, name="wal-checkpoint", daemon=True
        )
        self._connection: sqlite3.Connection | None = None
        quoted = quote_identifier(table)
        self._insert = f"INSERT INTO {quoted} (message) VALUES (?)"
        self._trim = f"DELETE FROM {quoted} WHERE id <= (SELECT max(id) FROM {quoted}) - ?"

    def start(self) -> None:
        self._connection = connect(self.path)
        # Checkpoints (and their fsync) run on their own connection and thread, so a commit
        # never waits for one: that kept p99 commit delays from jumping by tens of ms.
        self._connection.execute("PRAGMA wal_autocheckpoint=0")
        ensure_table(self._connection, self.table)
        self._thread.start()
        self._checkpointer.start()

    def _checkpoint(self) -> None:
        """Copy the WAL back into the database about once a second (PASSIVE: never blocks)."""
        connection = connect(self.path)
        try:
            while not self._closed.wait(CHECKPOINT_SECONDS):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # busy or I/O: the next round tries again
                    self.reporter.warning("checkpoint_failed", f"WAL checkpoint failed: {exc}")
        finally:
            connection.close()

    def put(self, records: Sequence[WebSocketData]) -> int:
        """Queue records for writing; returns how many old records were dropped to fit."""
        with self._cond:
            self._buffer.extend(records)
            self.stats.received += len(records)
            overflow = len(self._buffer) - self.capacity
            if overflow > 0:
                for _ in range(overflow):
                    self._buffer.popleft()
                self.stats.dropped += overflow
            self._cond.notify()
        return max(overflow, 0)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything still buffered, then close the file."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._closed.set()
        if self._checkpointer.is_alive():
            self._checkpointer.join(timeout)
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _take(self) -> list[WebSocketData] | None:
        with self._cond:
            while not self._buffer and not self._closing:
                self._cond.wait()
            if not self._buffer:
                return None
            count = min(len(self._buffer), self.batch_size)
            return [self._buffer.popleft() for _ in range(count)]

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            rows = [(record.to_json(),) for record in batch]
            attempts = 1
            while not self._write(rows):
                if self._closing and attempts >= CLOSING_ATTEMPTS:
                    self.stats.dropped += len(rows)
                    self.reporter.error(
                        "write_abandoned",
                        f"Shutting down: {len(rows)} records could not be written.",
                    )
                    break
                attempts += 1
                time.sleep(RETRY_SECONDS)

    def _write(self, rows: list[tuple[str]]) -> bool:
        assert self._connection is not None
        try:
            self._connection.execute("BEGIN IMMEDIATE")
            self._connection.executemany(self._insert, rows)
            if self.limit is not None:
                self._connection.execute(self._trim, (self.limit,))
            self._connection.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
            self.reporter.error(
                "write_failed", f"Could not write {len(rows)} records, retrying: {exc}"
            )
            return False
        self.stats.written += len(rows)
        return True
