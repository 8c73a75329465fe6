"""The Bitstamp protocol class fed frames directly: no sockets, no clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from providers import get_provider
from providers.bitstamp import BitstampData, BitstampProtocol, BitstampQueryParams
from providers.protocol import Heartbeat, Info, ProviderError, Reconnect, Records

# cryptofeed's docstring sample (numbers as floats) and slinky's (a live capture).
TRADE = (
    '{"data":{"microtimestamp":"1562650233964229","amount":0.01414016,"buy_order_id":3709484695,'
    '"sell_order_id":3709484799,"amount_str":"0.01414016","price_str":"12700.00",'
    '"timestamp":"1562650233","price":12700.0,"type":1,"id":93215787},"event":"trade",'
    '"channel":"live_trades_btcusd"}'
)
TRADE_ETH = (
    '{"channel":"live_trades_ethusd","event":"trade","data":{"id":317319339,'
    '"timestamp":"1706302442","amount":0.062,"amount_str":"0.06200000","price":2253.7,'
    '"price_str":"2253.7","type":0,"microtimestamp":"1706302442078000",'
    '"buy_order_id":1709946746556417,"sell_order_id":1709946744614913}}'
)


def book(bid: list[str], ask: list[str], micros: str = "1643643584684047") -> str:
    data = {
        "timestamp": micros[:10],
        "microtimestamp": micros,
        "bids": [bid, ["38415.00", "1.5"]],
        "asks": [ask, ["38418.00", "2.0"]],
    }
    return orjson.dumps({"data": data, "channel": "order_book_btcusd", "event": "data"}).decode()


def protocol(**params: Any) -> BitstampProtocol:
    values: dict[str, Any] = {"name": "bitstamp-test", "symbol": "btcusd", **params}
    return BitstampProtocol(BitstampQueryParams.model_validate(values), None)


def message(event: str, channel: str) -> str:
    return orjson.dumps({"event": event, "data": {"channel": channel}}).decode()


def only_records(events: list[Any]) -> list[BitstampData]:
    assert len(events) == 1
    assert isinstance(events[0], Records)
    return [item for item in events[0].items if isinstance(item, BitstampData)]


# -- registration, keep-alive, endpoint -----------------------------------------------------------


def test_the_provider_is_registered_keyless_with_a_heartbeat() -> None:
    provider = get_provider("bitstamp")
    assert provider.protocol is BitstampProtocol
    assert provider.params is BitstampQueryParams
    assert provider.data is BitstampData
    assert provider.credential_env == "BITSTAMP_API_KEY"
    assert provider.docs_url == "https://www.bitstamp.net/websocket/v2/"
    assert BitstampProtocol.ready_on_open
    assert BitstampProtocol.keepalive_interval == 10.0
    assert protocol().keepalive() == ['{"event":"bts:heartbeat"}']


def test_the_endpoint_is_bitstamps_and_the_url_override_wins() -> None:
    assert protocol().endpoint() == "wss://ws.bitstamp.net"
    assert protocol(url="ws://127.0.0.1:1").url() == "ws://127.0.0.1:1"


# -- symbols and client messages ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical", "wire"),
    [
        ("btcusd", "BTC/USD", "btcusd"),
        ("BTC/USD", "BTC/USD", "btcusd"),
        ("eth-eur", "ETH/EUR", "etheur"),
        ("XRP_BTC", "XRP/BTC", "xrpbtc"),
        ("usdcusdt", "USDC/USDT", "usdcusdt"),
    ],
)
def test_any_spelling_is_canonical_for_users_and_lower_case_on_the_wire(
    given: str, canonical: str, wire: str
) -> None:
    proto = protocol()
    assert proto.canonical_symbol(given) == canonical
    assert proto.canonical_symbol(canonical) == canonical
    assert proto.wire_symbol(given) == wire


def test_open_sends_nothing_and_each_channel_gets_its_own_subscribe() -> None:
    proto = protocol(feed="all")
    assert proto.on_open(["BTC/USD", "ETH/EUR"]) == []
    assert proto.on_authorized(["BTC/USD", "ETH/EUR"]) == [
        message("bts:subscribe", "live_trades_btcusd"),
        message("bts:subscribe", "order_book_btcusd"),
        message("bts:subscribe", "live_trades_etheur"),
        message("bts:subscribe", "order_book_etheur"),
    ]


@pytest.mark.parametrize(
    ("feed", "channel"), [("trade", "live_trades_btcusd"), ("quote", "order_book_btcusd")]
)
def test_the_feed_picks_the_channel(feed: str, channel: str) -> None:
    proto = protocol(feed=feed)
    assert proto.subscribe(["BTC/USD"]) == [message("bts:subscribe", channel)]
    assert proto.unsubscribe(["btc-usd"]) == [message("bts:unsubscribe", channel)]


# -- replies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "event"),
    [
        (
            '{"event":"bts:subscription_succeeded","channel":"live_trades_btcusd","data":{}}',
            Info("Bitstamp subscribed to live_trades_btcusd"),
        ),
        (
            '{"event":"bts:unsubscription_succeeded","channel":"order_book_btcusd","data":{}}',
            Info("Bitstamp unsubscribed from order_book_btcusd"),
        ),
        (
            '{"event":"bts:connection_established","channel":"","data":{}}',
            Info("Bitstamp connection established"),
        ),
        ('{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}', Heartbeat()),
        ('{"event":"bts:heartbeat"}', Heartbeat()),
        (
            '{"event":"bts:request_reconnect","channel":"","data":""}',
            Reconnect("Bitstamp requested a reconnect (bts:request_reconnect)"),
        ),
        (
            '{"event":"bts:error","channel":"",'
            '"data":{"code":null,"message":"Incorrect JSON format."}}',
            ProviderError("Bitstamp error: Incorrect JSON format."),
        ),
        (
            '{"event":"bts:error","channel":"",'
            '"data":{"code":400,"message":"Bad subscription string."}}',
            ProviderError("Bitstamp error: Bad subscription string. (code 400)"),
        ),
        ('{"event":"bts:error","channel":"","data":"oops"}', ProviderError("Bitstamp error: oops")),
    ],
)
def test_every_documented_reply_is_classified(frame: str, event: Any) -> None:
    assert protocol().receive(frame) == [event]


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1]",
        '{"hello":"world"}',
        '{"event":"order_created","channel":"live_orders_btcusd","data":{"id":1}}',
        '{"event":"data","channel":"diff_order_book_btcusd","data":{}}',
    ],
)
def test_unreadable_or_unexpected_frames_are_errors_not_crashes(frame: str) -> None:
    events = protocol().receive(frame)
    assert len(events) == 1
    assert isinstance(events[0], ProviderError)
    assert not events[0].fatal


# -- data -----------------------------------------------------------------------------------------


def test_a_trade_becomes_a_clean_record_from_the_exact_strings() -> None:
    (record,) = only_records(protocol().receive(TRADE))
    assert orjson.loads(record.to_json()) == {
        "date": "2019-07-09T05:30:33.964229Z",
        "symbol": "BTC/USD",
        "type": "trade",
        "exchange": "bitstamp",
        "last_price": 12700.0,
        "last_size": 0.01414016,
        "trade_id": 93215787,
        "side": "sell",
        "buy_order_id": 3709484695,
        "sell_order_id": 3709484799,
        "timestamp": 1562650233964229,
    }
    assert record.date == datetime(2019, 7, 9, 5, 30, 33, 964229, tzinfo=UTC)


def test_type_0_is_a_buy_and_the_channel_names_the_pair() -> None:
    (record,) = only_records(protocol().receive(TRADE_ETH))
    assert (record.symbol, record.side, record.last_price, record.last_size) == (
        "ETH/USD",
        "buy",
        2253.7,
        0.062,
    )


def test_the_order_book_top_becomes_a_quote_only_when_it_changes() -> None:
    proto = protocol(feed="quote")
    (quote,) = only_records(proto.receive(book(["38416.00", "0.05"], ["38417.00", "0.25"])))
    assert orjson.loads(quote.to_json()) == {
        "date": "2022-01-31T15:39:44.684047Z",
        "symbol": "BTC/USD",
        "type": "quote",
        "exchange": "bitstamp",
        "bid_price": 38416.0,
        "bid_size": 0.05,
        "ask_price": 38417.0,
        "ask_size": 0.25,
        "timestamp": 1643643584684047,
    }
    # A change deeper in the book leaves the top as it was: no record.
    assert proto.receive(book(["38416.00", "0.05"], ["38417.00", "0.25"], "1643643584784047")) == []
    (changed,) = only_records(proto.receive(book(["38416.00", "0.07"], ["38417.00", "0.25"])))
    assert changed.bid_size == 0.07
    # After a reconnect the first top is reported again.
    proto.on_open(["BTC/USD"])
    assert len(only_records(proto.receive(book(["38416.00", "0.07"], ["38417.00", "0.25"])))) == 1


def test_an_empty_book_makes_no_quote() -> None:
    frame = (
        '{"data":{"microtimestamp":"1","bids":[],"asks":[]},'
        '"channel":"order_book_btcusd","event":"data"}'
    )
    assert protocol().receive(frame) == []


def test_invalid_data_goes_to_invalid_and_never_raises() -> None:
    proto = protocol()
    assert proto.receive(TRADE.replace('"price_str":"12700.00"', '"price_str":"n/a"')) == []
    assert proto.receive('{"event":"trade","channel":"live_trades_btcusd","data":null}') == []
    invalid = proto.take_invalid()
    assert [i.reason.split(":")[0] for i in invalid] == ["last_price", "date"]


# -- parameters -----------------------------------------------------------------------------------


def test_defaults_are_trades_of_the_spot_market() -> None:
    params = BitstampQueryParams(name="x", symbol="btcusd, BTC/EUR")
    assert (params.asset_type, params.feed) == ("crypto", "trade")
    assert params.symbols() == ["btcusd", "BTC/EUR"]


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"asset_type": "stock"}, "'crypto'"),
        ({"feed": "book"}, "'trade', 'quote' or 'all'"),
        ({"symbol": " , "}, "at least one pair"),
        ({"symbol": "*"}, "channels are per pair"),
        ({"heartbeat": 5}, "Extra inputs are not permitted"),
    ],
)
def test_bad_parameters_are_refused_with_the_allowed_values(
    values: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment.replace("*", r"\*")):
        BitstampQueryParams.model_validate({"name": "x", "symbol": "btcusd", **values})
