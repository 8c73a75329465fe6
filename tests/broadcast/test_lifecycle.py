"""Starting, refusing to start, and stopping the broadcast process."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from contract.config import BroadcastConfig

from .helpers import Listener, Table, WorkerProcess, free_port, port_is_free, start_broadcast

Start = Callable[..., tuple[WorkerProcess, str]]


def test_listening_line_reads_like_the_spec(broadcast: Start) -> None:
    process, url = broadcast()
    line = next(line for line in process.lines if "listening" in line)
    assert line.startswith(f"BROADCAST INFO:     Stream results from {url}\t{{")
    assert url.startswith("ws://127.0.0.1:")


def test_port_in_use_is_reported_with_host_and_port_and_exit_code_5(
    results_file: Path, processes: list[WorkerProcess]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = start_broadcast(results_file, port)
        processes.append(process)
        event = process.wait_event("port_in_use")
        assert process.proc.wait(10) == 5
    assert event["message"] == f"Port {port} on 127.0.0.1 is already in use"
    assert (event["host"], event["port"]) == ("127.0.0.1", port)
    assert "BROADCAST ERROR:" in process.output()


async def test_sigterm_closes_listeners_stops_with_0_and_frees_the_port(
    table: Table, broadcast: Start
) -> None:
    process, url = broadcast()
    listener = await Listener(url).open()
    table.insert(1)
    await listener.wait_count(1)
    port = int(url.rsplit(":", 1)[1])
    assert not port_is_free(port)
    assert process.stop() == 0
    closed = await listener.wait_closed()
    assert closed.rcvd is not None and closed.rcvd.code == 1012  # service restart
    assert process.wait_event("stopped")["records"] == 1
    assert port_is_free(port)


async def test_sigterm_does_not_hang_on_a_listener_that_stopped_reading(
    table: Table, broadcast: Start
) -> None:
    process, url = broadcast(uvicorn_kwargs={"timeout_graceful_shutdown": 1})
    stalled = await Listener(url, max_queue=1).open(read=False)
    for _ in range(20):
        table.insert(1_000, pad=1_000)
    assert process.stop(timeout=15) == 0
    await stalled.close()


def test_parent_gone_stops_the_server_when_asked(broadcast: Start) -> None:
    process, _ = broadcast(exit_on_stdin_eof=True)
    assert process.proc.stdin is not None
    process.proc.stdin.close()
    process.wait_event("parent_gone")
    assert process.proc.wait(10) == 0


def test_reserved_uvicorn_kwargs_are_a_config_error_with_exit_code_2(
    results_file: Path, processes: list[WorkerProcess]
) -> None:
    process = start_broadcast(results_file, free_port(), uvicorn_kwargs={"port": 1})
    processes.append(process)
    event = process.wait_event("config_error")
    assert process.proc.wait(10) == 2
    assert "uvicorn_kwargs may not set port" in event["message"]


@pytest.mark.parametrize("key", ["app", "host", "port", "log_config", "lifespan", "workers"])
def test_uvicorn_kwargs_that_conflict_are_rejected(key: str) -> None:
    with pytest.raises(ValueError, match=f"may not set {key}"):
        BroadcastConfig(results_file="x.db", uvicorn_kwargs={key: 1})


def test_unknown_uvicorn_kwargs_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"unknown uvicorn\.Config arguments"):
        BroadcastConfig(results_file="x.db", uvicorn_kwargs={"ws_max_sise": 1})


def test_config_defaults_match_the_spec() -> None:
    config = BroadcastConfig.from_env({"FEEDDOCK_BROADCAST_CONFIG": '{"results_file": "r.db"}'})
    assert (config.table_name, config.host, config.port) == ("records", "127.0.0.1", 6666)
    assert (config.sleep_time, config.max_pending_records) == (0.25, 50_000)
    assert config.address == "ws://127.0.0.1:6666"
    assert config.exit_on_stdin_eof is False


def test_config_defaults_for_limits_and_wake() -> None:
    config = BroadcastConfig(results_file="r.db")
    assert (config.max_listeners, config.max_filters) == (100, 64)
    assert config.max_buffer_bytes == 32 * 2**20
    assert (config.wake_on_commit, config.stats_seconds) == (True, 10.0)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_stats_report_activity_and_an_idle_server_stays_quiet_and_cheap(
    table: Table, broadcast: Start
) -> None:
    process, url = broadcast(sleep_time=0.25, stats_seconds=0.3)
    listener = await Listener(url).open()
    expected = table.insert(25)
    await listener.wait_count(25)
    stats = await asyncio.to_thread(
        process.wait_event, "stats", 10, 1, lambda e: e["records_sent"] == 25
    )
    assert (stats["listeners"], stats["records_read"], stats["frames_sent"]) == (1, 25, 25)
    assert (stats["slow_closes"], stats["gaps"]) == (0, 0)
    assert listener.lines == expected
    # Idle: no more stats lines, and only a read every sleep_time.
    await asyncio.sleep(0.5)
    lines = sum(1 for e in process.events if e["event"] == "stats")
    used = cpu_seconds(process.proc.pid)
    await asyncio.sleep(3)
    assert sum(1 for e in process.events if e["event"] == "stats") == lines
    assert cpu_seconds(process.proc.pid) - used < 0.15
    await listener.close()
