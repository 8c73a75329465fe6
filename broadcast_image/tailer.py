"""The one reader task per server: reads new rows as commits land and feeds the hub.

It reads when the commit watcher (`wake.py`) says a commit landed, and at the latest every
`sleep_time` seconds whatever happened, so lost notifications cost latency, never records.
While a writer signals each commit (the watcher's lock-file mode) every commit is heard and
those reads find nothing: they come every SIGNALLED_POLL_SECONDS instead (each is a wake-up,
about 0.2 ms of CPU on a small VM, four a second by default, most of an idle server's cost).
Around each read it keeps two promises:
- the read position is published for the writer (`contract.cursor`) once CURSOR_ROWS rows
  were read since the last time (at most every CURSOR_SECONDS) and at least every
  REFRESH_SECONDS, so rows are not trimmed before they are read; withdrawn when the server
  stops. The writer keeps what is read but not yet published beyond `limit`: at most about
  CURSOR_ROWS rows, or REFRESH_SECONDS of a slow stream. (Publishing after every read cost a
  file write, a rename and a wake-up per commit at one record a second.)
- ids that jump (rows deleted before they were read anyway) are a gap: every listener is closed
  with 4410 and the gap is counted and reported.
It also prints the `stats` line: at most every `stats_seconds` while any counter changes, and a
heartbeat every HEARTBEAT_SECONDS when none does.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator

from contract import cursor
from contract.config import BroadcastConfig
from contract.status import Reporter

from .hub import GAP_CLOSE_CODE, Hub
from .reader import Poll, TableReader
from .wake import CommitWatcher

ERROR_REPORT_INTERVAL_SECONDS = 5.0
CURSOR_SECONDS = 0.1
CURSOR_ROWS = 1_000
SIGNALLED_POLL_SECONDS = cursor.REFRESH_SECONDS
HEARTBEAT_SECONDS = 300.0
# A notification can arrive between SQLite's write of a commit to the WAL and its update of the
# WAL index that makes the commit visible (longer when the writer is descheduled there on a
# busy machine); after a read woken by the WAL, read again after these delays until one finds
# rows, before falling back to `sleep_time`. A writer that signals its commits needs none.
RECHECK_SECONDS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
# After a notified read that did find rows, one more read: a notification that came just before
# that read (a second commit still being written) was consumed by it. Not the whole ladder: at
# one commit a second it cost six empty reads per commit, most of an idle server's CPU.
RECHECK_AFTER_ROWS_SECONDS = (0.02,)


class Tailer:
    def __init__(
        self, config: BroadcastConfig, reader: TableReader, hub: Hub, reporter: Reporter
    ) -> None:
        self.config = config
        self.reader = reader
        self.hub = hub
        self.reporter = reporter
        self.changed = asyncio.Event()
        self.watcher = CommitWatcher(config.results_file, self.changed)
        self._watch_task: asyncio.Task[None] | None = None
        self._watch_problem: str | None = None
        self._last_error = -ERROR_REPORT_INTERVAL_SECONDS
        self._cursor_id: int | None = None
        self._cursor_at = 0.0
        self._cursor_failed = False
        self._stats_at = 0.0
        self._stats_last: dict[str, int] | None = None

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def start(self) -> None:
        """Position the hub at the last id used: listeners get only records written later."""
        try:
            start = await self.reader.start_id()
        except sqlite3.Error as exc:
            self._report_error(exc)
            start = 0
        self.hub.reset(start)
        now = self._now()
        self._stats_at = now
        self._stats_last = self._counters(self.snapshot())  # nothing to say until a change
        self._publish_cursor(now, force=True)

    async def run(self) -> None:
        notified = False
        rechecks: Iterator[float] = iter(())
        while True:
            self._ensure_watcher()
            self.changed.clear()
            poll = await self._poll(notified)
            self._apply(poll)
            now = self._now()
            self._publish_cursor(now)
            self._report_stats(now)
            if poll.full:
                continue  # a backlog: read on
            if self.changed.is_set():
                notified = True  # a commit landed while we read
                continue
            if notified and not self.watcher.signals_commits:
                # Woken by the WAL: the commit that woke us may not be visible yet.
                rechecks = iter(RECHECK_AFTER_ROWS_SECONDS if poll.rows else RECHECK_SECONDS)
            elif poll.rows:
                rechecks = iter(())  # a recheck found it
            timeout = min(next(rechecks, self._timeout(now)), self._timeout(now))
            notified = await self._wait(timeout)

    async def _poll(self, notified: bool) -> Poll:
        try:
            return await self.reader.poll(self.hub.last_id, notified=notified)
        except sqlite3.Error as exc:
            self._report_error(exc)
            return Poll([])

    def _apply(self, poll: Poll) -> None:
        if poll.reset is not None:
            self.reporter.warning(
                "results_reset", f"{poll.reset}: reading it from the start", reason=poll.reset
            )
            self.hub.reset(0)
        if poll.missing is not None:
            first, last = poll.missing
            closed = self.hub.gap(first, last)
            self.reporter.warning(
                "gap",
                f"{last - first + 1} records (ids {first}-{last}) were deleted before they were "
                f"read; {closed} listeners closed with {GAP_CLOSE_CODE}",
                first_id=first,
                last_id=last,
                missed=last - first + 1,
                listeners_closed=closed,
                gaps=self.hub.stats.gaps,
                records_lost=self.hub.stats.records_lost,
            )
        self.hub.publish(poll.rows)

    async def _wait(self, seconds: float) -> bool:
        """Until a notification (True) or `seconds` have passed (False)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(seconds, 0.0)):
                await self.changed.wait()
                return True
        return False

    def _timeout(self, now: float) -> float:
        every = self.config.sleep_time
        if self.watcher.signals_commits:
            every = max(every, SIGNALLED_POLL_SECONDS)
        timeout = min(every, self._cursor_at + cursor.REFRESH_SECONDS - now)
        if self._unpublished() >= CURSOR_ROWS:
            timeout = min(timeout, self._cursor_at + CURSOR_SECONDS - now)
        return timeout

    # -- notifications -----------------------------------------------------------------------

    def _ensure_watcher(self) -> None:
        if not self.config.wake_on_commit or self.watcher.watching:
            return
        problem = self.watcher.start()
        if problem is not None:
            if problem != self._watch_problem:  # say it once, not on every read
                self._watch_problem = problem
                self.reporter.warning(
                    "wake_unavailable",
                    f"No commit notifications ({problem}): reading every "
                    f"{self.config.sleep_time} s",
                    reason=problem,
                )
            return
        self._watch_problem = None
        self._watch_task = asyncio.create_task(self.watcher.run(), name="commit-watcher")

    # -- the read position -------------------------------------------------------------------

    def _unpublished(self) -> int:
        """Rows read since the last published position (all of them after a reset)."""
        last_id = self.hub.last_id
        if self._cursor_id is None or last_id < self._cursor_id:
            return last_id + CURSOR_ROWS  # never published, or read from the start: publish
        return last_id - self._cursor_id

    def _publish_cursor(self, now: float, *, force: bool = False) -> None:
        last_id = self.hub.last_id
        moved = self._unpublished() >= CURSOR_ROWS and now - self._cursor_at >= CURSOR_SECONDS
        if not (force or moved or now - self._cursor_at >= cursor.REFRESH_SECONDS):
            return
        self._cursor_at = now
        try:
            # A few hundred bytes written and renamed in the results directory: no thread.
            cursor.publish(self.config.results_file, self.config.table_name, last_id)
        except OSError as exc:
            if not self._cursor_failed:
                self._cursor_failed = True
                self.reporter.warning(
                    "cursor_failed",
                    f"Cannot publish the read position ({exc}); with `limit`, rows may be "
                    "trimmed before they are read",
                )
            return
        self._cursor_id, self._cursor_failed = last_id, False

    # -- counters ----------------------------------------------------------------------------

    def _report_stats(self, now: float, *, force: bool = False) -> None:
        if not force and now - self._stats_at < self.config.stats_seconds:
            return
        snapshot = self.snapshot()
        counters = self._counters(snapshot)
        if counters == self._stats_last and now - self._stats_at < HEARTBEAT_SECONDS:
            return
        self._stats_at = now
        self._stats_last = counters
        self.reporter.info(
            "stats",
            f"{snapshot['listeners']} listeners; {snapshot['records_read']} records read, "
            f"{snapshot['records_sent']} sent in {snapshot['frames_sent']} frames; "
            f"{snapshot['slow_closes']} slow-listener closes, {snapshot['gaps']} gaps; "
            f"{snapshot['buffered_bytes']} bytes buffered",
            **snapshot,
        )

    def snapshot(self) -> dict[str, int]:
        """The hub's counters, the reader's `queries` and the watcher's `notifications`."""
        return {
            **self.hub.snapshot(),
            "queries": self.reader.queries,
            "notifications": self.watcher.notifications,
        }

    @staticmethod
    def _counters(snapshot: dict[str, int]) -> dict[str, int]:
        # The bytes buffered move with every read: they alone are not news.
        return {k: v for k, v in snapshot.items() if k != "buffered_bytes"}

    def _report_error(self, exc: sqlite3.Error) -> None:
        now = self._now()
        if now - self._last_error >= ERROR_REPORT_INTERVAL_SECONDS:
            self._last_error = now
            self.reporter.warning("read_failed", f"Could not read the results file: {exc}")

    async def close(self) -> None:
        """Stop watching and reading, and withdraw the read position (we no longer read)."""
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        self.watcher.close()
        await self.reader.close()
        with contextlib.suppress(OSError):
            cursor.withdraw(self.config.results_file)


__all__ = ["Tailer"]
