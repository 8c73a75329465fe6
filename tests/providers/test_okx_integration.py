"""OKX through the Python API, on both runtimes, against the OKX simulator on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as connect_raw

from orchestrator import WebSocketsAPI
from providers.okx import OkxData
from providers.okx.simulator import OkxSimulator

from .crypto_helpers import after, assert_clean, count, recv_json, recv_until, send, wait_records

NAME = "prov-a_okx"
IDLE_TIMEOUT = 1.0  # the documented rule is 30 s; a short one keeps the tests quick


@pytest.fixture
def simulator() -> Iterator[OkxSimulator]:
    """Requested before `websockets`, so it stops after every connection is killed."""
    server = OkxSimulator(
        rate=50, idle_timeout=IDLE_TIMEOUT, markets=["BTC-USDT", "ETH-USDT", "SOL-USDT"]
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connect(websockets: WebSocketsAPI, simulator: OkxSimulator, **params: Any) -> None:
    values: dict[str, Any] = {"symbol": "btc-usdt,ETH/USDT", "url": simulator.url}
    websockets.create_connection(provider="okx", name=NAME, **{**values, **params})


def request(op: str, channels: tuple[str, ...], inst_ids: list[str]) -> dict[str, Any]:
    args = [{"channel": c, "instId": i} for c in channels for i in inst_ids]
    return {"op": op, "args": args}


def records(websockets: WebSocketsAPI, check: Any) -> list[OkxData]:
    return wait_records(websockets, NAME, OkxData, check)


def test_trades_and_tickers_land_with_clean_fields_and_types(
    simulator: OkxSimulator, websockets: WebSocketsAPI
) -> None:
    connect(websockets, simulator)
    simulator.wait_for(lambda s: len(s.received) >= 1)
    assert simulator.received[0] == request(
        "subscribe", ("trades", "tickers"), ["BTC-USDT", "ETH-USDT"]
    )
    found = records(
        websockets,
        lambda rs: (
            {(r.type, r.symbol) for r in rs}
            == {(t, s) for t in ("trade", "quote") for s in ("BTC/USDT", "ETH/USDT")}
        ),
    )
    for record in found:
        assert_clean(record, "OKX")
        if record.type == "trade":
            assert isinstance(record.trade_id, str)
        else:
            assert isinstance(record.volume_24h, float)
    status = websockets.get_client_status(NAME).results[0]
    assert status.is_running
    assert status.subscribed_symbols == "BTC/USDT,ETH/USDT"


def test_keepalive_pings_keep_an_idle_connection_open_past_the_idle_limit(
    websockets: WebSocketsAPI,
) -> None:
    # No data at all (rate 0): only the worker's `ping`s keep the connection alive.
    with OkxSimulator(rate=0, idle_timeout=IDLE_TIMEOUT) as quiet:
        connect(websockets, quiet, keepalive_seconds=0.25)
        started = time.monotonic()
        quiet.wait_for(lambda s: s.pings >= 16)  # about 4 s, four times the idle limit
        assert time.monotonic() - started > 3 * IDLE_TIMEOUT
        assert "ping" in quiet.received
        assert quiet.closed_idle == 0
        assert quiet.connections_opened == 1
        assert websockets.get_client_status(NAME).results[0].is_running
        websockets.kill(NAME)


def test_subscribe_and_unsubscribe_while_streaming_send_the_exact_messages(
    simulator: OkxSimulator, websockets: WebSocketsAPI
) -> None:
    connect(websockets, simulator, feed="trade")
    records(websockets, lambda rs: {r.symbol for r in rs} == {"BTC/USDT", "ETH/USDT"})

    websockets.subscribe(NAME, "solusdt,BTC-USDT")  # BTC/USDT is subscribed already
    simulator.wait_for_message(lambda m: m == request("subscribe", ("trades",), ["SOL-USDT"]))
    websockets.unsubscribe(NAME, "eth/usdt")
    simulator.wait_for_message(lambda m: m == request("unsubscribe", ("trades",), ["ETH-USDT"]))
    simulator.wait_for(lambda s: all("trades|ETH-USDT" not in x.symbols for x in s.sessions))
    mark = simulator.last_timestamp
    found = records(websockets, lambda rs: len(after(rs, mark)) >= 20)
    assert {r.symbol for r in after(found, mark)} == {"BTC/USDT", "SOL/USDT"}
    assert {r.type for r in found} == {"trade"}
    assert count(simulator, request("subscribe", ("trades",), ["SOL-USDT"])) == 1
    assert websockets.get_client_status(NAME).results[0].subscribed_symbols == "BTC/USDT,SOL/USDT"


def test_a_server_close_is_followed_by_reconnect_and_resubscribe_without_duplicates(
    simulator: OkxSimulator, websockets: WebSocketsAPI
) -> None:
    connect(websockets, simulator)
    before = len(records(websockets, lambda rs: len(rs) >= 20))
    simulator.close_connections()
    again = request("subscribe", ("trades", "tickers"), ["BTC-USDT", "ETH-USDT"])
    simulator.wait_for(lambda s: s.connections_opened == 2 and count(s, again) == 2)
    found = records(websockets, lambda rs: len(rs) >= before + 40)
    stamps = [(r.type, r.date) for r in found]
    assert len(stamps) == len(set(stamps)), "duplicate records after the reconnect"
    assert websockets.get_client_status(NAME).results[0].is_running


def test_an_upgrade_notice_makes_the_worker_reconnect_and_resubscribe(
    simulator: OkxSimulator, websockets: WebSocketsAPI
) -> None:
    connect(websockets, simulator, feed="quote")
    records(websockets, lambda rs: len(rs) >= 5)
    simulator.announce_upgrade()
    again = request("subscribe", ("tickers",), ["BTC-USDT", "ETH-USDT"])
    simulator.wait_for(lambda s: s.connections_opened == 2 and count(s, again) == 2)
    mark = simulator.last_timestamp
    records(websockets, lambda rs: len(after(rs, mark)) >= 5)
    assert websockets.get_client_status(NAME).results[0].is_running


# -- the simulator on its own, with a raw client ---------------------------------------------


def test_the_simulator_closes_a_connection_idle_past_its_limit(simulator: OkxSimulator) -> None:
    started = time.monotonic()
    with connect_raw(simulator.url) as ws, pytest.raises(ConnectionClosed):
        ws.recv(timeout=10 * IDLE_TIMEOUT)
    assert time.monotonic() - started >= IDLE_TIMEOUT
    assert simulator.closed_idle == 1


def test_the_simulator_answers_like_okx(simulator: OkxSimulator) -> None:
    with connect_raw(simulator.url) as ws:
        ws.send("ping")
        assert ws.recv(timeout=10) == "pong"
        send(ws, request("subscribe", ("tickers",), ["BTC-USDT", "FOO-BAR"]))
        ack, error = recv_json(ws), recv_json(ws)
        assert ack["event"] == "subscribe"
        assert ack["arg"] == {"channel": "tickers", "instId": "BTC-USDT"}
        assert (error["event"], error["code"]) == ("error", "60018")
        assert "instId:FOO-BAR doesn't exist" in error["msg"]
        push = recv_until(ws, lambda f: "data" in f)
        assert push["arg"] == {"channel": "tickers", "instId": "BTC-USDT"}
        assert isinstance(push["data"][0]["bidPx"], str)
        send(ws, {"op": "subscribe"})
        assert recv_until(ws, lambda f: f.get("event") == "error")["code"] == "60012"
        simulator.announce_upgrade()
        notice = recv_until(ws, lambda f: f.get("event") == "notice")
        assert notice["code"] == "64008"
        send(ws, request("unsubscribe", ("tickers",), ["BTC-USDT"]))
        recv_until(ws, lambda f: f.get("event") == "unsubscribe")
        simulator.wait_for(lambda s: all(not x.symbols for x in s.sessions))
