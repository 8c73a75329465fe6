"""Kraken through the Python API, on both runtimes, against the Kraken simulator on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import connect as connect_raw

from orchestrator import WebSocketsAPI
from providers.kraken import KrakenData
from providers.kraken.simulator import KrakenSimulator

from .crypto_helpers import after, assert_clean, count, recv_json, recv_until, send, wait_records

NAME = "prov-a_kraken"


@pytest.fixture
def simulator() -> Iterator[KrakenSimulator]:
    """Requested before `websockets`, so it stops after every connection is killed."""
    server = KrakenSimulator(
        rate=50, heartbeat_seconds=0.2, markets=["BTC/USD", "ETH/USD", "SOL/USD"]
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connect(websockets: WebSocketsAPI, simulator: KrakenSimulator, **params: Any) -> None:
    values: dict[str, Any] = {"symbol": "btc/usd,ETH-USD", "url": simulator.url}
    websockets.create_connection(provider="kraken", name=NAME, **{**values, **params})


def request(method: str, channel: str, pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {"channel": channel, "symbol": pairs}
    if method == "subscribe":
        if channel == "ticker":
            params["event_trigger"] = "bbo"
        params["snapshot"] = False
    return {"method": method, "params": params}


def records(websockets: WebSocketsAPI, check: Any) -> list[KrakenData]:
    return wait_records(websockets, NAME, KrakenData, check)


def test_trades_and_quotes_land_with_clean_fields_and_types(
    simulator: KrakenSimulator, websockets: WebSocketsAPI
) -> None:
    connect(websockets, simulator)
    simulator.wait_for(lambda s: len(s.received) >= 2)
    assert simulator.received[:2] == [
        request("subscribe", "trade", ["BTC/USD", "ETH/USD"]),
        request("subscribe", "ticker", ["BTC/USD", "ETH/USD"]),
    ]
    found = records(
        websockets,
        lambda rs: (
            {(r.type, r.symbol) for r in rs}
            == {(t, s) for t in ("trade", "quote") for s in ("BTC/USD", "ETH/USD")}
        ),
    )
    for record in found:
        assert_clean(record, "KRAKEN")
        if record.type == "trade":
            assert isinstance(record.trade_id, int)
            assert record.side in ("buy", "sell")
        else:
            assert isinstance(record.vwap, float)
    status = websockets.get_client_status(NAME).results[0]
    assert status.is_running
    assert status.subscribed_symbols == "BTC/USD,ETH/USD"


def test_subscribe_and_unsubscribe_while_streaming_send_the_exact_messages(
    simulator: KrakenSimulator, websockets: WebSocketsAPI
) -> None:
    connect(websockets, simulator, feed="trade")
    records(websockets, lambda rs: {r.symbol for r in rs} == {"BTC/USD", "ETH/USD"})

    websockets.subscribe(NAME, "solusd,BTC/USD")  # BTC/USD is subscribed already
    simulator.wait_for_message(lambda m: m == request("subscribe", "trade", ["SOL/USD"]))
    websockets.unsubscribe(NAME, "eth/usd")
    simulator.wait_for_message(lambda m: m == request("unsubscribe", "trade", ["ETH/USD"]))
    simulator.wait_for(lambda s: all("trade|ETH/USD" not in x.symbols for x in s.sessions))
    mark = simulator.last_timestamp
    found = records(websockets, lambda rs: len(after(rs, mark)) >= 20)
    assert {r.symbol for r in after(found, mark)} == {"BTC/USD", "SOL/USD"}
    assert {r.type for r in found} == {"trade"}
    assert count(simulator, request("subscribe", "trade", ["SOL/USD"])) == 1
    assert not any(m.get("params", {}).get("channel") == "ticker" for m in simulator.received)
    assert websockets.get_client_status(NAME).results[0].subscribed_symbols == "BTC/USD,SOL/USD"


def test_a_server_close_is_followed_by_reconnect_and_resubscribe_without_duplicates(
    simulator: KrakenSimulator, websockets: WebSocketsAPI
) -> None:
    connect(websockets, simulator)
    before = len(records(websockets, lambda rs: len(rs) >= 20))
    simulator.close_connections()
    again = [request("subscribe", c, ["BTC/USD", "ETH/USD"]) for c in ("trade", "ticker")]
    simulator.wait_for(lambda s: s.connections_opened == 2 and all(count(s, m) == 2 for m in again))
    found = records(websockets, lambda rs: len(rs) >= before + 40)
    stamps = [r.date for r in found]
    assert len(stamps) == len(set(stamps)), "duplicate records after the reconnect"
    assert stamps == sorted(stamps)
    assert websockets.get_client_status(NAME).results[0].is_running


def test_an_unlisted_pair_is_refused_and_the_others_keep_streaming(
    simulator: KrakenSimulator, websockets: WebSocketsAPI
) -> None:
    connect(websockets, simulator, symbol="btc/usd,xyz/usd", feed="quote")
    simulator.wait_for_message(
        lambda m: m == request("subscribe", "ticker", ["BTC/USD", "XYZ/USD"])
    )
    found = records(websockets, lambda rs: len(rs) >= 10)
    assert {r.symbol for r in found} == {"BTC/USD"}
    assert websockets.get_client_status(NAME).results[0].is_running


# -- the simulator on its own, with a raw client ---------------------------------------------


def test_the_simulator_answers_like_kraken(simulator: KrakenSimulator) -> None:
    with connect_raw(simulator.url) as ws:
        status = recv_json(ws)
        assert status["channel"] == "status"
        assert status["data"][0]["system"] == "online"
        send(ws, {"method": "ping", "req_id": 7})
        pong = recv_json(ws)
        assert (pong["method"], pong["req_id"]) == ("pong", 7)
        send(ws, request("subscribe", "trade", ["BTC/USD", "XYZ/USD"]))
        ok, refused = recv_json(ws), recv_json(ws)
        assert ok["success"] is True
        assert ok["result"] == {"channel": "trade", "symbol": "BTC/USD", "snapshot": False}
        assert (refused["success"], refused["error"]) == (
            False,
            "Currency pair not supported XYZ/USD",
        )
        trade = recv_until(ws, lambda f: f.get("channel") == "trade")
        assert trade["data"][0]["symbol"] == "BTC/USD"
        recv_until(ws, lambda f: f.get("channel") == "heartbeat")
        send(ws, request("unsubscribe", "ticker", ["BTC/USD"]))
        missing = recv_until(ws, lambda f: f.get("method") == "unsubscribe")
        assert missing["error"] == "Subscription Not Found"
        send(ws, {"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"]}})
        assert recv_until(ws, lambda f: "error" in f)["error"] == "Channel not supported book"
