"""The commit watcher on its own: a real directory, real SQLite commits, real inotify.

What it must hear (a commit), what it must not be woken by (its own read cursor, the WAL once
the writer signals), and what happens when the lock file goes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broadcast_image.wake import CommitWatcher
from contract import cursor, lock

from .helpers import Table

WITHIN_SECONDS = 5.0


class Watching:
    def __init__(self, results_file: Path) -> None:
        self.changed = asyncio.Event()
        self.watcher = CommitWatcher(str(results_file), self.changed)
        assert self.watcher.start() is None
        self.task = asyncio.create_task(self.watcher.run())

    async def commit_heard(self, table: Table) -> None:
        self.changed.clear()
        table.insert(1)
        await asyncio.wait_for(self.changed.wait(), WITHIN_SECONDS)

    async def quiet(self) -> int:
        """The events read once the loop has had time to read any that were queued."""
        for _ in range(20):
            await asyncio.sleep(0.01)
        return self.watcher.notifications


@pytest.fixture
async def watching(results_file: Path) -> AsyncIterator[Watching]:
    watching = Watching(results_file)
    yield watching
    watching.task.cancel()
    await asyncio.gather(watching.task, return_exceptions=True)
    watching.watcher.close()


async def test_each_commit_is_one_event_once_the_writer_signals(
    table: Table, watching: Watching, results_file: Path
) -> None:
    await watching.commit_heard(table)
    assert watching.watcher.signals_commits
    before = await watching.quiet()

    for _ in range(10):
        await watching.commit_heard(table)
        # The server's own cursor, rewritten after each read, is no news to it.
        cursor.publish(str(results_file), "records", table.sequence)
    assert await watching.quiet() - before == 10


async def test_a_writer_that_does_not_signal_is_heard_through_the_wal(
    results_file: Path,
) -> None:
    table = Table(results_file, signal_commits=False)
    watching = Watching(results_file)
    try:
        await watching.commit_heard(table)
        await watching.commit_heard(table)
        assert not watching.watcher.signals_commits
    finally:
        watching.task.cancel()
        watching.watcher.close()
        table.close()


async def test_a_writer_that_stops_hands_back_to_the_directory_until_the_next_signals(
    results_file: Path, watching: Watching
) -> None:
    table = Table(results_file)
    await watching.commit_heard(table)
    assert watching.watcher.signals_commits

    table.close()  # the worker stops: its descriptors close
    await asyncio.wait_for(watching.changed.wait(), WITHIN_SECONDS)
    await watching.quiet()
    assert not watching.watcher.signals_commits

    # Another writer, one that does not signal: heard through the WAL again.
    other = Table(results_file, signal_commits=False)
    try:
        await watching.commit_heard(other)
        await watching.commit_heard(other)
        assert not watching.watcher.signals_commits
    finally:
        other.close()

    # The lock file goes (the results were discarded), then a new worker makes it again.
    lock.lock_path(str(results_file)).unlink()
    writer = Table(results_file)
    try:
        await watching.commit_heard(writer)
        await watching.commit_heard(writer)
        assert watching.watcher.signals_commits and watching.watcher.watching
    finally:
        writer.close()
