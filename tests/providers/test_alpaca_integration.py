"""Alpaca through the Python API, against the Alpaca simulator on a free loopback port.

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

from orchestrator import ParameterError, UnauthorizedError, WebSocketsAPI, WorkerError
from providers.alpaca import AlpacaData
from providers.alpaca.simulator import AlpacaSimulator

from .streaming import DEADLINE_SECONDS, count, wait_records

NAME = "prov-b_alpaca"
KEY_ID, SECRET = "PKPROVB", "prov-b-secret"
CREDENTIAL = f"{KEY_ID}:{SECRET}"
AUTH = {"action": "auth", "key": KEY_ID, "secret": SECRET}


@pytest.fixture
def simulator() -> Iterator[AlpacaSimulator]:
    """Requested before `websockets` in each test, so it stops after every connection is killed."""
    server = AlpacaSimulator(api_keys=[CREDENTIAL], rate=50)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connect_alpaca(
    websockets: WebSocketsAPI, simulator: AlpacaSimulator, path: str = "", **params: Any
) -> None:
    values: dict[str, Any] = {
        "symbol": "aapl,msft",
        "url": simulator.url + path,
        "api_key": CREDENTIAL,
        "name": NAME,
    }
    websockets.create_connection(provider="alpaca", **{**values, **params})


def wait(websockets: WebSocketsAPI, check: Any, name: str = NAME) -> list[AlpacaData]:
    return wait_records(websockets, name, AlpacaData, check)


def action(
    verb: str, symbols: list[str], lists: tuple[str, ...] = ("trades", "quotes", "bars")
) -> dict[str, Any]:
    return {"action": verb} | {name: symbols for name in lists}


def trade_ids(found: list[AlpacaData]) -> list[int]:
    return [r.trade_id for r in found if r.type == "trade" and r.trade_id is not None]


# -- through the Python API -----------------------------------------------------------------------


def test_records_land_with_clean_fields_and_types(
    simulator: AlpacaSimulator, websockets: WebSocketsAPI
) -> None:
    connect_alpaca(websockets, simulator)
    simulator.wait_for(lambda s: len(s.received) >= 2)
    assert simulator.received[:2] == [AUTH, action("subscribe", ["AAPL", "MSFT"])]
    found = wait(
        websockets,
        lambda rs: (
            {(r.symbol, r.type) for r in rs}
            >= {(s, t) for s in ("AAPL", "MSFT") for t in ("trade", "quote", "bar")}
        ),
    )
    for record in found:
        assert isinstance(record.date, datetime)
        assert record.date.tzinfo is not None
        assert abs(record.date.timestamp() - time.time()) < 120
        assert isinstance(record.timestamp, str)
        if record.type == "trade":
            assert (record.exchange, record.tape) == ("V", "C")
            assert isinstance(record.last_price, float)
            assert isinstance(record.last_size, float)
            assert isinstance(record.trade_id, int)
        elif record.type == "quote":
            assert (record.bid_exchange, record.ask_exchange) == ("V", "V")
            assert isinstance(record.bid_price, float)
            assert isinstance(record.ask_size, float)
        else:
            assert record.type == "bar"
            assert record.interval == "minute"
            assert isinstance(record.close, float)
            assert isinstance(record.trade_count, int)
    status = websockets.get_client_status(NAME).results[0]
    assert status.is_running
    assert status.subscribed_symbols == "AAPL,MSFT"


def test_the_test_stream_serves_fakepaca_only(
    simulator: AlpacaSimulator, websockets: WebSocketsAPI
) -> None:
    connect_alpaca(
        websockets, simulator, "/v2/test", source="test", symbol="fakepaca,aapl", feed="trade"
    )
    assert simulator.wait_for_message(lambda m: m.get("action") == "subscribe") == action(
        "subscribe", ["FAKEPACA", "AAPL"], ("trades",)
    )
    found = wait(websockets, lambda rs: len(rs) >= 20)
    assert {(r.symbol, r.type) for r in found} == {("FAKEPACA", "trade")}


def test_crypto_pairs_are_canonical_and_name_the_venue(
    simulator: AlpacaSimulator, websockets: WebSocketsAPI
) -> None:
    connect_alpaca(
        websockets, simulator, "/v1beta3/crypto/us", asset_type="crypto", symbol="btcusd,eth-usd"
    )
    assert simulator.wait_for_message(lambda m: m.get("action") == "subscribe") == action(
        "subscribe", ["BTC/USD", "ETH/USD"]
    )
    found = wait(websockets, lambda rs: {r.symbol for r in rs} == {"BTC/USD", "ETH/USD"})
    assert {r.exchange for r in found} == {"alpaca"}
    assert {r.side for r in found if r.type == "trade"} <= {"buy", "sell"}
    assert websockets.get_client_status(NAME).results[0].subscribed_symbols == "BTC/USD,ETH/USD"


def test_subscribe_and_unsubscribe_while_streaming_send_the_exact_messages(
    simulator: AlpacaSimulator, websockets: WebSocketsAPI
) -> None:
    connect_alpaca(websockets, simulator, feed="trade")
    wait(websockets, lambda rs: {r.symbol for r in rs} == {"AAPL", "MSFT"})

    websockets.subscribe(NAME, "spy,AAPL")  # AAPL is already there: only SPY goes out
    simulator.wait_for_message(lambda m: m == action("subscribe", ["SPY"], ("trades",)))
    wait(websockets, lambda rs: "SPY" in {r.symbol for r in rs})

    websockets.unsubscribe(NAME, "msft")
    simulator.wait_for_message(lambda m: m == action("unsubscribe", ["MSFT"], ("trades",)))
    simulator.wait_for(lambda s: all(not any("MSFT" in e for e in x.symbols) for x in s.sessions))
    mark = simulator.last_trade_id
    found = wait(websockets, lambda rs: sum(t > mark for t in trade_ids(rs)) >= 20)
    assert {r.symbol for r in found if (r.trade_id or 0) > mark} == {"AAPL", "SPY"}
    assert websockets.get_client_status(NAME).results[0].subscribed_symbols == "AAPL,SPY"


def test_a_server_close_is_followed_by_reauth_and_resubscribe_without_duplicates(
    simulator: AlpacaSimulator, websockets: WebSocketsAPI
) -> None:
    connect_alpaca(websockets, simulator, feed="trade")
    before = len(wait(websockets, lambda rs: len(rs) >= 20))
    simulator.close_connections()
    resubscribe = action("subscribe", ["AAPL", "MSFT"], ("trades",))
    simulator.wait_for(
        lambda s: s.connections_opened == 2 and count(s, AUTH) == 2 and count(s, resubscribe) == 2
    )
    found = wait(websockets, lambda rs: len(rs) >= before + 40)
    ids = trade_ids(found)
    assert len(ids) == len(set(ids)), "duplicate records after the reconnect"
    assert ids == sorted(ids)
    assert simulator.refused == 0  # the old session was gone before the new one authenticated


def test_refused_credentials_raise_unauthorized_in_alpacas_words_without_the_secret(
    simulator: AlpacaSimulator, websockets: WebSocketsAPI
) -> None:
    with pytest.raises(UnauthorizedError, match=r"auth failed \(402\)") as caught:
        connect_alpaca(websockets, simulator, api_key=f"{KEY_ID}:wrong-secret")
    assert "wrong-secret" not in str(caught.value)
    assert not any(m.get("action") == "subscribe" for m in simulator.received)
    with pytest.raises(LookupError):
        websockets.get_client_status(NAME)


def test_key_and_secret_may_come_from_two_environment_variables(
    simulator: AlpacaSimulator, websockets: WebSocketsAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", KEY_ID)
    monkeypatch.setenv("ALPACA_API_SECRET", SECRET)
    connect_alpaca(websockets, simulator, api_key=None)
    assert simulator.wait_for_message(lambda m: m.get("action") == "auth") == AUTH


def test_a_second_connection_on_the_same_endpoint_is_refused_and_the_first_keeps_going(
    simulator: AlpacaSimulator, websockets: WebSocketsAPI
) -> None:
    connect_alpaca(websockets, simulator, name=f"{NAME}1")
    with pytest.raises(WorkerError, match=r"connection limit exceeded \(406\)"):
        connect_alpaca(websockets, simulator, name=f"{NAME}2", symbol="spy")
    assert simulator.refused == 1
    assert websockets.get_client_status(f"{NAME}1").results[0].is_running
    mark = simulator.last_trade_id
    wait(websockets, lambda rs: sum(t > mark for t in trade_ids(rs)) >= 5, name=f"{NAME}1")
    # Another endpoint (here the test stream) is a separate limit.
    connect_alpaca(
        websockets, simulator, "/v2/test", name=f"{NAME}3", source="test", symbol="FAKEPACA"
    )


def test_a_plan_without_sip_is_refused_as_unauthorized(websockets: WebSocketsAPI) -> None:
    with AlpacaSimulator(api_keys=[CREDENTIAL], plan="basic") as basic:
        with pytest.raises(UnauthorizedError, match=r"insufficient subscription \(409\)"):
            connect_alpaca(websockets, basic, "/v2/sip", source="sip")
        assert not any(m.get("action") == "subscribe" for m in basic.received)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"source": "us"}, "source"),
        ({"feed": "news"}, "feed"),
        ({"asset_type": "options"}, "asset_type"),
        ({"symbol": "BTC/USD"}, "asset_type"),
    ],
)
def test_bad_choices_raise_a_parameter_error_naming_the_field(
    simulator: AlpacaSimulator, websockets: WebSocketsAPI, params: dict[str, Any], field: str
) -> None:
    with pytest.raises(ParameterError) as caught:
        connect_alpaca(websockets, simulator, **params)
    assert caught.value.field == field
    assert SECRET not in str(caught.value)
    assert simulator.connections_opened == 0


# -- the simulator on its own, with a raw client ---------------------------------------------


def recv_json(connection: ClientConnection) -> Any:
    return orjson.loads(connection.recv(timeout=DEADLINE_SECONDS))


def send(connection: ClientConnection, payload: Any) -> None:
    connection.send(payload if isinstance(payload, str) else orjson.dumps(payload).decode())


def drain(connection: ClientConnection) -> None:
    """Read until the server closes the connection (which raises ConnectionClosed)."""
    while True:
        recv_json(connection)


def error(code: int, msg: str) -> list[dict[str, Any]]:
    return [{"T": "error", "code": code, "msg": msg}]


def test_the_simulator_answers_like_alpaca() -> None:
    with AlpacaSimulator(api_keys=[CREDENTIAL], rate=0) as sim, connect(f"{sim.url}/v2/iex") as ws:
        assert recv_json(ws) == [{"T": "success", "msg": "connected"}]
        send(ws, action("subscribe", ["AAPL"]))
        assert recv_json(ws) == error(401, "not authenticated")
        send(ws, "{nope")
        assert recv_json(ws) == error(400, "invalid syntax")
        send(ws, AUTH)
        assert recv_json(ws) == [{"T": "success", "msg": "authenticated"}]
        send(ws, AUTH)
        assert recv_json(ws) == error(403, "already authenticated")
        send(
            ws,
            {"action": "subscribe", "trades": ["AAPL"], "quotes": ["AMD", "CLDR"], "bars": ["*"]},
        )
        assert recv_json(ws) == [
            {"T": "subscription", "trades": ["AAPL"], "quotes": ["AMD", "CLDR"], "bars": ["*"]}
        ]
        send(ws, {"action": "unsubscribe", "bars": ["*"]})
        assert recv_json(ws) == [
            {"T": "subscription", "trades": ["AAPL"], "quotes": ["AMD", "CLDR"], "bars": []}
        ]


def test_the_simulator_limits_a_basic_plan_to_30_symbols() -> None:
    with (
        AlpacaSimulator(api_keys=[CREDENTIAL], rate=0, plan="basic") as sim,
        connect(sim.url) as ws,
    ):
        recv_json(ws)
        send(ws, AUTH)
        recv_json(ws)
        send(ws, action("subscribe", [f"S{i}" for i in range(31)], ("trades",)))
        assert recv_json(ws) == error(405, "symbol limit exceeded")
        send(ws, action("subscribe", [f"S{i}" for i in range(30)], ("trades", "quotes")))
        assert len(recv_json(ws)[0]["trades"]) == 30


def test_the_simulator_times_out_a_silent_client() -> None:
    with AlpacaSimulator(rate=0, auth_timeout=0.2) as sim, connect(sim.url) as ws:
        assert recv_json(ws) == [{"T": "success", "msg": "connected"}]
        assert recv_json(ws) == error(404, "auth timeout")
        with pytest.raises(ConnectionClosed):
            drain(ws)


def test_the_simulator_refuses_unknown_paths_at_the_handshake() -> None:
    with AlpacaSimulator() as sim, pytest.raises(InvalidStatus) as refused:
        connect(f"{sim.url}/v2/otc")
    assert refused.value.response.status_code == 404
