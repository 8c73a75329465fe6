"""FMP through the Python API, against the FMP simulator on a free loopback port.

Readiness is never a sleep: the simulator's record of received messages is waited on with
`wait_for`/`wait_for_message`, and stored results are polled under a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from orchestrator import ParameterError, UnauthorizedError, WebSocketsAPI
from providers.fmp import FmpData
from providers.fmp.simulator import FmpSimulator
from providers.simulator import SimulatorServer

KEY = "fmp-test-key"
DEADLINE_SECONDS = 20.0


@pytest.fixture
def simulator() -> Iterator[FmpSimulator]:
    """Requested before `websockets` in each test, so it stops after every connection is killed."""
    server = FmpSimulator(api_keys=[KEY], rate=50, heartbeat_seconds=0.2)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connect_fmp(
    websockets: WebSocketsAPI, simulator: FmpSimulator, name: str = "fmp", **params: Any
) -> None:
    values: dict[str, Any] = {"symbol": "aapl,msft", "url": simulator.url, "api_key": KEY}
    websockets.create_connection(provider="fmp", name=name, **{**values, **params})


def records(websockets: WebSocketsAPI, name: str = "fmp") -> list[FmpData]:
    found = websockets.get_results(name).results
    assert all(isinstance(record, FmpData) for record in found)
    return [record for record in found if isinstance(record, FmpData)]


def wait_records(
    websockets: WebSocketsAPI, check: Callable[[list[FmpData]], bool], name: str = "fmp"
) -> list[FmpData]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        found = records(websockets, name)
        if check(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met; {len(found)} records: {found[-3:]!r}")
        time.sleep(0.05)


def message(event: str, tickers: list[str]) -> dict[str, Any]:
    return {"event": event, "data": {"ticker": tickers}}


def count(simulator: SimulatorServer, wanted: dict[str, Any]) -> int:
    return sum(1 for received in simulator.received if received == wanted)


# -- through the Python API -----------------------------------------------------------------------


def test_records_land_with_clean_fields_and_types(
    simulator: FmpSimulator, websockets: WebSocketsAPI
) -> None:
    connect_fmp(websockets, simulator)
    simulator.wait_for(lambda s: len(s.received) >= 2)
    assert simulator.received[:2] == [
        {"event": "login", "data": {"apiKey": KEY}},
        message("subscribe", ["aapl", "msft"]),
    ]
    found = wait_records(
        websockets,
        lambda rs: (
            {"trade", "quote", "break"} <= {r.type for r in rs}
            and {r.symbol for r in rs} == {"AAPL", "MSFT"}
        ),
    )
    for record in found:
        assert isinstance(record.date, datetime)
        assert record.date.tzinfo is not None
        assert abs(record.date.timestamp() - time.time()) < 60
        assert isinstance(record.timestamp, int)
        assert record.timestamp > 10**18  # stock `t` is in nanoseconds
        assert record.exchange is None
        if record.type == "quote":
            assert isinstance(record.bid_price, float)
            assert isinstance(record.ask_size, float)
            assert record.last_price is None
        else:
            assert isinstance(record.last_price, float)
            assert isinstance(record.last_size, float)
            assert record.bid_price is None
    status = websockets.get_client_status("fmp").results[0]
    assert status.is_running
    assert status.subscribed_symbols == "AAPL,MSFT"


def test_fx_symbols_are_sent_as_lowercase_pairs_and_the_feed_filters(
    simulator: FmpSimulator, websockets: WebSocketsAPI
) -> None:
    connect_fmp(websockets, simulator, symbol="EUR/USD", asset_type="fx", feed="quote")
    simulator.wait_for_message(lambda m: m == message("subscribe", ["eurusd"]))
    found = wait_records(websockets, lambda rs: len(rs) >= 10)
    assert {r.type for r in found} == {"quote"}
    assert {r.symbol for r in found} == {"EURUSD"}
    assert websockets.get_client_status("fmp").results[0].subscribed_symbols == "EURUSD"


def test_a_wrong_key_raises_unauthorized_with_the_providers_refusal(
    simulator: FmpSimulator, websockets: WebSocketsAPI
) -> None:
    with pytest.raises(UnauthorizedError, match="Unauthorized"):
        connect_fmp(websockets, simulator, api_key="wrong-key")
    assert {"event": "login", "data": {"apiKey": "wrong-key"}} in simulator.received
    assert not any(m.get("event") == "subscribe" for m in simulator.received)
    with pytest.raises(LookupError):
        websockets.get_client_status("fmp")


def test_subscribe_and_unsubscribe_while_streaming_send_the_exact_messages(
    simulator: FmpSimulator, websockets: WebSocketsAPI
) -> None:
    connect_fmp(websockets, simulator)
    wait_records(websockets, lambda rs: {r.symbol for r in rs} == {"AAPL", "MSFT"})

    websockets.subscribe("fmp", "NVDA,aapl")  # AAPL is already subscribed: only NVDA is sent
    assert simulator.wait_for_message(lambda m: m.get("data", {}).get("ticker") == ["nvda"]) == (
        message("subscribe", ["nvda"])
    )
    wait_records(websockets, lambda rs: "NVDA" in {r.symbol for r in rs})

    websockets.unsubscribe("fmp", "msft")
    simulator.wait_for_message(lambda m: m == message("unsubscribe", ["msft"]))
    simulator.wait_for(lambda s: all("msft" not in session.symbols for session in s.sessions))
    mark = simulator.last_timestamp
    found = wait_records(websockets, lambda rs: sum((r.timestamp or 0) > mark for r in rs) >= 20)
    assert {r.symbol for r in found if (r.timestamp or 0) > mark} == {"AAPL", "NVDA"}
    assert websockets.get_client_status("fmp").results[0].subscribed_symbols == "AAPL,NVDA"
    assert count(simulator, message("subscribe", ["nvda"])) == 1
    assert count(simulator, message("unsubscribe", ["msft"])) == 1


def test_a_server_close_is_followed_by_reconnect_and_resubscribe_without_duplicates(
    simulator: FmpSimulator, websockets: WebSocketsAPI
) -> None:
    connect_fmp(websockets, simulator)
    websockets.subscribe("fmp", "nvda")
    before = len(wait_records(websockets, lambda rs: len(rs) >= 20))
    assert simulator.connections_opened == 1

    simulator.close_connections()
    resubscribe = message("subscribe", ["aapl", "msft", "nvda"])
    simulator.wait_for(lambda s: s.connections_opened == 2 and count(s, resubscribe) == 1)
    assert count(simulator, {"event": "login", "data": {"apiKey": KEY}}) == 2
    found = wait_records(websockets, lambda rs: len(rs) >= before + 40)

    stamps = [r.timestamp or 0 for r in found]
    assert len(stamps) == len(set(stamps)), "duplicate records after the reconnect"
    assert stamps == sorted(stamps)
    assert {r.symbol for r in found[before:]} == {"AAPL", "MSFT", "NVDA"}
    assert simulator.kicked == 0
    assert websockets.get_client_status("fmp").results[0].is_running


def test_a_second_login_with_the_same_key_kicks_the_first_connection(
    simulator: FmpSimulator, websockets: WebSocketsAPI
) -> None:
    connect_fmp(websockets, simulator, name="first")
    connect_fmp(websockets, simulator, name="second", symbol="nvda")
    assert simulator.kicked == 1
    deadline = time.monotonic() + DEADLINE_SECONDS
    while websockets.get_client_status("first").results[0].is_running:
        assert time.monotonic() < deadline, "the kicked connection is still running"
        time.sleep(0.05)
    client = websockets.get_client("first").results
    assert client.last_error is not None
    assert "Connected from another location" in client.last_error
    assert websockets.get_client_status("second").results[0].is_running
    wait_records(websockets, lambda rs: len(rs) >= 5, name="second")


@pytest.mark.parametrize(
    ("params", "field", "allowed"),
    [
        ({"asset_type": "options"}, "asset_type", ["stock", "fx", "crypto"]),
        ({"feed": "bars"}, "feed", ["all", "trade", "quote"]),
    ],
)
def test_bad_choices_raise_a_parameter_error_listing_the_allowed_values(
    simulator: FmpSimulator,
    websockets: WebSocketsAPI,
    params: dict[str, Any],
    field: str,
    allowed: list[str],
) -> None:
    with pytest.raises(ParameterError) as caught:
        connect_fmp(websockets, simulator, **params)
    assert caught.value.field == field
    assert caught.value.allowed == allowed
    assert all(f"'{value}'" in str(caught.value) for value in allowed)
    assert simulator.connections_opened == 0


def test_a_pair_given_for_stocks_is_refused_naming_the_asset_types(
    simulator: FmpSimulator, websockets: WebSocketsAPI
) -> None:
    with pytest.raises(ParameterError, match="asset_type values: stock, fx, crypto") as caught:
        connect_fmp(websockets, simulator, symbol="eur/usd")
    assert caught.value.field == "asset_type"
    assert simulator.connections_opened == 0


# -- the simulator on its own, with a raw client ---------------------------------------------


def recv_json(connection: ClientConnection) -> Any:
    return orjson.loads(connection.recv(timeout=DEADLINE_SECONDS))


def recv_until(connection: ClientConnection, check: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        frame = recv_json(connection)
        if check(frame):
            return frame
    raise AssertionError("no matching frame")


def send(connection: ClientConnection, payload: Any) -> None:
    connection.send(orjson.dumps(payload).decode())


def test_the_simulator_answers_like_fmp(simulator: FmpSimulator) -> None:
    with connect(simulator.url) as ws:
        send(ws, message("subscribe", ["aapl"]))
        assert recv_json(ws) == {
            "event": "subscribe",
            "status": 401,
            "message": "You are not authorized, login first",
        }
        send(ws, {"event": "login", "data": {"apiKey": KEY}})
        assert recv_json(ws) == {"event": "login", "status": 200, "message": "Authenticated"}
        send(ws, {"event": "subscribe", "data": {"ticker": "aapl"}})  # a string is allowed too
        assert recv_until(ws, lambda f: "event" in f and f["event"] != "heartbeat") == {
            "event": "subscribe",
            "status": 200,
            "message": "subscribed to: aapl",
        }
        data = recv_until(ws, lambda f: "s" in f)
        assert data["s"] == "aapl"
        assert set(data) == {"s", "t", "type", "ap", "as", "bp", "bs", "lp", "ls"}
        heartbeat = recv_until(ws, lambda f: f.get("event") == "heartbeat")
        assert isinstance(heartbeat["timestamp"], int)
        send(ws, message("subscribe", ["bad ticker!"]))
        assert recv_until(ws, lambda f: f.get("status") == 400) == {
            "event": "subscribe",
            "status": 400,
            "message": "invalid ticker: bad ticker!",
        }
        send(ws, message("unsubscribe", ["aapl"]))
        recv_until(ws, lambda f: f.get("event") == "unsubscribe")
        simulator.wait_for(lambda s: all(not session.symbols for session in s.sessions))


def test_the_simulator_refuses_a_wrong_key_then_closes(simulator: FmpSimulator) -> None:
    with connect(simulator.url) as ws:
        send(ws, {"event": "login", "data": {"apiKey": "nope"}})
        assert recv_json(ws) == {"event": "login", "status": 401, "message": "Unauthorized"}
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=DEADLINE_SECONDS)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008


def test_the_simulator_kicks_the_older_session_of_a_key(simulator: FmpSimulator) -> None:
    with connect(simulator.url) as first, connect(simulator.url) as second:
        send(first, {"event": "login", "data": {"apiKey": KEY}})
        assert recv_json(first)["status"] == 200
        send(second, {"event": "login", "data": {"apiKey": KEY}})
        assert recv_json(second)["status"] == 200
        assert recv_until(first, lambda f: f.get("event") == "login") == {
            "event": "login",
            "status": 401,
            "message": "Connected from another location",
        }
        with pytest.raises(ConnectionClosed):
            recv_until(first, lambda _: False)
    assert simulator.kicked == 1


@pytest.mark.parametrize(("asset_type", "low", "high"), [("stock", 1e18, 1e19), ("fx", 1e12, 1e13)])
def test_simulated_timestamps_strictly_increase_in_the_asset_types_unit(
    asset_type: str, low: float, high: float
) -> None:
    server = FmpSimulator(asset_type=asset_type, rate=0)
    now = time.time_ns()
    frames = [server.event("x", now) for _ in range(50)]
    stamps = [frame["t"] for frame in frames]
    assert stamps == sorted(set(stamps))
    assert all(low < stamp < high for stamp in stamps)
    assert ("e" in frames[0]) is (asset_type != "stock")
    assert [frame["type"] for frame in frames[23:26]] == ["T", "B", "T"]
