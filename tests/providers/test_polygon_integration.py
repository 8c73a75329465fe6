"""The polygon provider through the Python API, against its simulator on a free port."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from orchestrator import ParameterError, UnauthorizedError, WebSocketsAPI
from providers.polygon import PolygonData, PolygonProtocol, PolygonQueryParams
from providers.polygon.simulator import PolygonSimulator
from providers.protocol import Records

KEY = "good-key"
STATUS = '[{"ev":"status","status":"%s","message":"%s"}]'
CONNECTED = STATUS % ("connected", "Connected Successfully")


@pytest.fixture
def simulator() -> Iterator[PolygonSimulator]:
    server = PolygonSimulator(rate=40, api_keys={KEY})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def records(api: WebSocketsAPI, name: str) -> list[PolygonData]:
    return [r for r in api.get_results(name).results if isinstance(r, PolygonData)]


def wait_records(
    api: WebSocketsAPI,
    name: str,
    predicate: Callable[[list[PolygonData]], bool],
    timeout: float = 15,
) -> list[PolygonData]:
    """Poll the stored records until `predicate` holds (no fixed sleeps as readiness checks)."""
    deadline = time.monotonic() + timeout
    while True:
        found = records(api, name)
        if predicate(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s; last records: {found[-5:]}")
        time.sleep(0.05)


def seq(record: PolygonData) -> int:
    assert record.sequence is not None, record
    return record.sequence


def frame_count(sim: PolygonSimulator, frame: str) -> int:
    return sum(1 for sent in sim.frames if sent == frame)


def connect(
    api: WebSocketsAPI, sim: PolygonSimulator, market: str = "stocks", **kwargs: Any
) -> None:
    """Connect to the simulator's market path, which checks topics against its channels."""
    arguments: dict[str, Any] = {
        "symbol": "aapl,msft",
        "api_key": KEY,
        "url": f"{sim.url}/{market}",
    }
    api.create_connection(provider="polygon", name="poly", **{**arguments, **kwargs})


def test_trades_land_with_clean_fields_and_types(
    websockets: WebSocketsAPI, simulator: PolygonSimulator
) -> None:
    connect(websockets, simulator)
    simulator.wait_for(lambda _: len(simulator.frames) >= 2)
    assert simulator.frames[:2] == [
        '{"action":"auth","params":"good-key"}',
        '{"action":"subscribe","params":"T.AAPL,T.MSFT"}',
    ]
    found = wait_records(websockets, "poly", lambda rs: {r.symbol for r in rs} >= {"AAPL", "MSFT"})
    for record in found:
        assert isinstance(record.date, datetime)
        assert record.date.tzinfo is not None
        assert record.type == "trade"
        assert record.symbol in {"AAPL", "MSFT"}
        assert isinstance(record.last_price, float)
        assert isinstance(record.last_size, float)
        assert record.exchange == "10"
        assert isinstance(record.sequence, int)
        assert record.trade_id == str(record.sequence)
    status = websockets.get_client_status("poly").results[0]
    assert status.subscribed_symbols == "AAPL,MSFT"
    assert status.is_running


def test_the_key_can_come_from_the_environment(
    websockets: WebSocketsAPI, simulator: PolygonSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLYGON_API_KEY", KEY)
    connect(websockets, simulator, "forex", api_key=None, symbol="eurusd", asset_type="fx")
    simulator.wait_for(lambda _: len(simulator.frames) >= 2)
    assert simulator.frames[:2] == [
        '{"action":"auth","params":"good-key"}',
        '{"action":"subscribe","params":"C.EUR/USD"}',
    ]
    [first, *_] = wait_records(websockets, "poly", bool)
    assert (first.symbol, first.type, first.channel) == ("EUR/USD", "quote", "C")
    assert first.bid_price is not None
    assert first.ask_price is not None
    assert first.bid_price < first.ask_price


def test_a_wrong_key_raises_the_providers_refusal(
    websockets: WebSocketsAPI, simulator: PolygonSimulator
) -> None:
    with pytest.raises(UnauthorizedError, match="authentication failed"):
        connect(websockets, simulator, api_key="wrong-key")
    assert simulator.frames == ['{"action":"auth","params":"wrong-key"}']
    assert websockets.get_client_status().results == []


def test_live_changes_send_the_exact_wire_messages(
    websockets: WebSocketsAPI, simulator: PolygonSimulator
) -> None:
    connect(websockets, simulator)
    wait_records(websockets, "poly", lambda rs: {r.symbol for r in rs} >= {"AAPL", "MSFT"})

    websockets.subscribe("poly", "nvda")
    simulator.wait_for_message(lambda m: m == {"action": "subscribe", "params": "T.NVDA"})
    assert simulator.frames[-1] == '{"action":"subscribe","params":"T.NVDA"}'
    wait_records(websockets, "poly", lambda rs: any(r.symbol == "NVDA" for r in rs))

    websockets.unsubscribe("poly", "msft")
    simulator.wait_for_message(lambda m: m == {"action": "unsubscribe", "params": "T.MSFT"})
    assert simulator.frames[-1] == '{"action":"unsubscribe","params":"T.MSFT"}'
    # Every event generated after the simulator dropped the topic has a higher sequence.
    cutoff = simulator.last_sequence
    later = wait_records(websockets, "poly", lambda rs: sum(seq(r) > cutoff for r in rs) >= 10)
    assert {r.symbol for r in later if seq(r) > cutoff} == {"AAPL", "NVDA"}
    assert websockets.get_client_status("poly").results[0].subscribed_symbols == "AAPL,NVDA"


def test_server_close_is_followed_by_reconnect_and_resubscribe_without_duplicates(
    websockets: WebSocketsAPI, simulator: PolygonSimulator
) -> None:
    connect(websockets, simulator, symbol="aapl,msft,nvda")
    websockets.unsubscribe("poly", "msft")
    simulator.wait_for_message(lambda m: m == {"action": "unsubscribe", "params": "T.MSFT"})
    before = wait_records(websockets, "poly", lambda rs: len(rs) >= 5)

    simulator.close_connections()
    simulator.wait_for(lambda s: s.connections_opened == 2 and len(s.sessions) == 1)
    resubscribe = '{"action":"subscribe","params":"T.AAPL,T.NVDA"}'
    simulator.wait_for(lambda _: frame_count(simulator, resubscribe) == 1)
    assert frame_count(simulator, '{"action":"auth","params":"good-key"}') == 2

    newest = max(seq(r) for r in before)
    cutoff = simulator.last_sequence
    after = wait_records(websockets, "poly", lambda rs: sum(seq(r) > cutoff for r in rs) >= 10)
    sequences = [seq(r) for r in after]
    assert len(sequences) == len(set(sequences)), "duplicate records after the reconnect"
    assert sorted(sequences) == sequences
    assert max(sequences) > newest
    assert {r.symbol for r in after if seq(r) > cutoff} == {"AAPL", "NVDA"}


def test_bad_asset_type_is_refused_listing_the_allowed_values(websockets: WebSocketsAPI) -> None:
    with pytest.raises(ParameterError) as info:
        websockets.create_connection(provider="polygon", name="p", symbol="aapl", asset_type="bond")
    assert info.value.field == "asset_type"
    assert info.value.allowed == [
        "stock",
        "stock_delayed",
        "options",
        "options_delayed",
        "fx",
        "crypto",
        "index",
        "index_delayed",
    ]


def test_bad_feed_is_refused_listing_the_allowed_values(websockets: WebSocketsAPI) -> None:
    with pytest.raises(ParameterError) as info:
        websockets.create_connection(provider="polygon", name="p", symbol="aapl", feed="ticks")
    assert info.value.allowed == ["trade", "quote", "aggs_sec", "aggs_min", "value"]
    with pytest.raises(ParameterError, match="allowed feeds: quote, aggs_sec, aggs_min"):
        websockets.create_connection(
            provider="polygon", name="p", symbol="eurusd", asset_type="fx", feed="trade"
        )


# -- the simulator itself, through a plain client -----------------------------------------------


async def test_simulator_answers_status_replies_like_polygon() -> None:
    sim = PolygonSimulator(rate=100, api_keys={KEY}, denied_channels={"Q"})
    sim.start()
    try:
        async with ws_connect(f"{sim.url}/stocks") as ws:
            assert await ws.recv() == CONNECTED
            await ws.send('{"action":"subscribe","params":"T.AAPL"}')
            assert await ws.recv() == STATUS % ("error", "not authenticated")
            await ws.send('{"action":"auth","params":"good-key"}')
            assert await ws.recv() == STATUS % ("auth_success", "authenticated")
            await ws.send('{"action":"subscribe","params":"T.AAPL,Q.AAPL,XT.BTC-USD,T.aapl"}')
            assert [await ws.recv() for _ in range(4)] == [
                STATUS % ("success", "subscribed to: T.AAPL"),
                STATUS % ("error", "not authorized"),
                STATUS % ("error", "invalid topic: XT.BTC-USD"),
                STATUS % ("error", "invalid topic: T.aapl"),
            ]
            sizes: set[int] = set()
            deadline = time.monotonic() + 5
            while 3 not in sizes or 1 not in sizes:
                assert time.monotonic() < deadline, sizes
                events = orjson.loads(await ws.recv())
                assert {(e["ev"], e["sym"]) for e in events} == {("T", "AAPL")}
                sizes.add(len(events))
            await ws.send('{"action":"unsubscribe","params":"T.AAPL"}')
            while (reply := orjson.loads(await ws.recv()))[0]["ev"] == "T":
                pass
            assert reply == [
                {"ev": "status", "status": "success", "message": "unsubscribed to: T.AAPL"}
            ]
    finally:
        sim.stop()


async def test_simulator_refuses_a_bad_key_and_a_silent_client_then_closes() -> None:
    sim = PolygonSimulator(api_keys={KEY}, auth_timeout=0.2)
    sim.start()
    try:
        async with ws_connect(sim.url) as ws:
            assert await ws.recv() == CONNECTED
            await ws.send('{"action":"auth","params":"nope"}')
            assert await ws.recv() == STATUS % ("auth_failed", "authentication failed")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
        async with ws_connect(sim.url) as ws:
            assert await ws.recv() == CONNECTED
            timeout = STATUS % ("auth_timeout", "No authentication request received.")
            assert await ws.recv() == timeout
            with pytest.raises(ConnectionClosed):
                await ws.recv()
    finally:
        sim.stop()


def test_simulator_batches_mixed_events_of_every_market() -> None:
    sim = PolygonSimulator()
    kinds = {
        topic: sim.event(topic, 1_700_000_000_000)["ev"]
        for topic in (
            *("T.*", "Q.AAPL", "A.AAPL", "AM.I:SPX", "C.EUR/USD", "CA.*", "CAS.*"),
            *("XT.BTC-USD", "XQ.*", "XA.*", "XAS.*", "V.I:SPX", "Q.O:SPY241220P00720000"),
        )
    }
    assert kinds == {topic: topic.split(".")[0] for topic in kinds}
    proto = PolygonProtocol(PolygonQueryParams(name="p", symbol="x"), "k")
    events = [sim.event(topic, 1_700_000_000_000) for topic in kinds]
    [batch] = proto.receive(orjson.dumps(events).decode())
    assert isinstance(batch, Records)
    assert len(batch.items) == len(kinds)
    assert proto.take_invalid() == []
