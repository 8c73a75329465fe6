"""The polygon provider through the Python API, against its simulator on a free port."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from orchestrator import ParameterError, UnauthorizedError, WebSocketsAPI
from providers.polygon import PolygonData
from providers.polygon.simulator import PolygonSimulator

KEY = "good-key"


@pytest.fixture
def simulator() -> Iterator[PolygonSimulator]:
    server = PolygonSimulator(rate=40, api_keys={KEY}).start()
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


def frame_count(sim: PolygonSimulator, frame: str) -> int:
    return sum(1 for sent in sim.frames if sent == frame)


def connect(api: WebSocketsAPI, sim: PolygonSimulator, **kwargs: Any) -> None:
    arguments: dict[str, Any] = {"symbol": "aapl,msft", "api_key": KEY, "url": f"{sim.url}/stocks"}
    api.create_connection(provider="polygon", name="poly", **{**arguments, **kwargs})


def test_trades_land_with_clean_fields_and_types(
    websockets: WebSocketsAPI, simulator: PolygonSimulator
) -> None:
    connect(websockets, simulator)
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
    connect(websockets, simulator, api_key=None, symbol="eurusd", asset_type="fx")
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
    later = wait_records(websockets, "poly", lambda rs: sum(r.sequence > cutoff for r in rs) >= 10)
    assert {r.symbol for r in later if r.sequence > cutoff} == {"AAPL", "NVDA"}
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
    simulator.wait_for(lambda s: frame_count(s, resubscribe) == 1)
    assert frame_count(simulator, '{"action":"auth","params":"good-key"}') == 2

    newest = max(r.sequence or 0 for r in before)
    cutoff = simulator.last_sequence
    after = wait_records(websockets, "poly", lambda rs: sum(r.sequence > cutoff for r in rs) >= 10)
    sequences = [r.sequence for r in after]
    assert len(sequences) == len(set(sequences)), "duplicate records after the reconnect"
    assert sorted(sequences) == sequences
    assert max(s for s in sequences if s is not None) > newest
    assert {r.symbol for r in after if r.sequence > cutoff} == {"AAPL", "NVDA"}


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
