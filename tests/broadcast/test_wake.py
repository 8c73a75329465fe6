"""Commits wake the server; without notifications it still reads every `sleep_time`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from .helpers import Listener, Table, WorkerProcess

Start = Callable[..., tuple[WorkerProcess, str]]
# What a loaded CI machine (not the server) may add to a delivery.
MARGIN_SECONDS = 0.3


async def latencies(listener: Listener, table: Table, count: int, pause: float) -> list[float]:
    """Insert `count` single-record commits `pause` apart; how long each took to arrive."""
    delays = []
    for _ in range(count):
        written_at = time.monotonic()
        table.insert(1)
        await listener.wait_count(len(listener.lines) + 1, within=10)
        delays.append(listener.arrivals[-1] - written_at)
        await asyncio.sleep(pause)
    return delays


async def test_a_commit_reaches_listeners_long_before_sleep_time(
    table: Table, broadcast: Start
) -> None:
    _, url = broadcast(sleep_time=5)
    listener = await Listener(url).open()
    delays = await latencies(listener, table, 20, 0.05)
    assert max(delays) < MARGIN_SECONDS, delays
    await listener.close()


async def test_a_writer_that_does_not_signal_commits_is_heard_through_the_wal(
    results_file: Path, broadcast: Start
) -> None:
    """Another writer (or an older worker): its WAL writes wake the server, then rechecks find
    the commit once it is visible."""
    table = Table(results_file, signal_commits=False)
    _, url = broadcast(sleep_time=5)
    listener = await Listener(url).open()
    try:
        delays = await latencies(listener, table, 20, 0.05)
        assert max(delays) < MARGIN_SECONDS, delays
    finally:
        table.close()
        await listener.close()


async def test_a_signalling_writer_wakes_the_server_once_per_commit(
    table: Table, broadcast: Start
) -> None:
    """Once the writer signals its commits, one read per commit: no WAL events, no rechecks
    (the server's reads are counted by its stats line)."""
    process, url = broadcast(sleep_time=5, stats_seconds=0.5)
    listener = await Listener(url).open()
    delays = await latencies(listener, table, 20, 0.05)
    assert max(delays) < MARGIN_SECONDS, delays
    await listener.close()
    stats = process.wait_event("stats", where=lambda event: event["records_read"] == 20)
    # One query per commit (its rows), plus the start's few; WAL events would add reads and
    # rechecks (measured: about 3 queries per commit without the signal).
    assert stats["queries"] <= 20 + 5, stats
    # And one file event per commit: the WAL's writes are not even queued by the kernel once
    # the signal is seen (measured before: about 20 events per commit).
    assert stats["notifications"] <= 20 + 5, stats
    assert not [event for event in process.events if event["event"] == "wake_unavailable"]


async def test_without_notifications_records_still_arrive_within_sleep_time(
    table: Table, broadcast: Start
) -> None:
    sleep_time = 0.4
    _, url = broadcast(sleep_time=sleep_time, wake_on_commit=False)
    listener = await Listener(url).open()
    delays = await latencies(listener, table, 12, 0.13)
    assert max(delays) <= sleep_time + MARGIN_SECONDS, delays
    # The reads follow the clock, not the commits: some records waited for the next read.
    assert max(delays) > 0.1, delays
    await listener.close()


async def test_a_directory_that_appears_later_is_read_by_polling_then_watched(
    tmp_path: Path, processes: list[WorkerProcess], broadcast: Start
) -> None:
    """No directory to watch at start: a `wake_unavailable` line, polling every sleep_time,
    then notifications once the directory exists."""
    from .helpers import free_port, start_broadcast

    results = tmp_path / "later" / "results.db"
    process = start_broadcast(results, free_port(), sleep_time=1.0)
    processes.append(process)
    url = str(process.wait_event("listening")["address"])
    assert "cannot watch" in process.wait_event("wake_unavailable")["reason"]
    listener = await Listener(url).open()
    table = Table(results)  # creates the directory, the file and the table
    try:
        first = await latencies(listener, table, 1, 0)
        assert first[0] <= 1.0 + MARGIN_SECONDS
        await asyncio.sleep(1.2)  # a read has happened since: the directory is watched now
        delays = await latencies(listener, table, 10, 0.05)
        assert max(delays) < MARGIN_SECONDS, delays
    finally:
        table.close()
        await listener.close()
