"""With the defaults (`limit=1000`, `sleep_time=0.25`) at 5,000 records/s for 10 s, a listener
gets every record: the writer keeps rows until the broadcast server has read them.

The case without commit notifications reads only every 0.25 s (1,250 new rows each time, more
than `limit`), so it passes only when the provider worker's writer honours the read position
the server publishes (`contract.cursor.trim_floor`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from providers.demo.simulator import DemoSimulator

from .helpers import Listener, WorkerProcess

Start = Callable[..., tuple[WorkerProcess, str]]
RATE = 5_000
SECONDS = 10


def provider_env(sim_url: str, results_file: Path) -> dict[str, str]:
    config: dict[str, Any] = {
        "provider": "demo",
        "params": {"name": "retention", "symbol": "aapl", "url": sim_url},
        "results_file": str(results_file),
    }  # `limit` left at its default, 1000
    return {"FEEDDOCK_CONFIG": orjson.dumps(config).decode(), "FEEDDOCK_API_KEY": "demo"}


@pytest.mark.parametrize("wake_on_commit", [True, False], ids=["notified", "polling"])
async def test_every_record_reaches_the_listener_at_5000_per_second_with_the_default_limit(
    results_file: Path,
    broadcast: Start,
    processes: list[WorkerProcess],
    demo_market: Callable[..., DemoSimulator],
    wake_on_commit: bool,
) -> None:
    simulator = demo_market(rate=0)
    worker = WorkerProcess("provider_image", provider_env(simulator.url, results_file))
    processes.append(worker)
    await asyncio.to_thread(worker.wait_event, "ready")
    process, url = broadcast(sleep_time=0.25, wake_on_commit=wake_on_commit)
    listener = await Listener(url).open()
    first = simulator.last_sequence + 1
    count = RATE * SECONDS
    await asyncio.to_thread(simulator.flood, count, RATE // 100, RATE)
    await listener.wait_for(
        lambda lis: len(lis.lines) >= count or lis.closed is not None, within=30
    )
    assert listener.closed is None, f"closed: {listener.closed!r}; {process.output()[-2000:]}"
    sequences = [orjson.loads(line)["sequence"] for line in listener.lines]
    assert sequences == list(range(first, first + count))
    assert not [e for e in process.events if e["event"] == "gap"]
    await listener.close()
