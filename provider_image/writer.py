"""The writer thread: batches of rows from the buffer, committed to SQLite.

Each batch is ONE statement, `INSERT ... SELECT value FROM json_each(?)`, with the batch's rows
as one JSON array of strings (exact: a JSON string decodes to the same text). sqlite3 releases
the GIL for the length of a statement; with `executemany` it gives it up and takes it back for
every row, and while the receive loop keeps the GIL busy each take-back waits for the switch
interval: measured here 44 µs a row under a busy thread, 3 µs with one statement per batch. So
the writer keeps up with the receive loop instead of being starved by it.

Retention: with `limit`, each commit deletes rows beyond the newest `limit`, but never a row the
broadcast server has not read yet (its published cursor, `contract.cursor`): unread rows stay up
to `DEFAULT_HOLD_MAX_ROWS` beyond `limit`, then are trimmed anyway (the broadcast server reports
the gap). Without a (fresh) cursor, `limit` applies exactly.

Failures: a commit that fails (full disk, lock held past WRITE_BUSY_SECONDS, I/O error) is
reported at once (`write_failed`, with the problem from `contract.results.problem_of`) and
retried every RETRY_SECONDS; the first commit that succeeds again reports `write_recovered`.
Rows stay in the buffer meanwhile (the receive loop stops reading when it is full). `close`
stops within its timeout whatever the disk does: rows it could not write are counted as `lost`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time

import orjson

from contract import cursor, lock
from contract.results import Problem, connect, ensure_table, problem_of, quote_identifier
from contract.status import Reporter

from .buffer import Chunk, RowBuffer

# A lock held longer than this fails the commit: reported, then retried.
WRITE_BUSY_SECONDS = 1.0
RETRY_SECONDS = 0.5
CHECKPOINT_SECONDS = 1.0
# A checkpoint costs two fsyncs (the WAL's, then the database's): with synchronous=NORMAL they
# are the only ones, a commit never waits for the disk. A busy writer checkpoints every
# CHECKPOINT_SECONDS; one that committed fewer than CHECKPOINT_ROWS rows since the last
# checkpoint waits up to CHECKPOINT_IDLE_SECONDS: at one record a second that is a tenth of the
# fsyncs (400 such connections on one host made 800 a second, kernel journal work no container
# is charged for). The checkpointer sleeps until one of the two is due (the writer wakes it
# when the rows are there), never waking to find that it is not: on a small VM each thread
# wake-up costs about 0.1 ms of CPU. A killed worker loses no commit either way (the WAL holds
# it); after a power cut, commits since the last checkpoint may be rolled back
# (sqlite.org/pragma.html#pragma_synchronous).
CHECKPOINT_ROWS = 1_000
CHECKPOINT_IDLE_SECONDS = 10.0
# WAL frames (pages) past which the writer finishes the background checkpoint itself, so that
# the WAL starts over (and is cut to nothing): a pause of a few fsyncs, so not too often (about
# every 10 s at 30,000 records/s). The WAL's copied pages leave the page cache as they go.
WAL_RESET_FRAMES = 16_384
# Stopping: how long the writer may keep trying to write what is left. With the joins in
# `close`, a stop takes at most ~6 s, well within the 10 s before SIGKILL.
CLOSE_SECONDS = 3.0


class RecordWriter:
    def __init__(
        self,
        path: str,
        table: str,
        *,
        limit: int | None,
        buffer: RowBuffer,
        batch_size: int,
        reporter: Reporter,
        hold_max_rows: int = cursor.DEFAULT_HOLD_MAX_ROWS,
    ) -> None:
        self.path = path
        self.table = table
        self.limit = limit
        self.buffer = buffer
        self.batch_size = batch_size
        self.reporter = reporter
        self.hold_max_rows = hold_max_rows
        self.written = 0
        self.lost = 0  # rows given up at shutdown
        self.checkpoints = 0  # WAL checkpoints done
        self.failing_since: float | None = None  # monotonic time of the first failed commit
        self.problem: Problem | None = None  # what the failing commits report
        self._max_lag = 0.0
        self._lag_lock = threading.Lock()
        self._trimmed = 0  # rows with id <= this are known to be deleted
        self._give_up = threading.Event()
        self._closed = threading.Event()
        self._wrote = threading.Event()  # a commit since the last checkpoint
        self._rows_due = threading.Event()  # CHECKPOINT_ROWS committed since the last one
        self._checkpointed_rows = 0  # `written` at the last checkpoint
        self._finish_checkpoint = threading.Event()
        self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
        self._checkpointer = threading.Thread(
            target=self._checkpoint, name="wal-checkpoint", daemon=True
        )
        self._connection: sqlite3.Connection | None = None
        self._pages: PageCache | None = None
        self._commit_signal: int | None = None  # see contract.lock.signal_commit
        quoted = quote_identifier(table)
        # ORDER BY key: ids follow the array's order (SQLite does not sort: it is free here).
        self._insert = f"INSERT INTO {quoted} (message) SELECT value FROM json_each(?) ORDER BY key"
        self._trim = f"DELETE FROM {quoted} WHERE id <= ?"

    def start(self) -> None:
        """Open the file (raises sqlite3.Error when it cannot be) and start the threads."""
        self._connection = connect(self.path, timeout=WRITE_BUSY_SECONDS)
        # Checkpoints (and their fsync) run on their own connection and thread, so a commit
        # never waits for one: that kept p99 commit delays from jumping by tens of ms.
        self._connection.execute("PRAGMA wal_autocheckpoint=0")
        self._connection.execute("PRAGMA journal_size_limit=0")
        ensure_table(self._connection, self.table)
        self._pages = PageCache(self.path, self.path + "-wal")
        self._commit_signal = lock.open_signal(self.path)
        self._thread.start()
        self._checkpointer.start()

    # -- figures read by the stats line --------------------------------------------------------

    def take_max_lag(self) -> float:
        """The longest receive-to-commit delay (s) since the last call."""
        with self._lag_lock:
            lag, self._max_lag = self._max_lag, 0.0
        return lag

    # -- shutdown -------------------------------------------------------------------------------

    def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Write what is buffered, within `timeout`; what cannot be written is counted lost."""
        self.buffer.close()
        self._closed.set()  # no more checkpoints: the last commits need no copy-back now
        self._wrote.set()  # wakes the checkpointer so that it sees `_closed`
        self._rows_due.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._give_up.set()
                # A commit in progress ends within the busy timeout.
                self._thread.join(WRITE_BUSY_SECONDS + RETRY_SECONDS + 1.0)
        if self._checkpointer.is_alive():
            self._checkpointer.join(WRITE_BUSY_SECONDS + 1.0)
        if self._connection is not None and not self._thread.is_alive():
            with contextlib.suppress(sqlite3.Error):
                self._connection.close()
            self._connection = None
            if self._pages is not None and not self._checkpointer.is_alive():
                self._pages.close()  # only now: see PageCache
            if self._commit_signal is not None:
                with contextlib.suppress(OSError):
                    os.close(self._commit_signal)
                self._commit_signal = None

    # -- the thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        while chunks := self.buffer.take(self.batch_size):
            if self._give_up.is_set():
                self._abandon(chunks)
                break
            rows = [row for chunk in chunks for row in chunk.rows]
            payload = orjson.dumps(rows).decode()
            while not self._write(payload, len(rows), chunks[0]):
                if self._give_up.wait(RETRY_SECONDS):
                    self._abandon(chunks)
                    return
            self.buffer.done(committed=True)
            if self._finish_checkpoint.is_set():
                self._restart_wal()

    def _restart_wal(self) -> None:
        """Backfill the frames the background checkpoint has not reached yet (few: it did the
        rest), so that the next transaction starts the WAL over instead of growing it.

        A checkpoint running beside a writer that commits every few milliseconds never finds
        the WAL fully copied, and SQLite only starts the WAL over when it is: under a steady
        flow the WAL would grow without end (measured: 64 MiB after 12 s).
        """
        self._finish_checkpoint.clear()
        assert self._connection is not None
        # Failures are the background checkpoint's to report.
        with contextlib.suppress(sqlite3.Error):
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _abandon(self, chunks: list[Chunk]) -> None:
        """Shutting down with rows that cannot be written: count them, say so."""
        left = chunks + self.buffer.drain()
        count = sum(len(chunk.rows) for chunk in left)
        self.lost += count
        self.buffer.done(committed=False)
        if count:
            self.reporter.error(
                "write_abandoned",
                f"Stopping: {count} records could not be written and are lost.",
                lost=count,
            )

    def _write(self, payload: str, count: int, oldest: Chunk) -> bool:
        connection = self._connection
        assert connection is not None
        try:
            if self.limit is None:
                # One statement is its own transaction: no BEGIN/COMMIT round trips.
                connection.execute(self._insert, (payload,))
            else:
                connection.execute("BEGIN IMMEDIATE")
                last_id = connection.execute(self._insert, (payload,)).lastrowid or 0
                floor = cursor.trim_floor(
                    last_id,
                    self.limit,
                    cursor.read(self.path, self.table),
                    self.hold_max_rows,
                )
                if floor > self._trimmed:
                    connection.execute(self._trim, (floor,))
                connection.execute("COMMIT")
                self._trimmed = max(self._trimmed, floor)
        except sqlite3.Error as exc:
            if connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            self._failed(exc, count)
            return False
        self.written += count
        self._wrote.set()
        if self.written - self._checkpointed_rows >= CHECKPOINT_ROWS:
            self._rows_due.set()
        if self._commit_signal is not None and not lock.signal_commit(self._commit_signal):
            os.close(self._commit_signal)  # not allowed: the WAL's events stand in
            self._commit_signal = None
        lag = time.monotonic() - oldest.received
        with self._lag_lock:
            self._max_lag = max(self._max_lag, lag)
        if self.failing_since is not None:
            failed_for = time.monotonic() - self.failing_since
            self.failing_since = self.problem = None
            self.reporter.info(
                "write_recovered",
                f"Writing again after {failed_for:.1f} s of failed commits.",
                failed_seconds=round(failed_for, 3),
            )
        return True

    def _failed(self, exc: sqlite3.Error, count: int) -> None:
        """Report a failing commit at once; retries only when the problem changes."""
        problem = problem_of(exc)
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        elif problem is self.problem:
            return
        self.problem = problem
        self.reporter.error(
            "write_failed",
            f"Cannot write {count} records ({problem.value}): {exc}; retrying every "
            f"{RETRY_SECONDS:g} s.",
            problem=problem.value,
            detail=str(exc),
        )

    def _checkpoint(self) -> None:
        """Copy the WAL back into the database about once a second (PASSIVE: never blocks).

        After each checkpoint the clean pages of both files are dropped from the page cache
        (`PageCache`): a container's page cache counts against its memory limit, and a flood
        otherwise fills it with hundreds of MiB of written pages (measured: 130 MiB after
        30 s) that the kernel reclaims too late under a tight limit.
        """
        try:
            connection = connect(self.path, timeout=WRITE_BUSY_SECONDS)
        except sqlite3.Error as exc:
            self.reporter.warning("checkpoint_failed", f"No WAL checkpoints: {exc}")
            return
        try:
            # An idle worker's checkpointer sleeps until the next commit: no timer at all.
            self._checkpointed_rows, last_checkpoint = self.written, time.monotonic()
            while self._wrote.wait() and not self._closed.is_set():
                # Due CHECKPOINT_IDLE_SECONDS after the last one, or once the rows are there,
                # but never sooner than CHECKPOINT_SECONDS after it.
                self._rows_due.wait(last_checkpoint + CHECKPOINT_IDLE_SECONDS - time.monotonic())
                if self._closed.wait(last_checkpoint + CHECKPOINT_SECONDS - time.monotonic()):
                    break
                self._wrote.clear()
                self._rows_due.clear()
                self._checkpointed_rows, last_checkpoint = self.written, time.monotonic()
                try:
                    _, frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # busy or I/O: the next round tries again
                    self.reporter.emit(
                        "WARNING",
                        "checkpoint_failed",
                        f"WAL checkpoint failed: {exc}",
                        throttle="failed checkpoints",
                    )
                else:
                    self.checkpoints += 1
                    if self._pages is not None:
                        self._pages.drop()
                    if frames >= WAL_RESET_FRAMES:
                        self._finish_checkpoint.set()
        finally:
            connection.close()


class PageCache:
    """Drops the results file's clean pages from the kernel's page cache (Linux; else no-op).

    Clean pages only: the database's after a checkpoint synced them, the WAL's once they were
    synced and copied back. The writer never reads them through the OS (SQLite keeps the
    pages it needs in its own cache), and a container is charged for its page cache.

    The descriptors stay open until every SQLite connection of this process is closed:
    closing any descriptor of a file releases all of the process's POSIX locks on it,
    SQLite's included, and another process could then take the file for unused and corrupt
    it (sqlite.org/howtocorrupt.html, 2.2). Opening one is harmless.
    """

    def __init__(self, *paths: str) -> None:
        self._descriptors: list[int] = []
        if hasattr(os, "posix_fadvise"):
            for path in paths:
                with contextlib.suppress(OSError):
                    self._descriptors.append(os.open(path, os.O_RDONLY))

    def drop(self) -> None:
        for descriptor in self._descriptors:
            with contextlib.suppress(OSError):
                os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)

    def close(self) -> None:
        descriptors, self._descriptors = self._descriptors, []
        for descriptor in descriptors:
            os.close(descriptor)
