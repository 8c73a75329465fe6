"""The writer is never starved by the receive loop: at 50,000 msg/s either it keeps up or the
worker stops reading, so commit lag stays bounded; past `stall_seconds` of a writer that makes
no progress, the oldest records are dropped, counted and reported, and nothing else is lost."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from ..helpers import wait_until
from .conftest import numbers
from .feed import Feed
from .worker import WorkerProcess


def test_at_50000_per_second_commit_lag_stays_bounded_and_nothing_is_lost(
    feed: Feed, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    results = tmp_path / "results.db"
    worker = start_worker(results)
    feed.stream(50_000, per_frame=50, limit=300_000)
    sent = feed.join()
    wait_until(lambda: numbers(results)[-1] == sent, timeout=30)
    stopped = worker.stop()

    assert numbers(results) == list(range(1, sent + 1))
    assert stopped["received"] == stopped["written"] == sent and stopped["dropped"] == 0
    stats = worker.events("stats")
    assert stats, "no stats line in a 6 s stream"
    # max_backlog_seconds is 0.5: the oldest uncommitted record never waits much longer.
    backlog, lag = max(s["backlog"] for s in stats), max(s["commit_lag"] for s in stats)
    assert backlog < 1.5 and lag < 2.0
    print(
        f"\n50,000 msg/s for {sent:,} records: committed {sent}, dropped 0, lost 0, "
        f"max backlog {backlog:.3f} s, max commit lag {lag:.3f} s"
    )


def test_a_writer_stuck_past_stall_seconds_drops_the_oldest_and_counts_every_one(
    feed: Feed, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    results = tmp_path / "results.db"
    worker = start_worker(results, stall_seconds=2.0, buffer_bytes=2 * 2**20)
    lock = sqlite3.connect(results, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # no commit succeeds while this is held
    feed.stream(5000, per_frame=50)
    worker.wait_event("overflow", timeout=20)
    worker.wait_for(lambda s: any(x.event == "stats" and x["dropped"] > 0 for x in s))
    lock.execute("ROLLBACK")
    lock.close()
    worker.wait_event("write_recovered")
    sent = feed.stop()
    wait_until(lambda: numbers(results)[-1:] == [sent], timeout=20)
    stopped = worker.stop()

    committed = numbers(results)
    assert committed == sorted(set(committed))  # in order, no duplicate
    assert len(committed) + stopped["dropped"] == sent and stopped["dropped"] > 0
    assert stopped["received"] == sent and stopped["lost"] == 0
    assert worker.events("dropped"), "drops must be reported, not only counted"
    print(
        f"\nwriter stuck > stall_seconds: sent {sent}, committed {len(committed)}, "
        f"dropped {stopped['dropped']} (counted, reported), lost 0"
    )
