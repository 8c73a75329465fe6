"""A flood of 1,000-record frames, then one frame just under max_size, into a Docker worker
whose memory limit is `worker_memory_limit()`: no OOM kill, every record committed or counted
as dropped."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from contract.config import DEFAULT_MAX_SIZE, MIB, worker_memory_limit
from contract.status import Status, parse_line
from orchestrator import WebSocketsAPI

from ..helpers import wait_until
from .conftest import numbers
from .feed import Feed

FLOOD_SECONDS = 15


@pytest.fixture
def derived_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    """Provider containers get `worker_memory_limit()` (requested before `websockets`)."""
    limit = worker_memory_limit()
    monkeypatch.setenv("FEEDDOCK_DOCKER_MEMORY", f"{limit // MIB}m")
    return limit


def state(container: str) -> dict[str, object]:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{json .State}}", container],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[str, object] = json.loads(out)
    return found


def last_stats(container: str) -> Status | None:
    logs = subprocess.run(
        ["docker", "logs", "--tail", "50", container], capture_output=True, text=True, check=False
    ).stdout
    found = [s for s in map(parse_line, logs.splitlines()) if s is not None and s.event == "stats"]
    return found[-1] if found else None


def memory_peak(container: str) -> int | None:
    """The container's peak memory (cgroup v1 or v2), when the engine exposes it."""
    for path in ("/sys/fs/cgroup/memory/memory.max_usage_in_bytes", "/sys/fs/cgroup/memory.peak"):
        done = subprocess.run(
            ["docker", "exec", container, "cat", path], capture_output=True, text=True, check=False
        )
        if done.returncode == 0 and done.stdout.strip().isdigit():
            return int(done.stdout)
    return None


@pytest.mark.parametrize("runtime_name", ["docker"])
def test_a_flood_and_a_max_size_frame_fit_the_derived_memory_limit(
    derived_limit: int, websockets: WebSocketsAPI, feed: Feed
) -> None:
    status = websockets.create_connection(
        provider="demo", name="ingest_flood", symbol="aapl", url=feed.url, api_key="k", limit=None
    )
    container = str(status.results.provider_pid)
    results = Path(str(status.results.results_file))
    memory = subprocess.run(
        ["docker", "inspect", "-f", "{{.HostConfig.Memory}}", container],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert int(memory) == derived_limit
    feed.wait_subscribed()

    feed.stream(0, per_frame=1000)  # as fast as the feed can send
    deadline = time.monotonic() + FLOOD_SECONDS
    while time.monotonic() < deadline:
        assert state(container)["Running"] is True, state(container)
        time.sleep(0.5)
    flooded = feed.stop()
    sent = feed.big(DEFAULT_MAX_SIZE - 64)  # one frame just under max_size

    def settled() -> Status | None:
        stats = last_stats(container)
        done = stats is not None and stats["received"] == sent and stats["buffered"] == 0
        return stats if done and stats["written"] + stats["dropped"] == sent else None

    stats = wait_until(settled, timeout=120, interval=1.0)
    final = state(container)
    assert final["OOMKilled"] is False and final["Running"] is True
    peak = memory_peak(container)

    committed = numbers(results)
    assert len(committed) == stats["written"] == len(set(committed))
    assert set(committed) <= set(range(1, sent + 1))
    assert stats["written"] + stats["dropped"] == sent
    print(
        f"\nflood {FLOOD_SECONDS} s + {sent - flooded}-record frame under "
        f"{derived_limit // MIB} MiB: sent {sent}, committed {stats['written']}, "
        f"dropped {stats['dropped']}, lost 0, OOMKilled false, peak "
        f"{'n/a' if peak is None else f'{peak / MIB:.0f} MiB'}"
    )
