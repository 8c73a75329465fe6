"""The Polygon protocol class without sockets: messages out, frames in, events and records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from providers import get_provider
from providers.polygon import PolygonData, PolygonProtocol, PolygonQueryParams
from providers.protocol import (
    Authorized,
    Heartbeat,
    Info,
    ProviderError,
    Records,
    Unauthorized,
)


def protocol(key: str | None = "KEY", **params: Any) -> PolygonProtocol:
    return PolygonProtocol(PolygonQueryParams(name="poly", **{"symbol": "aapl", **params}), key)


def frame(*items: dict[str, Any]) -> str:
    return orjson.dumps(list(items)).decode()


def status(kind: str, message: str) -> dict[str, str]:
    return {"ev": "status", "status": kind, "message": message}


def only_records(events: list[Any]) -> list[PolygonData]:
    assert len(events) == 1, events
    assert isinstance(events[0], Records)
    return [item for item in events[0].items if isinstance(item, PolygonData)]


# -- registration, endpoints and parameters -----------------------------------------------------


def test_the_provider_is_registered_under_its_entry_point() -> None:
    provider = get_provider("polygon")
    assert provider.protocol is PolygonProtocol
    assert provider.params is PolygonQueryParams
    assert provider.credential_env == "POLYGON_API_KEY"
    assert provider.simulator == "providers.polygon.simulator"
    assert provider.simulated_by_default is False


@pytest.mark.parametrize(
    ("asset_type", "url"),
    [
        ("stock", "wss://socket.polygon.io/stocks"),
        ("stock_delayed", "wss://delayed.polygon.io/stocks"),
        ("options", "wss://socket.polygon.io/options"),
        ("options_delayed", "wss://delayed.polygon.io/options"),
        ("fx", "wss://socket.polygon.io/forex"),
        ("crypto", "wss://socket.polygon.io/crypto"),
        ("index", "wss://socket.polygon.io/indices"),
        ("index_delayed", "wss://delayed.polygon.io/indices"),
    ],
)
def test_endpoint_is_the_cluster_and_market_of_the_asset_type(asset_type: str, url: str) -> None:
    assert protocol(asset_type=asset_type).endpoint() == url
    assert protocol(asset_type=asset_type).url() == url


def test_massive_host_and_url_override() -> None:
    assert protocol(host="massive.com", asset_type="fx").endpoint() == (
        "wss://socket.massive.com/forex"
    )
    assert protocol(url="ws://127.0.0.1:9/stocks").url() == "ws://127.0.0.1:9/stocks"


@pytest.mark.parametrize(
    ("asset_type", "feed"),
    [
        ("stock", "trade"),
        ("stock_delayed", "trade"),
        ("options", "trade"),
        ("fx", "quote"),
        ("crypto", "trade"),
        ("index", "value"),
        ("index_delayed", "value"),
    ],
)
def test_feed_defaults_to_the_first_channel_of_the_market(asset_type: str, feed: str) -> None:
    assert PolygonQueryParams(name="p", symbol="x", asset_type=asset_type).feed == feed


def test_a_feed_the_market_lacks_is_refused_listing_the_allowed_feeds() -> None:
    with pytest.raises(ValidationError) as info:
        PolygonQueryParams(name="p", symbol="eurusd", asset_type="fx", feed="trade")
    assert "allowed feeds: quote, aggs_sec, aggs_min" in str(info.value)
    with pytest.raises(ValidationError) as info:
        PolygonQueryParams(name="p", symbol="aapl", asset_type="stock", feed="value")
    assert "allowed feeds: trade, quote, aggs_sec, aggs_min" in str(info.value)


def test_unknown_asset_type_and_empty_symbol_are_refused() -> None:
    with pytest.raises(ValidationError) as info:
        PolygonQueryParams(name="p", symbol="aapl", asset_type="bond")
    assert "'stock_delayed'" in str(info.value)
    with pytest.raises(ValidationError, match="at least one symbol"):
        PolygonQueryParams(name="p", symbol=" , ")


# -- symbology and outgoing messages ---------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "symbols", "wire"),
    [
        ({}, ["aapl", "msft"], "T.AAPL,T.MSFT"),
        ({}, ["*"], "T.*"),
        ({}, ["brk.a"], "T.BRK.A"),
        ({"feed": "quote"}, ["aapl"], "Q.AAPL"),
        ({"feed": "aggs_sec"}, ["aapl"], "A.AAPL"),
        ({"feed": "aggs_min"}, ["aapl"], "AM.AAPL"),
        ({"asset_type": "fx"}, ["eurusd", "EUR/USD", "usd-jpy"], "C.EUR/USD,C.USD/JPY"),
        ({"asset_type": "fx", "feed": "aggs_sec"}, ["eurusd"], "CAS.EUR/USD"),
        ({"asset_type": "fx", "feed": "aggs_min"}, ["eurusd"], "CA.EUR/USD"),
        ({"asset_type": "crypto"}, ["btcusd", "eth-usdt"], "XT.BTC-USD,XT.ETH-USDT"),
        ({"asset_type": "crypto", "feed": "quote"}, ["btcusd"], "XQ.BTC-USD"),
        ({"asset_type": "crypto", "feed": "aggs_sec"}, ["btcusd"], "XAS.BTC-USD"),
        ({"asset_type": "crypto", "feed": "aggs_min"}, ["btcusd"], "XA.BTC-USD"),
        ({"asset_type": "index"}, ["spx", "I:NDX"], "V.I:SPX,V.I:NDX"),
        ({"asset_type": "index", "feed": "aggs_min"}, ["spx"], "AM.I:SPX"),
        ({"asset_type": "options"}, ["spy241220p00720000"], "T.O:SPY241220P00720000"),
        ({"asset_type": "options"}, ["O:SPY241220P00720000"], "T.O:SPY241220P00720000"),
    ],
)
def test_subscribe_converts_user_symbols_to_polygon_topics(
    params: dict[str, Any], symbols: list[str], wire: str
) -> None:
    proto = protocol(**params)
    assert proto.subscribe(symbols) == [f'{{"action":"subscribe","params":"{wire}"}}']
    assert proto.unsubscribe(symbols) == [f'{{"action":"unsubscribe","params":"{wire}"}}']


def test_canonical_symbol_is_the_plain_upper_case_form() -> None:
    assert protocol().canonical_symbol(" aapl ") == "AAPL"
    assert protocol(asset_type="fx").canonical_symbol("eur/usd") == "EURUSD"
    assert protocol(asset_type="crypto").canonical_symbol("btc-usd") == "BTCUSD"
    assert protocol(asset_type="index").canonical_symbol("i:spx") == "SPX"
    assert protocol(asset_type="options").canonical_symbol("o:spy241220p00720000") == (
        "SPY241220P00720000"
    )


def test_on_open_authenticates_with_the_key_and_on_authorized_subscribes() -> None:
    proto = protocol("s3cret")
    assert proto.on_open(["AAPL"]) == ['{"action":"auth","params":"s3cret"}']
    assert proto.on_authorized(["AAPL", "MSFT"]) == [
        '{"action":"subscribe","params":"T.AAPL,T.MSFT"}'
    ]
    assert proto.on_authorized([]) == []
    assert proto.subscribe([]) == []


# -- status replies ------------------------------------------------------------------------------


def test_connected_is_a_heartbeat_and_auth_success_authorizes() -> None:
    proto = protocol()
    assert proto.receive(frame(status("connected", "Connected Successfully"))) == [Heartbeat()]
    assert proto.receive(frame(status("auth_success", "authenticated"))) == [Authorized()]


@pytest.mark.parametrize(
    "message",
    [
        "authentication failed",
        "Your plan doesn't include websocket access. Visit https://massive.com/pricing to upgrade.",
    ],
)
def test_auth_failed_is_unauthorized_with_the_providers_text(message: str) -> None:
    assert protocol().receive(frame(status("auth_failed", message))) == [Unauthorized(message)]


def test_subscription_acks_are_info_one_per_topic() -> None:
    events = protocol().receive(
        frame(
            status("success", "subscribed to: T.AAPL"),
            status("success", "subscribed to: T.MSFT"),
            status("success", "unsubscribed to: T.AAPL"),
        )
    )
    assert events == [
        Info("subscribed to: T.AAPL"),
        Info("subscribed to: T.MSFT"),
        Info("unsubscribed to: T.AAPL"),
    ]


@pytest.mark.parametrize(
    "message",
    [
        "not authorized",
        "Subscription limit reached for feed. Please remove some subscriptions and try again.",
    ],
)
def test_per_topic_errors_are_non_fatal_provider_errors(message: str) -> None:
    assert protocol().receive(frame(status("error", message))) == [ProviderError(message)]


def test_auth_timeout_is_a_provider_error_and_max_connections_is_fatal() -> None:
    proto = protocol()
    timeout = status("auth_timeout", "No authentication request received.")
    assert proto.receive(frame(timeout)) == [ProviderError("No authentication request received.")]
    limit = status("max_connections", "Maximum number of websocket connections exceeded.")
    assert proto.receive(frame(limit)) == [
        ProviderError("Maximum number of websocket connections exceeded.", fatal=True)
    ]


def test_unreadable_and_unexpected_frames_are_errors_not_crashes() -> None:
    proto = protocol()
    [error] = proto.receive("not json")
    assert isinstance(error, ProviderError)
    assert "unreadable frame" in error.message
    [error] = proto.receive(frame({"ev": "LULD", "T": "AAPL"}))
    assert isinstance(error, ProviderError)
    assert "unexpected message" in error.message
    [error] = proto.receive("[42]")
    assert isinstance(error, ProviderError)


# -- data events ---------------------------------------------------------------------------------

MS = 1536036818784
AT_MS = datetime(2018, 9, 4, 4, 53, 38, 784000, tzinfo=UTC)


def test_stock_trade_from_the_spec_example() -> None:
    trade = {"ev": "T", "sym": "MSFT", "x": 4, "i": "12345", "z": 3, "p": 114.125, "s": 100}
    trade |= {"c": [0, 12], "t": MS, "q": 3681328}
    [record] = only_records(protocol().receive(frame(trade)))
    assert record.date == AT_MS
    assert (record.symbol, record.type, record.exchange) == ("MSFT", "trade", "4")
    assert (record.last_price, record.last_size) == (114.125, 100)
    assert (record.trade_id, record.sequence, record.tape) == ("12345", 3681328, 3)
    assert record.conditions == [0, 12]
    assert record.channel == "T"


def test_stock_quote_from_the_spec_example() -> None:
    quote = {"ev": "Q", "sym": "MSFT", "bx": 4, "bp": 114.125, "bs": 100, "ax": 7, "ap": 114.128}
    quote |= {"as": 160, "c": 0, "i": [604], "t": MS, "q": 50385480, "z": 3}
    [record] = only_records(protocol(feed="quote").receive(frame(quote)))
    assert record.type == "quote"
    assert (record.bid_price, record.bid_size, record.ask_price, record.ask_size) == (
        114.125,
        100,
        114.128,
        160,
    )
    assert (record.bid_exchange, record.ask_exchange) == ("4", "7")
    assert (record.condition, record.indicators, record.sequence) == (0, [604], 50385480)
    assert record.last_price is None


def test_minute_aggregate_from_the_spec_example() -> None:
    agg = {"ev": "AM", "sym": "GTE", "v": 4110, "av": 9470157, "op": 0.4372, "vw": 0.4488}
    agg |= {"o": 0.4488, "c": 0.4486, "h": 0.4489, "l": 0.4486, "a": 0.4352, "z": 685}
    agg |= {"s": 1610144640000, "e": 1610144700000}
    [record] = only_records(protocol(feed="aggs_min").receive(frame(agg)))
    assert (record.type, record.interval, record.symbol) == ("aggregate", "minute", "GTE")
    assert record.date == datetime(2021, 1, 8, 22, 24, tzinfo=UTC)
    assert (record.open, record.high, record.low, record.close) == (0.4488, 0.4489, 0.4486, 0.4486)
    assert (record.volume, record.accumulated_volume, record.vwap) == (4110, 9470157, 0.4488)
    assert (record.official_open, record.day_vwap, record.average_size) == (0.4372, 0.4352, 685)
    assert record.end == 1610144700000


def test_forex_quote_and_aggregate_from_the_spec_examples() -> None:
    proto = protocol(asset_type="fx")
    quote = {"ev": "C", "p": "USD/CNH", "x": "44", "a": 6.83366, "b": 6.83363, "t": MS}
    minute = {"ev": "CA", "pair": "USD/EUR", "o": 0.8687, "c": 0.86889, "h": 0.86889}
    minute |= {"l": 0.8686, "v": 20, "s": 1539145740000}
    second = {**minute, "ev": "CAS"}
    fx, agg, sec = only_records(proto.receive(frame(quote, minute, second)))
    assert (fx.symbol, fx.type, fx.exchange) == ("USD/CNH", "quote", "44")
    assert (fx.bid_price, fx.ask_price, fx.date) == (6.83363, 6.83366, AT_MS)
    assert (agg.symbol, agg.type, agg.interval, agg.close) == (
        "USD/EUR",
        "aggregate",
        "minute",
        0.86889,
    )
    assert sec.interval == "second"


def test_crypto_trade_quote_and_aggregates() -> None:
    proto = protocol(asset_type="crypto")
    trade = {"ev": "XT", "pair": "BTC-USD", "p": 33021.9, "t": 1610462007425, "s": 0.01616617}
    trade |= {"c": [2], "i": 14272084, "x": 3, "r": 1610462007576}
    quote = {"ev": "XQ", "pair": "BTC-USD", "bp": 33052.79, "bs": 0.48, "ap": 33073.19}
    quote |= {"as": 0.601, "t": 1610462411115, "x": 1, "r": 1610462411128}
    aggs = [
        {"ev": ev, "pair": "BTC-USD", "v": 1.5, "vw": 33000.0, "z": 0.1, "o": 1.0, "c": 2.0}
        | {"h": 3.0, "l": 0.5, "s": 1610462400000, "e": 1610462460000}
        for ev in ("XA", "XAS")
    ]
    xt, xq, xa, xas = only_records(proto.receive(frame(trade, quote, *aggs)))
    assert (xt.type, xt.symbol, xt.trade_id, xt.exchange) == ("trade", "BTC-USD", "14272084", "3")
    assert (xt.last_price, xt.last_size, xt.conditions, xt.received) == (
        33021.9,
        0.01616617,
        [2],
        1610462007576,
    )
    assert (xq.type, xq.bid_price, xq.ask_size, xq.exchange) == ("quote", 33052.79, 0.601, "1")
    assert (xa.interval, xas.interval) == ("minute", "second")


def test_crypto_trade_condition_zero_means_none() -> None:
    trade = {"ev": "XT", "pair": "ETH-USD", "p": 1.0, "t": MS, "s": 1, "c": 0, "i": "7", "x": 1}
    [record] = only_records(protocol(asset_type="crypto").receive(frame(trade)))
    assert record.conditions == []
    assert record.trade_id == "7"


def test_index_value_from_the_spec_example() -> None:
    value = {"ev": "V", "val": 3988.5, "T": "I:SPX", "t": 1678220098130}
    [record] = only_records(protocol(asset_type="index").receive(frame(value)))
    assert (record.type, record.symbol, record.last_price) == ("value", "I:SPX", 3988.5)
    assert record.date.tzinfo is not None


def test_options_quote_keeps_the_contract_symbol() -> None:
    quote = {"ev": "Q", "sym": "O:SPY241220P00720000", "bx": 302, "ax": 302, "bp": 9.71}
    quote |= {"ap": 9.81, "bs": 17, "as": 24, "t": 1644506128351, "q": 844090872}
    [record] = only_records(protocol(asset_type="options", feed="quote").receive(frame(quote)))
    assert record.symbol == "O:SPY241220P00720000"
    assert record.sequence == 844090872


def test_one_frame_can_mix_status_and_several_data_events() -> None:
    trade = {"ev": "T", "sym": "AAPL", "i": "5096", "x": 10, "p": 161.87, "s": 300}
    trade |= {"c": [14, 41], "t": 1651684192462, "q": 4009402, "z": 3}
    quote = {"ev": "Q", "sym": "AAPL", "bp": 1.0, "ap": 2.0, "bs": 1, "as": 2, "t": MS, "q": 9}
    events = protocol().receive(frame(status("success", "subscribed to: Q.AAPL"), trade, quote))
    assert events[0] == Info("subscribed to: Q.AAPL")
    assert isinstance(events[1], Records)
    assert [r.type for r in events[1].items] == ["trade", "quote"]


def test_invalid_records_are_set_aside_and_the_rest_kept() -> None:
    proto = protocol()
    good = {"ev": "T", "sym": "AAPL", "p": 1.0, "s": 1, "t": MS, "q": 1}
    no_time = {"ev": "T", "sym": "AAPL", "p": 1.0, "s": 1, "q": 2}
    bad_price = {"ev": "T", "sym": "AAPL", "p": "abc", "s": 1, "t": MS, "q": 3}
    [record] = only_records(proto.receive(frame(good, no_time, bad_price)))
    assert record.sequence == 1
    invalid = proto.take_invalid()
    assert [item.reason.split(":")[0] for item in invalid] == ["date", "last_price"]
    assert invalid[0].raw == no_time
    assert proto.take_invalid() == []


def test_stored_json_has_clean_fields_and_no_nones() -> None:
    trade = {"ev": "T", "sym": "AAPL", "x": 10, "p": 1.5, "s": 3, "t": MS, "q": 4, "trfi": 7}
    [record] = only_records(protocol().receive(frame(trade)))
    stored = orjson.loads(record.to_json())
    assert stored == {
        "date": "2018-09-04T04:53:38.784000Z",
        "symbol": "AAPL",
        "type": "trade",
        "exchange": "10",
        "last_price": 1.5,
        "last_size": 3.0,
        "channel": "T",
        "sequence": 4,
        "trfi": 7,
    }
