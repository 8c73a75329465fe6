"""`/metrics` from real workers: the counters match the rows in the results file.

The workers print their `stats` lines once the reliability work (provider worker) and the
broadcast rework are merged; until a worker package prints them, its test is skipped with
that reason (stats_printed below looks for the event in the package's source).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from orchestrator import WebSocketsAPI
from providers.demo.simulator import DemoSimulator

from ..helpers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


def stats_printed(package: str) -> bool:
    """Whether the worker package prints `stats` status lines (its source names the event)."""
    return any('"stats"' in path.read_text() for path in (ROOT / package).glob("*.py"))


def metric(http: httpx.Client, name: str, connection: str) -> float | None:
    for family in text_string_to_metric_families(http.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("connection") == connection:
                return sample.value
    return None


def rows(path: str) -> int:
    with sqlite3.connect(path, timeout=10) as db:
        return int(db.execute("SELECT count(*) FROM records").fetchone()[0])


@pytest.mark.skipif(
    not stats_printed("provider_image"), reason="the provider worker prints no stats lines yet"
)
def test_provider_counters_match_the_rows_in_the_results_file(
    websockets: WebSocketsAPI, serve: Callable[..., httpx.Client], market: DemoSimulator
):
    http = serve()
    status = websockets.create_connection(
        provider="demo", name="ops_mw1", symbol="aapl,msft", url=market.url, limit=None
    ).results
    assert status.results_file is not None
    wait_until(lambda: rows(status.results_file) >= 50, timeout=20)
    websockets.unsubscribe("ops_mw1", "aapl,msft")  # nothing more arrives
    # The worker reports within its stats interval once its counters settle.
    wait_until(
        lambda: (
            metric(http, "feeddock_provider_written_total", "ops_mw1") == rows(status.results_file)
        ),
        timeout=20,
        interval=0.5,
    )
    written = rows(status.results_file)
    assert metric(http, "feeddock_provider_received_total", "ops_mw1") == written
    assert metric(http, "feeddock_provider_dropped_total", "ops_mw1") == 0
    assert metric(http, "feeddock_connection_running", "ops_mw1") == 1
    shown = websockets.get_client_status("ops_mw1").results[0].metrics
    assert shown is not None and shown.provider["written"] == written


@pytest.mark.skipif(
    not stats_printed("broadcast_image"), reason="the broadcast server prints no stats lines yet"
)
def test_broadcast_counters_match_what_a_listener_received(
    websockets: WebSocketsAPI, serve: Callable[..., httpx.Client], market: DemoSimulator
):
    http = serve()
    port = free_port()
    websockets.create_connection(
        provider="demo", name="ops_mw2", symbol="aapl", url=market.url, limit=None,
        start_broadcast=True, broadcast_port=port, sleep_time=0.05,
    )  # fmt: skip
    received: list[str] = []
    with connect(f"ws://127.0.0.1:{port}") as listener:
        reader = threading.Thread(
            target=lambda: [received.extend(str(m).splitlines()) for m in listener], daemon=True
        )
        reader.start()
        wait_until(lambda: len(received) >= 30, timeout=20)
        wait_until(lambda: metric(http, "feeddock_broadcast_listeners", "ops_mw2") == 1, timeout=20)
        websockets.unsubscribe("ops_mw2", "aapl")
        wait_until(
            lambda: (
                metric(http, "feeddock_broadcast_records_sent_total", "ops_mw2") == len(received)
            ),
            timeout=20,
            interval=0.5,
        )
