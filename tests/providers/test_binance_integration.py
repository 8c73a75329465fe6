"""Binance through the Python API, against the Binance simulator on a free loopback port.

Connection names start with `prov-b_` so that runs on the shared Docker engine never collide.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from orchestrator import ParameterError, WebSocketsAPI, WorkerError
from providers.binance import BinanceData
from providers.binance.simulator import BinanceSimulator

from .streaming import DEADLINE_SECONDS, count, records, wait_records

NAME = "prov-b_binance"


@pytest.fixture
def simulator() -> Iterator[BinanceSimulator]:
    """Requested before `websockets` in each test, so it stops after every connection is killed."""
    server = BinanceSimulator(rate=50, shutdown_grace=5.0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connect_binance(websockets: WebSocketsAPI, simulator: BinanceSimulator, **params: Any) -> None:
    values: dict[str, Any] = {"symbol": "btcusdt,ETH/USDT", "url": simulator.url}
    websockets.create_connection(provider="binance", name=NAME, **{**values, **params})


def wait(websockets: WebSocketsAPI, check: Any) -> list[BinanceData]:
    return wait_records(websockets, NAME, BinanceData, check)


def request(method: str, params: list[str], request_id: int) -> dict[str, Any]:
    return {"method": method, "params": params, "id": request_id}


def trade_ids(found: list[BinanceData]) -> list[int]:
    return [r.trade_id for r in found if r.type == "trade" and r.trade_id is not None]


# -- through the Python API -----------------------------------------------------------------------


def test_records_land_with_clean_fields_and_types(
    simulator: BinanceSimulator, websockets: WebSocketsAPI
) -> None:
    connect_binance(websockets, simulator)
    simulator.wait_for(lambda s: len(s.received) >= 1)
    assert simulator.received[0] == request(
        "SUBSCRIBE",
        ["btcusdt@trade", "btcusdt@bookTicker", "ethusdt@trade", "ethusdt@bookTicker"],
        1,
    )
    found = wait(
        websockets,
        lambda rs: (
            {(r.symbol, r.type) for r in rs}
            >= {
                ("BTC/USDT", "trade"),
                ("BTC/USDT", "quote"),
                ("ETH/USDT", "trade"),
                ("ETH/USDT", "quote"),
            }
        ),
    )
    for record in found:
        assert isinstance(record.date, datetime)
        assert record.date.tzinfo is not None
        assert abs(record.date.timestamp() - time.time()) < 60
        assert record.exchange == "binance"
        if record.type == "trade":
            assert isinstance(record.last_price, float)
            assert isinstance(record.last_size, float)
            assert isinstance(record.trade_id, int)
            assert record.side in ("buy", "sell")
            assert record.bid_price is None
        else:
            assert record.type == "quote"
            assert isinstance(record.bid_price, float)
            assert isinstance(record.ask_size, float)
            assert isinstance(record.update_id, int)
            assert record.last_price is None
    status = websockets.get_client_status(NAME).results[0]
    assert status.is_running
    assert status.subscribed_symbols == "BTC/USDT,ETH/USDT"


def test_subscribe_and_unsubscribe_while_streaming_send_the_exact_messages(
    simulator: BinanceSimulator, websockets: WebSocketsAPI
) -> None:
    connect_binance(websockets, simulator, feed="trade")
    wait(websockets, lambda rs: {r.symbol for r in rs} == {"BTC/USDT", "ETH/USDT"})

    websockets.subscribe(NAME, "sol-usdt,BTCUSDT")  # BTC/USDT is already there: only SOL goes out
    assert simulator.wait_for_message(lambda m: m.get("id") == 2) == request(
        "SUBSCRIBE", ["solusdt@trade"], 2
    )
    wait(websockets, lambda rs: "SOL/USDT" in {r.symbol for r in rs})

    websockets.unsubscribe(NAME, "eth/usdt")
    assert simulator.wait_for_message(lambda m: m.get("id") == 3) == request(
        "UNSUBSCRIBE", ["ethusdt@trade"], 3
    )
    simulator.wait_for(lambda s: all("ethusdt@trade" not in x.symbols for x in s.sessions))
    mark = simulator.last_trade_id
    found = wait(websockets, lambda rs: sum(t > mark for t in trade_ids(rs)) >= 20)
    assert {r.symbol for r in found if (r.trade_id or 0) > mark} == {"BTC/USDT", "SOL/USDT"}
    assert websockets.get_client_status(NAME).results[0].subscribed_symbols == "BTC/USDT,SOL/USDT"
    assert len(simulator.received) == 3
    assert simulator.rate_limited == 0


def test_a_server_close_is_followed_by_reconnect_and_resubscribe_without_duplicates(
    simulator: BinanceSimulator, websockets: WebSocketsAPI
) -> None:
    connect_binance(websockets, simulator, feed="trade")
    websockets.subscribe(NAME, "solusdt")
    before = len(wait(websockets, lambda rs: len(rs) >= 20))
    assert simulator.connections_opened == 1

    simulator.close_connections()  # as at Binance's 24-hour mark
    resubscribe = request("SUBSCRIBE", ["btcusdt@trade", "ethusdt@trade", "solusdt@trade"], 3)
    simulator.wait_for(lambda s: s.connections_opened == 2 and count(s, resubscribe) == 1)
    found = wait(websockets, lambda rs: len(rs) >= before + 40)

    ids = trade_ids(found)
    assert len(ids) == len(set(ids)), "duplicate records after the reconnect"
    assert ids == sorted(ids)
    assert {r.symbol for r in found[before:]} == {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
    assert websockets.get_client_status(NAME).results[0].is_running


def test_server_shutdown_makes_the_client_reconnect_before_the_server_closes(
    simulator: BinanceSimulator, websockets: WebSocketsAPI
) -> None:
    connect_binance(websockets, simulator, feed="quote")
    wait(websockets, lambda rs: len(rs) >= 5)
    simulator.server_shutdown()  # the server would close 5 s later; the client leaves first
    started = time.monotonic()
    resubscribe = request("SUBSCRIBE", ["btcusdt@bookTicker", "ethusdt@bookTicker"], 2)
    simulator.wait_for(lambda s: s.connections_opened == 2 and count(s, resubscribe) == 1)
    assert time.monotonic() - started < simulator.shutdown_grace
    simulator.wait_for(lambda s: len(s.sessions) == 1)
    mark = max(r.update_id or 0 for r in records(websockets, NAME, BinanceData))
    wait(websockets, lambda rs: any((r.update_id or 0) > mark for r in rs))


def test_a_refused_region_fails_fast_with_the_http_451(websockets: WebSocketsAPI) -> None:
    with BinanceSimulator(restricted=True) as restricted:
        with pytest.raises(WorkerError, match="451"):
            websockets.create_connection(
                provider="binance", name=NAME, symbol="btcusdt", url=restricted.url
            )
        assert restricted.connections_opened == 0


@pytest.mark.parametrize(
    ("params", "field", "allowed"),
    [
        (
            {"host": "binance.com"},
            "host",
            ["stream.binance.com", "data-stream.binance.vision", "stream.binance.us"],
        ),
        ({"feed": "bars"}, "feed", ["all", "trade", "quote"]),
        ({"asset_type": "stock"}, "asset_type", ["crypto"]),
    ],
)
def test_bad_choices_raise_a_parameter_error_listing_the_allowed_values(
    simulator: BinanceSimulator,
    websockets: WebSocketsAPI,
    params: dict[str, Any],
    field: str,
    allowed: list[str],
) -> None:
    with pytest.raises(ParameterError) as caught:
        connect_binance(websockets, simulator, **params)
    assert caught.value.field == field
    assert caught.value.allowed == allowed
    assert simulator.connections_opened == 0


# -- the simulator on its own, with a raw client ---------------------------------------------


def recv_json(connection: ClientConnection) -> Any:
    return orjson.loads(connection.recv(timeout=DEADLINE_SECONDS))


def recv_reply(connection: ClientConnection) -> Any:
    """The next frame that is not stream data."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        frame = recv_json(connection)
        if "stream" not in frame and "e" not in frame and "u" not in frame:
            return frame
    raise AssertionError("no reply")


def drain(connection: ClientConnection) -> None:
    """Read until the server closes the connection (which raises ConnectionClosed)."""
    while True:
        recv_json(connection)


def send(connection: ClientConnection, payload: Any) -> None:
    connection.send(payload if isinstance(payload, str) else orjson.dumps(payload).decode())


def test_the_simulator_answers_like_binance() -> None:
    with (
        BinanceSimulator(rate=20, max_messages_per_second=100) as sim,
        connect(f"{sim.url}/stream") as ws,
    ):
        send(ws, request("SUBSCRIBE", ["btcusdt@trade"], 1))
        assert recv_reply(ws) == {"result": None, "id": 1}
        data = recv_json(ws)
        assert data["stream"] == "btcusdt@trade"
        assert set(data["data"]) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"}
        send(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 2})
        assert recv_reply(ws) == {"result": ["btcusdt@trade"], "id": 2}
        send(ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 3})
        assert recv_reply(ws) == {"result": True, "id": 3}
        send(ws, {"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 4})
        assert recv_reply(ws) == {
            "error": {"code": 1, "msg": "Invalid value type: expected Boolean"},
            "id": 4,
        }
        send(ws, {"method": "GET_PROPERTY", "params": ["colour"], "id": 5})
        assert recv_reply(ws) == {"error": {"code": 0, "msg": "Unknown property"}, "id": 5}
        send(ws, "{not json")
        assert recv_reply(ws)["error"]["code"] == 3
        send(ws, {"method": "PING", "id": 6})
        assert recv_reply(ws)["error"]["msg"].startswith("Invalid request: unknown variant `PING`")
        send(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": [1]})
        assert (
            recv_reply(ws)["error"]["msg"]
            == "Invalid request: request ID must be an unsigned integer"
        )
        send(ws, request("UNSUBSCRIBE", ["btcusdt@trade"], 7))
        assert recv_reply(ws) == {"result": None, "id": 7}
        sim.wait_for(lambda s: all(not x.symbols for x in s.sessions))


def test_the_simulator_caps_streams_and_closes_fast_senders() -> None:
    with BinanceSimulator(rate=0, max_streams=3) as sim:
        with connect(sim.url) as ws:
            send(ws, request("SUBSCRIBE", ["a@trade", "b@trade", "c@trade", "d@trade"], 1))
            assert recv_json(ws) == {"error": {"code": 4, "msg": "Too many subscriptions"}, "id": 1}
            for number in range(2, 7):  # the 6th message within a second
                send(ws, request("SUBSCRIBE", ["a@trade"], number))
            with pytest.raises(ConnectionClosed) as closed:
                drain(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
        assert sim.rate_limited == 1


def test_the_simulator_streams_raw_payloads_on_ws_paths() -> None:
    with BinanceSimulator(rate=20) as sim, connect(f"{sim.url}/ws/bnbusdt@bookTicker") as ws:
        frame = recv_json(ws)
        assert set(frame) == {"u", "s", "b", "B", "a", "A"}
        assert frame["s"] == "BNBUSDT"


def test_the_restricted_simulator_answers_451_with_binances_words() -> None:
    with BinanceSimulator(restricted=True) as sim, pytest.raises(InvalidStatus) as refused:
        connect(sim.url)
    assert refused.value.response.status_code == 451
    assert b"restricted location" in refused.value.response.body
