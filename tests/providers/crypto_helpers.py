"""Helpers shared by the keyless crypto providers' integration tests (Kraken, Coinbase, OKX).

Readiness is never a sleep: simulators are waited on with `wait_for`/`wait_for_message`, and
stored results are polled under a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import orjson
from websockets.sync.client import ClientConnection

from orchestrator import WebSocketsAPI
from providers import WebSocketData
from providers.simulator import SimulatorServer

DEADLINE_SECONDS = 20.0
RecordT = TypeVar("RecordT", bound=WebSocketData)


def stored(api: WebSocketsAPI, name: str, model: type[RecordT]) -> list[RecordT]:
    found = api.get_results(name).results
    assert all(isinstance(record, model) for record in found)
    return [record for record in found if isinstance(record, model)]


def wait_records(
    api: WebSocketsAPI,
    name: str,
    model: type[RecordT],
    check: Callable[[list[RecordT]], bool],
) -> list[RecordT]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        found = stored(api, name, model)
        if check(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met; {len(found)} records: {found[-3:]!r}")
        time.sleep(0.05)


def count(simulator: SimulatorServer, wanted: Any) -> int:
    return sum(1 for received in simulator.received if received == wanted)


def after(records: list[RecordT], mark: datetime) -> list[RecordT]:
    return [record for record in records if record.date > mark]


def assert_clean(record: WebSocketData, exchange: str) -> None:
    """The shape every provider stores: aware date, canonical pair, type in words, numbers."""
    assert record.date.tzinfo is not None
    assert abs(record.date.timestamp() - time.time()) < 120
    assert "/" in record.symbol
    assert record.symbol == record.symbol.upper()
    assert record.exchange == exchange
    if record.type == "trade":
        assert isinstance(record.last_price, float)
        assert isinstance(record.last_size, float)
        assert record.bid_price is None
    else:
        assert record.type == "quote"
        for value in (record.bid_price, record.bid_size, record.ask_price, record.ask_size):
            assert isinstance(value, float)


def send(connection: ClientConnection, payload: Any) -> None:
    connection.send(payload if isinstance(payload, str) else orjson.dumps(payload).decode())


def recv_json(connection: ClientConnection) -> Any:
    return orjson.loads(connection.recv(timeout=DEADLINE_SECONDS))


def recv_until(connection: ClientConnection, check: Callable[[Any], bool]) -> Any:
    """The first frame that passes `check` (frames before it are skipped)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        frame = recv_json(connection)
        if check(frame):
            return frame
    raise AssertionError("no matching frame")
