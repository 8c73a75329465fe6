"""The one reader task per server: polls the table every `sleep_time` and feeds the hub."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

from contract.status import Reporter

from .hub import Hub
from .reader import Poll, TableReader

ERROR_REPORT_INTERVAL_SECONDS = 5.0


class Tailer:
    def __init__(
        self, reader: TableReader, hub: Hub, sleep_time: float, reporter: Reporter
    ) -> None:
        self.reader = reader
        self.hub = hub
        self.sleep_time = sleep_time
        self.reporter = reporter
        # Every SQLite call happens on this one thread, with the reader's one connection.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="results-reader")
        self._last_error = 0.0

    async def start(self) -> None:
        """Position the hub at the current MAX(id): listeners get only records written later."""
        start = await asyncio.get_running_loop().run_in_executor(
            self._executor, self.reader.start_id
        )
        self.hub.reset(start)

    async def run(self) -> None:
        """Poll on a fixed grid: a record waits at most `sleep_time` (plus one query) to be read."""
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        while True:
            try:
                poll = await loop.run_in_executor(
                    self._executor, self.reader.poll, self.hub.last_id
                )
            except sqlite3.Error as exc:
                self._report_error(exc)
                poll = Poll([])
            if poll.reset is not None:
                self.reporter.warning(
                    "results_reset", f"{poll.reset}: reading it from the start", reason=poll.reset
                )
                self.hub.reset(0)
            self.hub.publish(poll.rows)
            if len(poll.rows) == self.reader.batch_rows:
                continue  # a backlog: read on without waiting
            now = loop.time()
            next_poll = max(next_poll + self.sleep_time, now)
            await asyncio.sleep(next_poll - now)

    def _report_error(self, exc: sqlite3.Error) -> None:
        now = time.monotonic()
        if now - self._last_error >= ERROR_REPORT_INTERVAL_SECONDS:
            self._last_error = now
            self.reporter.warning("read_failed", f"Could not read the results file: {exc}")

    async def last_records(
        self, up_to_id: int, count: int, symbols: Collection[str] | None
    ) -> list[str]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self.reader.last_records, up_to_id, count, symbols
        )

    def close(self) -> None:
        self._executor.submit(self.reader.close).result(timeout=30)
        self._executor.shutdown(wait=True)
