"""Coinbase through the Python API, on both runtimes, against the Coinbase simulator on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as connect_raw

from orchestrator import WebSocketsAPI
from providers.coinbase import CoinbaseData
from providers.coinbase.simulator import CoinbaseSimulator

from .crypto_helpers import after, assert_clean, count, recv_json, recv_until, send, wait_records

NAME = "prov-a_coinbase"
SUBSCRIBE_TIMEOUT = 1.0  # the documented rule is 5 s; a short one keeps the tests quick


@pytest.fixture
def simulator() -> Iterator[CoinbaseSimulator]:
    """Requested before `websockets`, so it stops after every connection is killed."""
    server = CoinbaseSimulator(
        rate=50,
        subscribe_timeout=SUBSCRIBE_TIMEOUT,
        heartbeat_seconds=0.2,
        markets=["BTC-USD", "ETH-USD", "SOL-USD"],
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connect(websockets: WebSocketsAPI, simulator: CoinbaseSimulator, **params: Any) -> None:
    values: dict[str, Any] = {"symbol": "btc-usd,ETH/USD", "url": simulator.url}
    websockets.create_connection(provider="coinbase", name=NAME, **{**values, **params})


def request(kind: str, products: list[str], channels: tuple[str, ...]) -> dict[str, Any]:
    return {"type": kind, "product_ids": products, "channels": list(channels)}


def records(websockets: WebSocketsAPI, check: Any) -> list[CoinbaseData]:
    return wait_records(websockets, NAME, CoinbaseData, check)


def test_matches_and_tickers_land_with_clean_fields_and_types(
    simulator: CoinbaseSimulator, websockets: WebSocketsAPI
) -> None:
    connect(websockets, simulator)
    simulator.wait_for(lambda s: len(s.received) >= 1)
    assert simulator.received[0] == request(
        "subscribe", ["BTC-USD", "ETH-USD"], ("matches", "ticker")
    )
    found = records(
        websockets,
        lambda rs: (
            {(r.type, r.symbol) for r in rs}
            == {(t, s) for t in ("trade", "quote") for s in ("BTC/USD", "ETH/USD")}
        ),
    )
    for record in found:
        assert_clean(record, "COINBASE")
        assert isinstance(record.trade_id, int)
        assert isinstance(record.sequence, int)
    status = websockets.get_client_status(NAME).results[0]
    assert status.is_running
    assert status.subscribed_symbols == "BTC/USD,ETH/USD"


def test_the_connection_subscribes_within_the_subscribe_rule_and_stays_open(
    simulator: CoinbaseSimulator, websockets: WebSocketsAPI
) -> None:
    connect(websockets, simulator, feed="trade")
    simulator.wait_for(lambda s: len(s.subscribe_delays) == 1)
    assert simulator.subscribe_delays[0] < SUBSCRIBE_TIMEOUT
    subscribed_at = time.time()
    # Records keep coming well past the rule's deadline, on the same connection.
    records(
        websockets,
        lambda rs: any(r.date.timestamp() > subscribed_at + 3 * SUBSCRIBE_TIMEOUT for r in rs),
    )
    assert simulator.connections_opened == 1
    assert simulator.closed_without_subscribe == 0


def test_subscribe_and_unsubscribe_while_streaming_send_the_exact_messages(
    simulator: CoinbaseSimulator, websockets: WebSocketsAPI
) -> None:
    connect(websockets, simulator, feed="quote")
    records(websockets, lambda rs: {r.symbol for r in rs} == {"BTC/USD", "ETH/USD"})

    websockets.subscribe(NAME, "SOL/USD,btcusd")  # BTC/USD is subscribed already
    simulator.wait_for_message(lambda m: m == request("subscribe", ["SOL-USD"], ("ticker",)))
    websockets.unsubscribe(NAME, "eth-usd")
    simulator.wait_for_message(lambda m: m == request("unsubscribe", ["ETH-USD"], ("ticker",)))
    simulator.wait_for(lambda s: all("ticker|ETH-USD" not in x.symbols for x in s.sessions))
    mark = simulator.last_timestamp
    found = records(websockets, lambda rs: len(after(rs, mark)) >= 20)
    assert {r.symbol for r in after(found, mark)} == {"BTC/USD", "SOL/USD"}
    assert {r.type for r in found} == {"quote"}
    assert count(simulator, request("subscribe", ["SOL-USD"], ("ticker",))) == 1
    assert websockets.get_client_status(NAME).results[0].subscribed_symbols == "BTC/USD,SOL/USD"


def test_a_server_close_is_followed_by_reconnect_and_resubscribe_without_duplicates(
    simulator: CoinbaseSimulator, websockets: WebSocketsAPI
) -> None:
    connect(websockets, simulator)
    before = len(records(websockets, lambda rs: len(rs) >= 20))
    simulator.close_connections()
    again = request("subscribe", ["BTC-USD", "ETH-USD"], ("matches", "ticker"))
    simulator.wait_for(lambda s: s.connections_opened == 2 and count(s, again) == 2)
    found = records(websockets, lambda rs: len(rs) >= before + 40)
    # The simulator restates each product's newest trade after the resubscribe (last_match and
    # the first ticker); the protocol drops them, so every (type, product, trade) is stored once.
    keys = [(r.type, r.symbol, r.trade_id) for r in found]
    assert len(keys) == len(set(keys)), "duplicate records after the reconnect"
    assert websockets.get_client_status(NAME).results[0].is_running
    assert simulator.closed_without_subscribe == 0


# -- the simulator on its own, with a raw client ---------------------------------------------


def test_the_simulator_closes_a_connection_that_does_not_subscribe_in_time(
    simulator: CoinbaseSimulator,
) -> None:
    started = time.monotonic()
    with connect_raw(simulator.url) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10 * SUBSCRIBE_TIMEOUT)
    assert time.monotonic() - started >= SUBSCRIBE_TIMEOUT
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.reason == "no subscribe within 5 seconds"
    assert simulator.closed_without_subscribe == 1


def test_the_simulator_answers_like_coinbase(simulator: CoinbaseSimulator) -> None:
    with connect_raw(simulator.url) as ws:
        send(ws, request("subscribe", ["BTC-USD", "XYZ-USD"], ("matches",)))
        assert recv_json(ws) == {
            "type": "error",
            "message": "Failed to subscribe",
            "reason": "XYZ-USD is not a valid product",
        }
        send(ws, {"type": "subscribe", "channels": [{"name": "heartbeat", "product_ids": []}]})
        assert recv_json(ws)["reason"] == (
            "You need to specify at least one product ID for channel heartbeat"
        )
        send(ws, request("subscribe", ["BTC-USD"], ("full",)))
        assert recv_json(ws)["reason"] == "full channel requires authentication"
        send(ws, request("subscribe", ["BTC-USD"], ("matches", "heartbeat")))
        assert recv_json(ws) == {
            "type": "subscriptions",
            "channels": [
                {"name": "matches", "product_ids": ["BTC-USD"]},
                {"name": "heartbeat", "product_ids": ["BTC-USD"]},
            ],
        }
        match = recv_until(ws, lambda f: f["type"] == "match")
        assert match["product_id"] == "BTC-USD"
        assert isinstance(match["price"], str)
        heartbeat = recv_until(ws, lambda f: f["type"] == "heartbeat")
        assert heartbeat["last_trade_id"] >= match["trade_id"]
        send(ws, request("subscribe", ["BTC-USD"], ("ticker",)))
        recv_until(ws, lambda f: f["type"] == "subscriptions")
        send(ws, request("unsubscribe", ["BTC-USD"], ("matches", "ticker", "heartbeat")))
        assert recv_until(ws, lambda f: f["type"] == "subscriptions")["channels"] == []
    with connect_raw(simulator.url) as ws:  # a new subscriber is told the newest trade first
        send(ws, request("subscribe", ["BTC-USD"], ("matches",)))
        recv_until(ws, lambda f: f["type"] == "subscriptions")
        assert recv_json(ws)["type"] == "last_match"
