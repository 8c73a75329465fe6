"""The Coinbase protocol class fed frames directly: no sockets, no clock."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from providers import get_provider
from providers.coinbase import CoinbaseData, CoinbaseProtocol, CoinbaseQueryParams
from providers.protocol import Heartbeat, Info, ProviderError, Records

# Docs samples (https://docs.cdp.coinbase.com/exchange/websocket-feed/channels).
MATCH = (
    '{"type":"match","trade_id":10,"sequence":50,'
    '"maker_order_id":"ac928c66-ca53-498f-9c13-a110027a60e8",'
    '"taker_order_id":"132fb6ae-456b-4654-b4e0-d681ac05cea1",'
    '"time":"2014-11-07T08:19:27.028459Z","product_id":"BTC-USD","size":"5.23512",'
    '"price":"400.23","side":"sell"}'
)
TICKER = (
    '{"type":"ticker","sequence":37475248783,"product_id":"ETH-USD","price":"1285.22",'
    '"open_24h":"1310.79","volume_24h":"245532.79269678","low_24h":"1280.52",'
    '"high_24h":"1313.8","volume_30d":"9788783.60117027","best_bid":"1285.04",'
    '"best_bid_size":"0.46688654","best_ask":"1285.27","best_ask_size":"1.56637040",'
    '"side":"buy","time":"2022-10-19T23:28:22.061769Z","trade_id":370843401,'
    '"last_size":"11.4396987"}'
)
HEARTBEAT = (
    '{"type":"heartbeat","sequence":90,"last_trade_id":20,"product_id":"BTC-USD",'
    '"time":"2014-11-07T08:19:28.464459Z"}'
)


def protocol(**params: Any) -> CoinbaseProtocol:
    values: dict[str, Any] = {"name": "coinbase-test", "symbol": "btc-usd", **params}
    return CoinbaseProtocol(CoinbaseQueryParams.model_validate(values), None)


def only_records(events: list[Any]) -> list[CoinbaseData]:
    assert len(events) == 1
    assert isinstance(events[0], Records)
    return [item for item in events[0].items if isinstance(item, CoinbaseData)]


def test_the_provider_is_registered_keyless_and_subscribes_on_open() -> None:
    provider = get_provider("coinbase")
    assert provider.protocol is CoinbaseProtocol
    assert CoinbaseProtocol.ready_on_open is True  # the 5-second subscribe rule
    assert protocol().endpoint() == "wss://ws-feed.exchange.coinbase.com"
    assert protocol().on_open(["BTC/USD"]) == []
    assert protocol().on_authorized(["BTC/USD"]) == protocol().subscribe(["BTC/USD"])


@pytest.mark.parametrize("written", ["btc-usd", "BTC/USD", "btcusd", "BTC_USD"])
def test_any_spelling_becomes_the_canonical_pair_and_a_product_id(written: str) -> None:
    assert protocol().canonical_symbol(written) == "BTC/USD"
    assert protocol().wire_symbol(written) == "BTC-USD"


def test_one_message_subscribes_every_product_to_both_channels() -> None:
    assert [orjson.loads(m) for m in protocol().subscribe(["btc/usd", "ETHUSD"])] == [
        {
            "type": "subscribe",
            "product_ids": ["BTC-USD", "ETH-USD"],
            "channels": ["matches", "ticker"],
        }
    ]
    assert [orjson.loads(m) for m in protocol(feed="trade").unsubscribe(["eth-usd"])] == [
        {"type": "unsubscribe", "product_ids": ["ETH-USD"], "channels": ["matches"]}
    ]
    assert orjson.loads(protocol(feed="quote").subscribe(["BTC/USD"])[0])["channels"] == ["ticker"]
    assert protocol().subscribe([]) == []


def test_replies_heartbeats_and_errors_are_classified() -> None:
    proto = protocol()
    subscriptions = (
        '{"type":"subscriptions","channels":[{"name":"matches","product_ids":["BTC-USD",'
        '"ETH-USD"]},{"name":"ticker","product_ids":[]}]}'
    )
    assert proto.receive(subscriptions) == [
        Info("Coinbase subscriptions: matches: BTC-USD,ETH-USD; ticker: -")
    ]
    assert proto.receive('{"type":"subscriptions","channels":[]}') == [
        Info("Coinbase subscriptions: none")
    ]
    assert proto.receive(HEARTBEAT) == [Heartbeat()]
    refused = (
        '{"type":"error","message":"Failed to subscribe",'
        '"reason":"GIBBERISH-USD is not a valid product"}'
    )
    assert proto.receive(refused) == [
        ProviderError("Coinbase: Failed to subscribe: GIBBERISH-USD is not a valid product")
    ]
    assert proto.receive('{"type":"error","message":"Failed to unsubscribe"}') == [
        ProviderError("Coinbase: Failed to unsubscribe")
    ]
    assert proto.receive('{"type":"status","products":[],"currencies":[]}') == [
        Info("Coinbase status message")
    ]


@pytest.mark.parametrize("frame", ["not json", "[1]", '{"type":7}', "{}"])
def test_unreadable_or_unexpected_frames_are_errors_not_crashes(frame: str) -> None:
    (event,) = protocol().receive(frame)
    assert isinstance(event, ProviderError)
    assert not event.fatal


def test_a_match_becomes_a_trade_with_numbers() -> None:
    (record,) = only_records(protocol().receive(MATCH))
    assert orjson.loads(record.to_json()) == {
        "date": "2014-11-07T08:19:27.028459Z",
        "symbol": "BTC/USD",
        "type": "trade",
        "exchange": "COINBASE",
        "last_price": 400.23,
        "last_size": 5.23512,
        "side": "sell",
        "trade_id": 10,
        "sequence": 50,
    }


def test_a_ticker_becomes_a_quote_with_best_bid_and_ask() -> None:
    (record,) = only_records(protocol().receive(TICKER))
    assert record.type == "quote"
    assert record.symbol == "ETH/USD"
    assert (record.bid_price, record.bid_size) == (1285.04, 0.46688654)
    assert (record.ask_price, record.ask_size) == (1285.27, 1.5663704)
    assert (record.last_price, record.last_size) == (1285.22, 11.4396987)
    assert (record.open_24h, record.volume_24h) == (1310.79, 245532.79269678)
    assert record.date.tzinfo is not None


def test_trades_restated_after_a_resubscribe_are_dropped() -> None:
    proto = protocol()
    assert len(only_records(proto.receive(MATCH))) == 1
    last_match = MATCH.replace('"type":"match"', '"type":"last_match"')
    assert proto.receive(last_match) == []  # trade 10 is stored already
    newer = MATCH.replace('"trade_id":10', '"trade_id":11')
    assert len(only_records(proto.receive(newer.replace("match", "last_match", 1)))) == 1
    assert len(only_records(proto.receive(TICKER))) == 1
    assert proto.receive(TICKER) == []  # the ticker's first message after a resubscribe
    assert proto.take_invalid() == []


def test_invalid_data_is_counted_and_does_not_move_the_newest_trade() -> None:
    proto = protocol()
    assert proto.receive(MATCH.replace('"400.23"', '"n/a"')) == []
    assert len(proto.take_invalid()) == 1
    assert len(only_records(proto.receive(MATCH))) == 1


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"feed": "level2"}, "'all', 'trade' or 'quote'"),
        ({"asset_type": "stock"}, "'crypto'"),
        ({"symbol": ","}, "at least one product"),
        ({"symbol": "btc-usd,*"}, "no wildcard"),
    ],
)
def test_bad_parameters_are_refused_with_the_allowed_values(
    values: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment.replace("*", r"\*")):
        CoinbaseQueryParams.model_validate({"name": "x", "symbol": "btc-usd", **values})
