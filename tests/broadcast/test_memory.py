"""Memory is bounded across all listeners: 40 listeners that never read, each with its own
filter, at 10,000 records/s, cost the server its budget at most, and the others nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from broadcast_image.channel import HIGH_WATER_BYTES
from broadcast_image.framing import SEGMENT_BYTES
from contract.config import BroadcastConfig

from .helpers import Listener, Table, WorkerProcess

Start = Callable[..., tuple[WorkerProcess, str]]
RATE = 10_000
SECONDS = 8
IDLE = 40
MIB = 2**20
# Python's allocator keeps freed memory in its arenas; what it may add on top of the bytes the
# server accounts for.
ALLOCATOR_SLACK = 24 * MIB


def memory_kib(pid: int, field: str) -> int:
    """`VmRSS` (now) or `VmHWM` (peak) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for pid {pid}")


def write_at_rate(path: Path, rate: int, seconds: float) -> list[str]:
    """A writer of its own (like the provider worker): `rate` records/s in 100-record commits."""
    table = Table(path)
    table.sequence = 10**6  # numbers of its own, after whatever the fixture's table wrote
    written: list[str] = []
    start = time.monotonic()
    try:
        for tick in range(int(rate * seconds) // 100):
            written += table.insert(100, pad=150)
            delay = start + (tick + 1) * 100 / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    finally:
        table.close()
    return written


async def test_forty_idle_listeners_with_distinct_filters_stay_within_the_memory_budget(
    results_file: Path, table: Table, broadcast: Start
) -> None:
    process, url = broadcast(sleep_time=0.25)
    pid = process.proc.pid
    per_record = await Listener(url).open()
    batched = await Listener(f"{url}/?format=ndjson").open()
    # Distinct filters that all match: each idle listener would need its own copy of the
    # stream if frames were copied per filter.
    idle = [
        await Listener(f"{url}/?symbol=aapl,z{i}", max_queue=1).open(read=False)
        for i in range(IDLE)
    ]
    await asyncio.to_thread(process.wait_event, "open", 10, IDLE + 2)
    baseline = memory_kib(pid, "VmRSS") * 1024

    written = await asyncio.to_thread(write_at_rate, results_file, RATE, SECONDS)

    for active in (per_record, batched):
        await active.wait_count(len(written), within=30)
    peak = memory_kib(pid, "VmHWM") * 1024
    defaults = BroadcastConfig(results_file="x")
    budget = defaults.max_buffer_bytes + IDLE * (HIGH_WATER_BYTES + SEGMENT_BYTES)
    assert peak - baseline <= budget + ALLOCATOR_SLACK, (
        f"grew {(peak - baseline) / MIB:.1f} MiB; budget {budget / MIB:.1f} MiB"
    )
    # The active listeners got everything, in order, never closed; one record per frame for
    # the plain one.
    for active in (per_record, batched):
        assert active.lines == written
        assert active.closed is None
    assert per_record.frames == written
    # Each idle listener was closed as too slow; it finds an in-order prefix, then the reason.
    slow = [e for e in process.events if e["event"] == "slow_listener"]
    assert len(slow) == IDLE
    for listener in idle:
        listener.start_reading()
    for listener in idle:
        closed = await listener.wait_closed(within=20)
        assert closed.rcvd is not None and closed.rcvd.code == 1013
        assert closed.rcvd.reason.startswith("listener too slow: ")
        assert listener.lines == written[: len(listener.lines)]
    print(
        f"RSS {baseline / MIB:.0f} MiB -> peak {peak / MIB:.0f} MiB "
        f"(+{(peak - baseline) / MIB:.1f}; budget {budget / MIB:.0f} MiB)"
    )
    for listener in (per_record, batched, *idle):
        await listener.close()
