"""kill -9 of a process worker streaming 20,000 msg/s: what it received but had not committed
is under one second's worth, and its last counters line bounds it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..helpers import wait_until
from .conftest import numbers
from .feed import Feed
from .worker import WorkerProcess

RATE = 20_000


def test_kill_9_loses_under_one_second_and_a_new_worker_continues_the_file(
    feed: Feed, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    results = tmp_path / "results.db"
    worker = start_worker(results)
    feed.stream(RATE, per_frame=20)
    worker.wait_for(lambda s: any(x.event == "stats" and x["written"] >= 3 * RATE for x in s), 20)
    last = worker.last("stats")
    assert last is not None
    worker.kill()
    sent_before_kill = feed.count()

    committed = numbers(results)
    # Committed in order, exactly once, with nothing dropped before the kill.
    assert committed == list(range(1, len(committed) + 1))
    assert len(committed) >= last["written"]
    lost = sent_before_kill - len(committed)  # includes what still sat in the socket
    assert 0 <= lost < RATE, f"lost {lost} of {sent_before_kill} (last counters: {last.data})"
    # What the last counters line tells: the rows the worker held then (received, not yet
    # written), which is what a kill at that moment would have lost.
    held = last["received"] - last["written"] - last["dropped"]
    assert 0 <= held < RATE
    print(
        f"\nkill -9 at {RATE}/s: sent {sent_before_kill}, committed {len(committed)}, "
        f"dropped 0, lost {lost} (incl. socket backlog); last counters: received "
        f"{last['received']}, written {last['written']}, held {held}"
    )

    # A new worker on the same file: records continue after the old ones, ids too.
    again = start_worker(results)
    feed.wait_subscribed(2)
    again.wait_for(lambda s: any(x.event == "stats" and x["written"] >= RATE for x in s), 20)
    sent = feed.stop()
    wait_until(lambda: numbers(results)[-1] == sent)
    stopped = again.stop()
    after = numbers(results)[len(committed) :]
    assert after == list(range(after[0], sent + 1))
    assert after[0] > sent_before_kill - RATE
    assert stopped["received"] == stopped["written"] == len(after)
    assert stopped["dropped"] == stopped["lost"] == 0
