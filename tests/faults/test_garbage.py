"""Garbage and oversized frames: counted in their own counter, logged at a limited rate, and
never in the way of the records around them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from contract.status import SUPPRESSED_EVENT, THROTTLE_BURST

from ..helpers import wait_until
from .conftest import numbers
from .feed import Feed
from .worker import WorkerProcess

GARBAGE_FRAMES = 2000
MAX_SIZE = 64 * 1024


def test_garbage_and_oversized_frames_are_counted_and_their_lines_rate_limited(
    feed: Feed, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    results = tmp_path / "results.db"
    worker = start_worker(results, params={"connect_kwargs": {"max_size": MAX_SIZE}})
    feed.stream(5000, per_frame=10, limit=1000)
    feed.join()
    feed.garbage(GARBAGE_FRAMES)
    feed.oversize(MAX_SIZE + 1)  # the worker closes with 1009 and reconnects
    feed.wait_subscribed(2)
    feed.stream(5000, per_frame=10, limit=1000)
    wait_until(lambda: len(numbers(results)) == 2000, timeout=20)
    sent = feed.stop()
    stopped = worker.stop()

    assert sent == 2000 and numbers(results) == list(range(1, 2001))
    assert stopped["received"] == stopped["written"] == 2000
    assert stopped["unreadable"] == GARBAGE_FRAMES + 1
    assert (stopped["reconnects"], stopped["dropped"], stopped["lost"]) == (1, 0, 0)

    shown = worker.events("unreadable")
    summaries = [s for s in worker.events(SUPPRESSED_EVENT) if s["kind"] == "unreadable"]
    assert len(shown) <= 2 * THROTTLE_BURST  # a burst per 10 s window, not 2,000 lines
    assert len(shown) + sum(s["count"] for s in summaries) == GARBAGE_FRAMES
    assert "unreadable frames in the last 10 s" in summaries[0].message
    disconnected = worker.last("disconnected")
    assert disconnected is not None and "larger than max_size" in disconnected.message
    print(
        f"\ngarbage {GARBAGE_FRAMES} frames + 1 oversized: sent {sent}, committed {sent}, "
        f"dropped 0, lost 0, unreadable {stopped['unreadable']}, {len(shown)} unreadable lines "
        f"+ {len(summaries)} summaries, reconnected once"
    )
