"""Tiingo through the Python API, against the Tiingo simulator on a free loopback port.

Each test starts real provider workers (child processes) that talk to the in-process simulator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import orjson
import pytest
from websockets.asyncio.client import connect as ws_connect

from orchestrator import ParameterError, UnauthorizedError, WebSocketsAPI
from providers.simulator import SimulatorServer
from providers.tiingo import TiingoData
from providers.tiingo.simulator import TiingoSimulator

KEY = "good-key"
T = TypeVar("T")


@pytest.fixture
def simulator() -> Iterator[TiingoSimulator]:
    server = TiingoSimulator(rate=40, api_keys={KEY}, heartbeat_seconds=0.5)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def poll(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float = 20) -> T:
    """Call `fetch` until `done(result)` holds, or fail at the deadline with the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last: {result!r}"[:2000])
        time.sleep(0.05)


def records(api: WebSocketsAPI, name: str) -> list[TiingoData]:
    items = api.get_results(name).results
    assert all(isinstance(item, TiingoData) for item in items)
    return items  # type: ignore[return-value]


def connect(api: WebSocketsAPI, sim: TiingoSimulator, name: str, **params: Any) -> None:
    api.create_connection(
        provider="tiingo", name=name, url=sim.url, api_key=KEY, **{"symbol": "spy", **params}
    )


def opening_subscribes(sim: SimulatorServer) -> list[dict[str, Any]]:
    return [
        m
        for m in sim.received
        if isinstance(m, dict) and "thresholdLevel" in m.get("eventData", {})
    ]


@pytest.mark.parametrize(
    ("asset_type", "symbol", "exchange", "types"),
    [
        ("stock", "SPY", "IEX", {"trade", "quote"}),
        ("fx", "EURUSD", None, {"quote"}),
        ("crypto", "BTCUSD", "simex", {"trade", "quote"}),
    ],
)
def test_records_land_with_clean_fields_and_types(
    websockets: WebSocketsAPI,
    simulator: TiingoSimulator,
    asset_type: str,
    symbol: str,
    exchange: str | None,
    types: set[str],
) -> None:
    connect(websockets, simulator, f"tiingo-{asset_type}", symbol=symbol.lower(),
            asset_type=asset_type)  # fmt: skip
    found = poll(
        lambda: records(websockets, f"tiingo-{asset_type}"),
        lambda items: {r.type for r in items} >= types and len(items) >= 4,
    )
    for record in found:
        assert isinstance(record.date, datetime)
        assert record.date.tzinfo is not None
        assert (record.symbol, record.exchange) == (symbol, exchange)
        if record.type == "trade":
            assert isinstance(record.last_price, float)
            assert isinstance(record.last_size, float)
        else:
            assert record.type == "quote"
            assert isinstance(record.bid_price, float)
            assert isinstance(record.ask_price, float)
            assert isinstance(record.mid_price, float)
            assert record.bid_price < record.mid_price < record.ask_price
        assert isinstance(record.timestamp, int) is (asset_type == "stock")
    status = websockets.get_client_status(f"tiingo-{asset_type}").results[0]
    assert status.subscribed_symbols == symbol


def test_a_wrong_key_raises_the_providers_refusal(
    websockets: WebSocketsAPI, simulator: TiingoSimulator
) -> None:
    with pytest.raises(UnauthorizedError, match="Not authorized"):
        websockets.create_connection(
            provider="tiingo", name="tiingo-bad", symbol="spy", url=simulator.url, api_key="nope"
        )
    assert simulator.received[-1]["authorization"] == "nope"


def test_subscribe_and_unsubscribe_send_the_exact_wire_messages(
    websockets: WebSocketsAPI, simulator: TiingoSimulator
) -> None:
    connect(websockets, simulator, "tiingo-live", symbol="spy")
    assert opening_subscribes(simulator) == [
        {
            "eventName": "subscribe",
            "authorization": KEY,
            "eventData": {"thresholdLevel": 5, "tickers": ["spy"]},
        }
    ]
    (subscription,) = simulator.subscriptions.values()
    websockets.subscribe("tiingo-live", "aapl")
    added = {
        "eventName": "subscribe",
        "authorization": KEY,
        "eventData": {"subscriptionId": subscription.id, "tickers": ["aapl"]},
    }
    simulator.wait_for_message(lambda m: m == added)
    poll(lambda: records(websockets, "tiingo-live"), lambda rs: "AAPL" in {r.symbol for r in rs})

    websockets.unsubscribe("tiingo-live", "spy")
    removed = {
        "eventName": "unsubscribe",
        "authorization": KEY,
        "eventData": {"subscriptionId": subscription.id, "tickers": ["spy"]},
    }
    simulator.wait_for_message(lambda m: m == removed)
    simulator.wait_for(lambda _: subscription.tickers == {"aapl"})
    cutoff = time.time_ns()
    later = poll(
        lambda: [r for r in records(websockets, "tiingo-live") if (r.timestamp or 0) > cutoff],
        lambda rs: len(rs) >= 5,
    )
    assert {r.symbol for r in later} == {"AAPL"}
    status = websockets.get_client_status("tiingo-live").results[0]
    assert status.subscribed_symbols == "AAPL"


def test_a_server_side_close_is_followed_by_reconnect_and_resubscribe_without_duplicates(
    websockets: WebSocketsAPI, simulator: TiingoSimulator
) -> None:
    connect(websockets, simulator, "tiingo-close", symbol="spy,uso")
    websockets.subscribe("tiingo-close", "aapl")
    poll(lambda: records(websockets, "tiingo-close"), lambda rs: len(rs) >= 5)
    (before,) = simulator.subscriptions.values()

    simulator.close_connections()
    simulator.wait_for(lambda s: s.connections_opened == 2 and len(opening_subscribes(s)) == 2)
    first, again = opening_subscribes(simulator)
    assert first["eventData"]["tickers"] == ["spy", "uso"]
    assert again == {
        "eventName": "subscribe",
        "authorization": KEY,
        "eventData": {"thresholdLevel": 5, "tickers": ["spy", "uso", "aapl"]},
    }
    (after,) = poll(
        lambda: list(simulator.subscriptions.values()),
        lambda subs: len(subs) == 1 and subs[0].id != before.id,
    )
    assert after.tickers == {"spy", "uso", "aapl"}
    reconnected = time.time_ns()
    found = poll(
        lambda: records(websockets, "tiingo-close"),
        lambda rs: sum((r.timestamp or 0) > reconnected for r in rs) >= 6,
    )
    stamps = [r.timestamp or 0 for r in found]
    assert len(stamps) == len(set(stamps)), "duplicate records after the reconnect"
    assert stamps == sorted(stamps)
    assert {r.symbol for r in found if (r.timestamp or 0) > reconnected} == {"SPY", "USO", "AAPL"}


@pytest.mark.parametrize(
    ("params", "allowed"),
    [
        ({"asset_type": "bond"}, ["stock", "fx", "crypto"]),
        ({"feed": "aggregate"}, ["all", "trade", "quote", "reference"]),
        ({"asset_type": "fx", "feed": "trade"}, ["allowed feeds: all, quote"]),
        ({"asset_type": "crypto", "threshold_level": 6}, ["threshold_level values: 2, 5"]),
    ],
)
def test_bad_choices_raise_a_parameter_error_listing_the_allowed_values(
    websockets: WebSocketsAPI, params: dict[str, Any], allowed: list[str]
) -> None:
    with pytest.raises(ParameterError) as caught:
        websockets.create_connection(provider="tiingo", name="tiingo-params", symbol="x", **params)
    for value in allowed:
        assert value in str(caught.value)


# -- the simulator on its own (raw client, no worker) ---------------------------------------------


async def test_the_simulator_answers_like_tiingo(simulator: TiingoSimulator) -> None:
    def request(event: str, data: dict[str, Any], key: str = KEY) -> str:
        payload = {"eventName": event, "authorization": key, "eventData": data}
        return orjson.dumps(payload).decode()

    async def reply(ws: Any, kinds: str = "IEH") -> dict[str, Any]:
        while True:  # skip data frames
            message: dict[str, Any] = orjson.loads(await ws.recv())
            if message["messageType"] in kinds:
                return message

    async with ws_connect(f"{simulator.url}/crypto") as ws:
        await ws.send(request("subscribe", {"thresholdLevel": 6, "tickers": ["btcusd"]}))
        assert (await reply(ws))["response"] == {"code": 400, "message": "thresholdLevel not valid"}
        await ws.send(request("subscribe", {"thresholdLevel": 5, "tickers": ["bad ticker!"]}))
        assert (await reply(ws))["response"]["code"] == 400
        await ws.send(request("subscribe", {"thresholdLevel": 5, "tickers": ["btcusd"]}))
        subscribed = await reply(ws)
        assert subscribed["messageType"] == "I"
        sid = subscribed["data"]["subscriptionId"]
        data = orjson.loads(await ws.recv())
        assert data["service"] == "crypto_data"
        assert data["data"][:2] == ["T", "btcusd"]  # level 5: trades only
        await ws.send(request("unsubscribe", {"subscriptionId": sid + 1, "tickers": ["btcusd"]}))
        assert (await reply(ws, "E"))["response"]["message"] == "subscriptionId not valid"
        await ws.send(request("subscribe", {"subscriptionId": sid, "tickers": ["ethusd"]}))
        changed = await reply(ws, "I")
        assert changed["data"] == {"tickers": ["btcusd", "ethusd"], "thresholdLevel": "5"}
        assert (await reply(ws, "H")) == {
            "messageType": "H",
            "response": {"code": 200, "message": "HeartBeat"},
        }

    async with ws_connect(f"{simulator.url}/boats") as ws:
        assert orjson.loads(await ws.recv())["response"]["code"] == 404


def test_a_connection_left_without_tickers_subscribes_again_after_a_reconnect(
    websockets: WebSocketsAPI, simulator: TiingoSimulator
) -> None:
    connect(websockets, simulator, "emptied")
    websockets.unsubscribe("emptied", symbol="spy")
    simulator.close_connections()
    # Reconnected with no tickers: nothing is sent (an empty list would be the firehose).
    simulator.wait_for(lambda s: s.connections_opened == 2)

    status = websockets.subscribe("emptied", symbol="aapl").results
    assert status.subscribed_symbols == "AAPL"
    simulator.wait_for(
        lambda s: any(m["eventData"]["tickers"] == ["aapl"] for m in opening_subscribes(s))
    )
    poll(lambda: records(websockets, "emptied"), lambda rs: any(r.symbol == "AAPL" for r in rs))
