"""Helpers for the integration tests of streaming providers (Binance, Bitstamp, Alpaca).

Readiness is never a sleep: stored results are polled under a deadline, and the simulator's
record of received messages is waited on with `wait_for` / `wait_for_message`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from orchestrator import WebSocketsAPI
from providers.records import WebSocketData
from providers.simulator import SimulatorServer

DEADLINE_SECONDS = 20.0
RecordT = TypeVar("RecordT", bound=WebSocketData)


def records(websockets: WebSocketsAPI, name: str, model: type[RecordT]) -> list[RecordT]:
    found = websockets.get_results(name).results
    assert all(isinstance(record, model) for record in found)
    return [record for record in found if isinstance(record, model)]


def wait_records(
    websockets: WebSocketsAPI,
    name: str,
    model: type[RecordT],
    check: Callable[[list[RecordT]], bool],
) -> list[RecordT]:
    """Poll the stored records until `check` holds; fail with the last few otherwise."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        found = records(websockets, name, model)
        if check(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met; {len(found)} records: {found[-3:]!r}")
        time.sleep(0.05)


def wait_stopped(websockets: WebSocketsAPI, name: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while websockets.get_client_status(name).results[0].is_running:
        assert time.monotonic() < deadline, f"{name} is still running"
        time.sleep(0.05)


def count(simulator: SimulatorServer, wanted: Any) -> int:
    """How many times the simulator received exactly `wanted`."""
    return sum(1 for received in simulator.received if received == wanted)
