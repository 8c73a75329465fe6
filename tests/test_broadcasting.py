"""Broadcasting through the Python API: start/stop independent of the provider, and `listen`."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from contract.results import connect as open_results
from orchestrator import (
    AuthTokenError,
    ParameterError,
    PortInUseError,
    StateError,
    WebSocketsAPI,
    listen,
)
from orchestrator.listen import alisten

from .helpers import free_port, port_is_free, wait_until


def stored_sequences(path: str) -> list[int]:
    import orjson

    connection = open_results(path)
    try:
        rows = connection.execute("SELECT message FROM records ORDER BY id").fetchall()
    finally:
        connection.close()
    return [orjson.loads(row[0])["sequence"] for row in rows]


class Collector:
    """A real listener in a background thread, keeping every record it receives."""

    def __init__(self, url: str, **options: object) -> None:
        self.records: list[dict[str, object]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, options), daemon=True)
        self._thread.start()

    def _run(self, url: str, options: dict[str, object]) -> None:
        async def consume() -> None:
            async for record in alisten(url, **options):  # type: ignore[arg-type]
                self.records.append(record)
                if self._stop.is_set():
                    return

        try:
            asyncio.run(consume())
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def test_start_broadcast_with_the_connection_and_listen(websockets: WebSocketsAPI, market):
    port = free_port()
    conn = websockets.create_connection(
        provider="demo",
        name="live",
        symbol="aapl",
        url=market.url,
        start_broadcast=True,
        broadcast_port=port,
        sleep_time=0.05,
    )
    status = conn.results
    assert status.is_broadcasting is True
    assert status.broadcast_address == f"ws://127.0.0.1:{port}"
    assert status.broadcast_pid is not None
    assert status.broadcast_pid != status.provider_pid

    out = io.StringIO()
    assert listen(status.broadcast_address, file=out, max_records=5) == 5
    lines = out.getvalue().splitlines()
    assert len(lines) == 5
    assert all('"symbol":"AAPL"' in line for line in lines)


def test_listener_gets_every_record_once_across_provider_stop_restart_and_clear(
    websockets: WebSocketsAPI, market
):
    port = free_port()
    conn = websockets.create_connection(
        provider="demo",
        name="steady",
        symbol="aapl,msft",
        url=market.url,
        limit=None,
        start_broadcast=True,
        broadcast_port=port,
        sleep_time=0.05,
    )
    path = conn.results.results_file
    listener = Collector(f"ws://127.0.0.1:{port}")
    wait_until(lambda: len(listener.records) >= 10)

    stopped = websockets.stop_connection("steady").results
    assert stopped.is_running is False
    assert stopped.is_broadcasting is True
    websockets.clear_results("steady")
    restarted = websockets.restart_connection("steady").results
    assert restarted.is_broadcasting is True
    wait_until(lambda: len(stored_sequences(path)) >= 20)
    websockets.stop_connection("steady")

    last = stored_sequences(path)[-1]
    wait_until(lambda: listener.records and listener.records[-1]["sequence"] == last)
    listener.stop()
    received = [r["sequence"] for r in listener.records]
    assert len(received) == len(set(received)), "a record arrived twice"
    assert received == sorted(received), "records arrived out of order"
    # Every record stored after the clear reached the listener.
    assert set(stored_sequences(path)) <= set(received)


def test_stop_broadcasting_keeps_the_provider_and_frees_the_port(websockets, market):
    port = free_port()
    websockets.create_connection(
        provider="demo",
        name="quiet",
        symbol="aapl",
        url=market.url,
        start_broadcast=True,
        broadcast_port=port,
    )
    status = websockets.stop_broadcasting("quiet").results
    assert status.is_broadcasting is False
    assert status.broadcast_address is None
    assert status.broadcast_pid is None
    assert status.is_running is True
    wait_until(lambda: port_is_free(port))
    with pytest.raises(StateError, match="not broadcasting"):
        websockets.stop_broadcasting("quiet")

    again = websockets.start_broadcasting("quiet", port=port).results
    assert again.broadcast_address == f"ws://127.0.0.1:{port}"


def test_a_port_in_use_is_named(websockets, market):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        websockets.create_connection(provider="demo", name="p", symbol="aapl", url=market.url)
        with pytest.raises(PortInUseError, match=f"Port {port} on 127.0.0.1 is already in use"):
            websockets.start_broadcasting("p", port=port)
    assert websockets.get_client_status("p").results[0].is_broadcasting is False


def test_uvicorn_kwargs_pass_through_and_reserved_keys_are_refused(websockets, market):
    websockets.create_connection(provider="demo", name="u", symbol="aapl", url=market.url)
    with pytest.raises(ParameterError, match="may not set port"):
        websockets.start_broadcasting("u", port=free_port(), uvicorn_kwargs={"port": 1})
    port = free_port()
    status = websockets.start_broadcasting(
        "u", port=port, uvicorn_kwargs='{"ws_ping_interval": 5, "timeout_keep_alive": 2}'
    ).results
    assert status.is_broadcasting


def test_listeners_must_present_the_connection_token(websockets, market):
    port = free_port()
    websockets.create_connection(
        provider="demo",
        name="secret",
        symbol="aapl",
        url=market.url,
        auth_token="s3cret",
        start_broadcast=True,
        broadcast_port=port,
    )
    address = f"ws://127.0.0.1:{port}"
    with pytest.raises(AuthTokenError):
        listen(address, file=io.StringIO(), max_records=1)
    with pytest.raises(AuthTokenError):
        listen(address, auth_token="guess", file=io.StringIO(), max_records=1)
    out = io.StringIO()
    assert listen(address, auth_token="s3cret", file=out, max_records=2) == 2
    assert "s3cret" not in out.getvalue()


def test_kill_stops_the_broadcast_too(websockets, market):
    port = free_port()
    websockets.create_connection(
        provider="demo",
        name="gone",
        symbol="aapl",
        url=market.url,
        start_broadcast=True,
        broadcast_port=port,
    )
    websockets.kill("gone")
    wait_until(lambda: port_is_free(port))


# -- framing, wake, retention and memory through the Python API, on both runtimes -----------


def broadcast_memory_kib(worker_id: int | str, field: str) -> int:
    """`VmRSS` or `VmHWM` of the broadcast server: a pid, or a container's main process."""
    if isinstance(worker_id, str):
        worker_id = int(
            subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Pid}}", worker_id],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    for line in Path(f"/proc/{worker_id}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {worker_id}")


def oom_killed(worker_id: int | str) -> bool:
    if isinstance(worker_id, int):
        return False  # a process is not in a memory cgroup of ours
    state = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.OOMKilled}}", worker_id],
        capture_output=True,
        text=True,
        check=True,
    )
    return state.stdout.strip() == "true"


async def receive(connection: ClientConnection, count: int, within: float) -> list[str]:
    frames: list[str] = []
    async with asyncio.timeout(within):
        while len(frames) < count:
            frame = await connection.recv()
            assert isinstance(frame, str)
            frames.append(frame)
    return frames


def test_a_plain_websocket_client_gets_one_stored_record_per_frame(websockets, demo_market):
    """What a browser's `WebSocket` does: no options, `JSON.parse` on every message."""
    market = demo_market(rate=0)
    port = free_port()
    conn = websockets.create_connection(
        provider="demo",
        name="bcast_plain",
        symbol="aapl",
        url=market.url,
        limit=None,
        start_broadcast=True,
        broadcast_port=port,
    )
    path = conn.results.results_file

    async def run() -> list[str]:
        async with connect(f"ws://127.0.0.1:{port}") as plain:
            for burst in (1, 300, 7, 2000, 1, 50):
                await asyncio.to_thread(market.flood, burst, min(burst, 100))
            return await receive(plain, 2359, within=30)

    frames = asyncio.run(run())
    parsed = [json.loads(frame) for frame in frames]  # 100 % parse, one record each
    stored = stored_messages(path)
    assert frames == stored[-len(frames) :]
    sequences = [record["sequence"] for record in parsed]
    assert sequences == list(range(sequences[0], sequences[0] + 2359))


def test_commits_reach_listeners_without_waiting_for_sleep_time(websockets, demo_market):
    """The broadcast server is woken by the provider's commits, also from another container."""
    market = demo_market(rate=0)
    port = free_port()
    websockets.create_connection(
        provider="demo",
        name="bcast_wake",
        symbol="aapl",
        url=market.url,
        start_broadcast=True,
        broadcast_port=port,
        sleep_time=5,
    )

    async def latencies() -> list[float]:
        delays = []
        async with connect(f"ws://127.0.0.1:{port}") as plain:
            for _ in range(10):
                await asyncio.to_thread(market.flood, 1, 1)
                [frame] = await receive(plain, 1, within=10)
                sent = datetime.fromisoformat(json.loads(frame)["date"]).timestamp()
                delays.append(time.time() - sent)
                await asyncio.sleep(0.1)
        return delays

    delays = asyncio.run(latencies())
    assert max(delays) < 1.0, delays  # sleep_time is 5 s


def test_at_5000_per_second_with_the_default_limit_every_record_reaches_a_listener(
    websockets, demo_market
):
    """limit=1000 and sleep_time=0.25 (the defaults), 10 s at 5,000 records/s: no gap.

    The writer keeps rows the broadcast server has not read (contract.cursor), so a server
    held up by a busy machine catches up instead of losing records."""
    market = demo_market(rate=0)
    port = free_port()
    websockets.create_connection(
        provider="demo",
        name="bcast_5k",
        symbol="aapl",
        url=market.url,
        start_broadcast=True,
        broadcast_port=port,
    )
    count = 50_000

    async def run() -> list[str]:
        async with connect(f"ws://127.0.0.1:{port}") as plain:
            flood = asyncio.create_task(asyncio.to_thread(market.flood, count, 50, 5000))
            frames = await receive(plain, count, within=60)
            await flood
            return frames

    first = market.last_sequence + 1
    frames = asyncio.run(run())
    assert [json.loads(f)["sequence"] for f in frames] == list(range(first, first + count))


def test_forty_idle_listeners_with_distinct_filters_leave_the_server_within_its_budget(
    websockets, demo_market
):
    """10,000 records/s, 40 listeners that never read, each with its own filter (all matching):
    the server stays within its memory budget (never OOM-killed in its container) and the
    listeners that read get everything."""
    market = demo_market(rate=0)
    port = free_port()
    conn = websockets.create_connection(
        provider="demo",
        name="bcast_mem",
        symbol="aapl",
        url=market.url,
        limit=None,  # memory is the subject here; retention has its own test
        start_broadcast=True,
        broadcast_port=port,
    )
    server = conn.results.broadcast_pid
    assert server is not None
    url = f"ws://127.0.0.1:{port}"
    count = 80_000

    async def run() -> tuple[int, list[str], list[str]]:
        idle = [await connect(f"{url}/?symbol=aapl,z{i}", max_queue=1) for i in range(40)]
        async with connect(url) as plain, connect(f"{url}/?format=ndjson") as batched:
            baseline = broadcast_memory_kib(server, "VmRSS")
            flood = asyncio.create_task(asyncio.to_thread(market.flood, count, 100, 10_000))
            frames, batches = await asyncio.gather(
                receive(plain, count, within=90), receive_lines(batched, count, within=90)
            )
            await flood
        await asyncio.gather(*(connection.close() for connection in idle))
        return baseline, frames, batches

    first = market.last_sequence + 1
    baseline, frames, lines = asyncio.run(run())
    growth = (broadcast_memory_kib(server, "VmHWM") - baseline) * 1024
    budget = 32 * 2**20 + 40 * 512 * 1024 + 24 * 2**20  # buffer + sockets + allocator slack
    assert growth <= budget, f"grew {growth / 2**20:.1f} MiB"
    assert not oom_killed(server)
    expected = list(range(first, first + count))
    assert [json.loads(f)["sequence"] for f in frames] == expected
    assert [json.loads(line)["sequence"] for line in lines] == expected


async def receive_lines(connection: ClientConnection, count: int, within: float) -> list[str]:
    lines: list[str] = []
    async with asyncio.timeout(within):
        while len(lines) < count:
            frame = await connection.recv()
            assert isinstance(frame, str)
            lines += frame.split("\n")
    return lines


def stored_messages(path: str) -> list[str]:
    connection = open_results(path)
    try:
        return [row[0] for row in connection.execute("SELECT message FROM records ORDER BY id")]
    finally:
        connection.close()
