"""Bitstamp through the Python API, against the Bitstamp simulator on a free loopback port.

Connection names start with `prov-b_` so that runs on the shared Docker engine never collide.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from orchestrator import ParameterError, WebSocketsAPI
from providers.bitstamp import BitstampData, BitstampProtocol
from providers.bitstamp.simulator import BitstampSimulator

from .streaming import DEADLINE_SECONDS, count, wait_records

NAME = "prov-b_bitstamp"


@pytest.fixture
def simulator() -> Iterator[BitstampSimulator]:
    """Requested before `websockets` in each test, so it stops after every connection is killed."""
    server = BitstampSimulator(rate=50, reconnect_grace=5.0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connect_bitstamp(
    websockets: WebSocketsAPI, simulator: BitstampSimulator, **params: Any
) -> None:
    values: dict[str, Any] = {"symbol": "btcusd,ETH/EUR", "url": simulator.url}
    websockets.create_connection(provider="bitstamp", name=NAME, **{**values, **params})


def wait(websockets: WebSocketsAPI, check: Any) -> list[BitstampData]:
    return wait_records(websockets, NAME, BitstampData, check)


def message(event: str, channel: str) -> dict[str, Any]:
    return {"event": event, "data": {"channel": channel}}


def trade_ids(found: list[BitstampData]) -> list[int]:
    return [r.trade_id for r in found if r.type == "trade" and r.trade_id is not None]


# -- through the Python API -----------------------------------------------------------------------


def test_records_land_with_clean_fields_and_types(
    simulator: BitstampSimulator, websockets: WebSocketsAPI
) -> None:
    connect_bitstamp(websockets, simulator, feed="all")
    simulator.wait_for(lambda s: len(s.received) >= 4)
    assert simulator.received[:4] == [
        message("bts:subscribe", "live_trades_btcusd"),
        message("bts:subscribe", "order_book_btcusd"),
        message("bts:subscribe", "live_trades_etheur"),
        message("bts:subscribe", "order_book_etheur"),
    ]
    found = wait(
        websockets,
        lambda rs: (
            {(r.symbol, r.type) for r in rs}
            >= {
                ("BTC/USD", "trade"),
                ("BTC/USD", "quote"),
                ("ETH/EUR", "trade"),
                ("ETH/EUR", "quote"),
            }
        ),
    )
    for record in found:
        assert isinstance(record.date, datetime)
        assert record.date.tzinfo is not None
        assert abs(record.date.timestamp() - time.time()) < 60
        assert record.exchange == "bitstamp"
        assert isinstance(record.timestamp, int)
        if record.type == "trade":
            assert isinstance(record.last_price, float)
            assert isinstance(record.last_size, float)
            assert isinstance(record.trade_id, int)
            assert record.side in ("buy", "sell")
        else:
            assert record.type == "quote"
            assert isinstance(record.bid_price, float)
            assert isinstance(record.ask_size, float)
            assert record.bid_price < record.ask_price  # type: ignore[operator]
    status = websockets.get_client_status(NAME).results[0]
    assert status.is_running
    assert status.subscribed_symbols == "BTC/USD,ETH/EUR"


def test_subscribe_and_unsubscribe_while_streaming_send_the_exact_messages(
    simulator: BitstampSimulator, websockets: WebSocketsAPI
) -> None:
    connect_bitstamp(websockets, simulator)
    wait(websockets, lambda rs: {r.symbol for r in rs} == {"BTC/USD", "ETH/EUR"})

    websockets.subscribe(NAME, "xrp-usd,BTCUSD")  # BTC/USD is already there: only XRP goes out
    simulator.wait_for_message(lambda m: m == message("bts:subscribe", "live_trades_xrpusd"))
    wait(websockets, lambda rs: "XRP/USD" in {r.symbol for r in rs})

    websockets.unsubscribe(NAME, "eth/eur")
    simulator.wait_for_message(lambda m: m == message("bts:unsubscribe", "live_trades_etheur"))
    simulator.wait_for(lambda s: all("live_trades_etheur" not in x.symbols for x in s.sessions))
    mark = simulator.last_trade_id
    found = wait(websockets, lambda rs: sum(t > mark for t in trade_ids(rs)) >= 20)
    assert {r.symbol for r in found if (r.trade_id or 0) > mark} == {"BTC/USD", "XRP/USD"}
    assert websockets.get_client_status(NAME).results[0].subscribed_symbols == "BTC/USD,XRP/USD"
    subscribes = [m for m in simulator.received if m.get("event") == "bts:subscribe"]
    assert len(subscribes) == 3


def test_a_server_close_is_followed_by_reconnect_and_resubscribe_without_duplicates(
    simulator: BitstampSimulator, websockets: WebSocketsAPI
) -> None:
    connect_bitstamp(websockets, simulator)
    before = len(wait(websockets, lambda rs: len(rs) >= 20))
    simulator.close_connections()
    simulator.wait_for(
        lambda s: (
            s.connections_opened == 2
            and count(s, message("bts:subscribe", "live_trades_etheur")) == 2
        )
    )
    found = wait(websockets, lambda rs: len(rs) >= before + 40)
    ids = trade_ids(found)
    assert len(ids) == len(set(ids)), "duplicate records after the reconnect"
    assert ids == sorted(ids)
    assert {r.symbol for r in found[before:]} == {"BTC/USD", "ETH/EUR"}


def test_a_reconnect_request_makes_the_client_move_before_the_grace_ends(
    simulator: BitstampSimulator, websockets: WebSocketsAPI
) -> None:
    connect_bitstamp(websockets, simulator)
    wait(websockets, lambda rs: len(rs) >= 10)
    simulator.request_reconnect()
    started = time.monotonic()
    simulator.wait_for(
        lambda s: (
            s.connections_opened == 2
            and count(s, message("bts:subscribe", "live_trades_btcusd")) == 2
            and len(s.sessions) == 1
        )
    )
    assert time.monotonic() - started < simulator.reconnect_grace
    mark = simulator.last_trade_id
    found = wait(websockets, lambda rs: sum(t > mark for t in trade_ids(rs)) >= 10)
    ids = trade_ids(found)
    assert len(ids) == len(set(ids))
    assert websockets.get_client_status(NAME).results[0].is_running


def test_the_client_sends_heartbeats_while_streaming(
    simulator: BitstampSimulator, websockets: WebSocketsAPI
) -> None:
    connect_bitstamp(websockets, simulator)
    interval = BitstampProtocol.keepalive_interval or 0
    simulator.wait_for(lambda s: s.heartbeats >= 1, timeout=interval + DEADLINE_SECONDS)
    assert {"event": "bts:heartbeat"} in simulator.received
    assert websockets.get_client_status(NAME).results[0].is_running


@pytest.mark.parametrize(
    ("params", "field", "allowed"),
    [
        ({"feed": "book"}, "feed", ["trade", "quote", "all"]),
        ({"asset_type": "fx"}, "asset_type", ["crypto"]),
    ],
)
def test_bad_choices_raise_a_parameter_error_listing_the_allowed_values(
    simulator: BitstampSimulator,
    websockets: WebSocketsAPI,
    params: dict[str, Any],
    field: str,
    allowed: list[str],
) -> None:
    with pytest.raises(ParameterError) as caught:
        connect_bitstamp(websockets, simulator, **params)
    assert caught.value.field == field
    assert caught.value.allowed == allowed
    assert simulator.connections_opened == 0


# -- the simulator on its own, with a raw client ---------------------------------------------


def recv_json(connection: ClientConnection) -> Any:
    return orjson.loads(connection.recv(timeout=DEADLINE_SECONDS))


def recv_event(connection: ClientConnection, event: str) -> Any:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        frame = recv_json(connection)
        if frame["event"] == event:
            return frame
    raise AssertionError(f"no {event}")


def send(connection: ClientConnection, payload: Any) -> None:
    connection.send(payload if isinstance(payload, str) else orjson.dumps(payload).decode())


def drain(connection: ClientConnection) -> None:
    """Read until the server closes the connection (which raises ConnectionClosed)."""
    while True:
        recv_json(connection)


def test_the_simulator_answers_like_bitstamp() -> None:
    with BitstampSimulator(rate=20) as sim, connect(sim.url) as ws:
        send(ws, message("bts:subscribe", "order_book_btcusd"))
        assert recv_json(ws) == {
            "event": "bts:subscription_succeeded",
            "channel": "order_book_btcusd",
            "data": {},
        }
        book = recv_event(ws, "data")
        assert book["channel"] == "order_book_btcusd"
        assert set(book["data"]) == {"timestamp", "microtimestamp", "bids", "asks"}
        send(ws, {"event": "bts:heartbeat"})
        assert recv_event(ws, "bts:heartbeat") == {
            "event": "bts:heartbeat",
            "channel": "",
            "data": {"status": "success"},
        }
        send(ws, "{nope")
        assert recv_event(ws, "bts:error")["data"] == {
            "code": None,
            "message": "Incorrect JSON format.",
        }
        send(ws, message("bts:subscribe", "no such channel"))
        assert recv_event(ws, "bts:error")["channel"] == ""
        send(ws, message("bts:unsubscribe", "order_book_btcusd"))
        recv_event(ws, "bts:unsubscription_succeeded")
        sim.wait_for(lambda s: all(not x.symbols for x in s.sessions))


def test_the_simulator_closes_a_client_that_ignores_the_reconnect_request() -> None:
    with BitstampSimulator(rate=0, reconnect_grace=0.2) as sim, connect(sim.url) as ws:
        sim.wait_for(lambda s: len(s.sessions) == 1)
        sim.request_reconnect()
        assert recv_json(ws) == {"event": "bts:request_reconnect", "channel": "", "data": ""}
        with pytest.raises(ConnectionClosed) as closed:
            drain(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001
