"""A full disk under a streaming worker: reported at once, recovered when space returns, and a
stop while it is full still ends in time with every record accounted for."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from ..helpers import wait_until
from .conftest import numbers
from .feed import Feed
from .worker import WorkerProcess

RATE = 1000


def test_a_full_disk_is_reported_then_recovered_without_losing_a_record(
    feed: Feed, start_worker: Callable[..., WorkerProcess], small_disk: Path
) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * 1_300_000)
    results = small_disk / "results.db"
    worker = start_worker(results)
    feed.stream(RATE, per_frame=10)

    failed = worker.wait_event("write_failed", timeout=30)
    assert failed["problem"] == "full" and failed.level == "ERROR"
    after = len(worker.statuses)
    worker.wait_for(lambda s: any(x.event == "stats" for x in s[after:]))
    stats = next(x for x in worker.statuses[after:] if x.event == "stats")
    assert stats["write_problem"] == "full"
    assert stats["backlog"] < 4.0  # reported while the first stuck rows were fresh

    sent = feed.stop()  # the file grows with every record: make room for what is sent
    filler.unlink()
    recovered = worker.wait_event("write_recovered", timeout=10)
    assert recovered["failed_seconds"] > 0
    wait_until(lambda: numbers(results)[-1] == sent, timeout=20)
    stopped = worker.stop()

    assert numbers(results) == list(range(1, sent + 1))
    assert stopped["received"] == stopped["written"] == sent
    assert (stopped["dropped"], stopped["lost"], stopped["write_problem"]) == (0, 0, None)
    with sqlite3.connect(results) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    print(
        f"\nfull disk (2 MiB tmpfs): sent {sent}, committed {sent}, dropped 0, lost 0, "
        f"recovered {recovered['failed_seconds']:.1f} s after the first failed commit"
    )


def test_stopping_while_the_disk_is_full_ends_in_time_and_counts_what_is_lost(
    feed: Feed, start_worker: Callable[..., WorkerProcess], small_disk: Path
) -> None:
    results = small_disk / "results.db"
    worker = start_worker(results)
    filler = small_disk / "filler"
    with filler.open("wb") as out:  # take every byte that is left
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    feed.stream(RATE, per_frame=50)
    worker.wait_event("write_failed", timeout=30)

    started = time.monotonic()
    stopped = worker.stop()
    took = time.monotonic() - started
    sent = feed.stop()

    assert took < 8.0  # docker stop sends SIGKILL after 10 s
    committed = len(numbers(results)) if results.exists() else 0
    assert stopped["written"] == committed
    assert stopped["received"] == stopped["written"] + stopped["dropped"] + stopped["lost"]
    assert stopped["lost"] > 0 and stopped["received"] <= sent
    assert worker.events("write_abandoned")[0]["lost"] == stopped["lost"]
    print(
        f"\nstop on a full disk: {took:.1f} s; sent {sent}, received {stopped['received']}, "
        f"committed {committed}, dropped {stopped['dropped']}, lost {stopped['lost']} (counted)"
    )
