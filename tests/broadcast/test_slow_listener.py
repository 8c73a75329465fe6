"""A listener that stops reading is dropped at the bound and never delays the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .helpers import Listener, Table, WorkerProcess

Start = Callable[..., tuple[WorkerProcess, str]]
SLEEP_TIME = 0.05
MAX_PENDING = 2_000
# What "not delayed" means here: a batch reaches the readers within one poll interval plus
# this margin (a loaded CI machine, not the server, sets it).
MARGIN_SECONDS = 0.5


async def test_stalled_listener_is_disconnected_and_the_others_are_not_delayed(
    table: Table, broadcast: Start
) -> None:
    process, url = broadcast(sleep_time=SLEEP_TIME, max_pending_records=MAX_PENDING)
    readers = [await Listener(url).open() for _ in range(3)]
    # Stops reading at once: max_queue=1 makes its client stop draining the socket.
    stalled = await Listener(url, max_queue=1).open(read=False)
    expected: list[str] = []
    worst = 0.0
    for _ in range(40):  # ~40 MB: far more than the socket buffers hold
        batch = table.insert(1_000, pad=1_000)
        written_at = time.monotonic()
        expected += batch
        for reader in readers:
            await reader.wait_count(len(expected), within=10)
            worst = max(worst, reader.arrivals[len(expected) - 1] - written_at)
        if not stalled.reading and any(e["event"] == "slow_listener" for e in process.events):
            # Once it reads again (within the server's close timeout) it finds an in-order
            # prefix, then the close with the reason.
            stalled.start_reading()
    assert worst <= SLEEP_TIME + MARGIN_SECONDS, f"a reader waited {worst:.3f}s for a batch"
    for reader in readers:
        assert reader.lines == expected

    event = await asyncio.to_thread(process.wait_event, "slow_listener")
    assert event["slow_disconnects"] == 1
    assert event["max_pending_records"] == MAX_PENDING
    if not stalled.reading:
        stalled.start_reading()
    closed = await stalled.wait_closed(within=20)
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1013
    assert closed.rcvd.reason.startswith("listener too slow: ")
    assert stalled.lines == expected[: len(stalled.lines)]
    assert len(stalled.lines) < len(expected)

    # The others go on undisturbed.
    expected += table.insert(10)
    for reader in readers:
        await reader.wait_count(len(expected))
        assert reader.lines == expected
        await reader.close()
