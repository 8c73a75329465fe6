"""The Tiingo protocol class, fed frames directly: no sockets, no clock.

Data samples are the verbatim examples of tiingo.com/documentation/websockets/{iex,forex,crypto}
and live captures quoted in /work/shared/research/provider-protocols.md section 3.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from providers import get_provider
from providers.protocol import (
    Authorized,
    Heartbeat,
    Info,
    ProviderError,
    Records,
    Unauthorized,
)
from providers.tiingo import PROVIDER, TiingoData, TiingoProtocol, TiingoQueryParams

IEX_QUOTE = (
    '{"messageType":"A","service":"iex","data":["Q","2019-01-30T13:33:45.383129126-05:00",'
    '1548873225383129126,"vym",100,81.58,81.585,81.59,100,null,null,0,0,null,null,null]}'
)
IEX_TRADE = (
    '{"messageType":"A","service":"iex","data":["T","2019-01-30T13:33:45.594808294-05:00",'
    '1548873225594808294,"wes",null,null,null,null,null,50.285,200,null,0,0,0,0]}'
)
IEX_REFERENCE = (
    '{"messageType":"A","service":"iex",'
    '"data":["2019-01-30T13:33:45.383129126-05:00","vym",81.585]}'
)
FX_QUOTE = (
    '{"messageType":"A","service":"fx","data":["Q","eurnok","2019-07-05T15:49:15.157000+00:00",'
    "5000000.0,9.6764,9.678135,5000000.0,9.67987]}"
)
CRYPTO_QUOTE = (
    '{"messageType":"A","service":"crypto_data","data":["Q","neojpy",'
    '"2019-01-30T18:03:40.195515+00:00","bitfinex",38.11162867,787.82,787.83,42.4153887,787.84]}'
)
CRYPTO_TRADE = (
    '{"messageType":"A","service":"crypto_data","data":["T","evxbtc",'
    '"2019-01-30T18:03:40.056000+00:00","binance",405.0,9.631e-05]}'
)
CRYPTO_TRADE_LIVE = (
    '{"service":"crypto_data","messageType":"A","data":["T","btcusd",'
    '"2026-09-06T03:55:54.366000+00:00","bitfinex",0.0002,80132.0]}'
)
SUBSCRIBED = (
    '{"messageType":"I","data":{"subscriptionId":13706},'
    '"response":{"code":200,"message":"Success"}}'
)
CHANGED = (
    '{"data":{"tickers":["uso"],"thresholdLevel":"0"},"messageType":"I",'
    '"response":{"code":200,"message":"Success"}}'
)
HEARTBEAT = '{"messageType":"H","response":{"code":200,"message":"HeartBeat"}}'
FORBIDDEN = (
    '{"response":{"code":403,"message":"Not authorized for service: boats"},"messageType":"E"}'
)
BAD_TOKEN = '{"messageType":"E","response":{"code":401,"message":"Not authorized"}}'
BAD_LEVEL = '{"messageType":"E","response":{"code":400,"message":"thresholdLevel not valid"}}'
NEW_YORK_WINTER = timezone(timedelta(hours=-5))


def make(api_key: str = "KEY", **params: Any) -> TiingoProtocol:
    return TiingoProtocol(TiingoQueryParams(name="t", **{"symbol": "spy", **params}), api_key)


def authorized(**params: Any) -> TiingoProtocol:
    protocol = make(**params)
    protocol.on_open(protocol.params.symbols())
    assert isinstance(protocol.receive(SUBSCRIBED)[0], Authorized)
    return protocol


def records(protocol: TiingoProtocol, frame: str) -> list[TiingoData]:
    events = protocol.receive(frame)
    assert all(isinstance(e, Records) for e in events), events
    return [item for e in events if isinstance(e, Records) for item in e.items]  # type: ignore[misc]


def one(protocol: TiingoProtocol, frame: str) -> dict[str, Any]:
    (record,) = records(protocol, frame)
    stored: dict[str, Any] = orjson.loads(record.to_json())
    return stored


# -- registration and parameters ---------------------------------------------------------------


def test_the_entry_point_loads_the_tiingo_provider() -> None:
    assert get_provider("tiingo") is PROVIDER
    assert PROVIDER.credential_env == "TIINGO_API_KEY"
    assert PROVIDER.docs_url.startswith("https://www.tiingo.com/documentation/websockets/")


@pytest.mark.parametrize(
    ("asset_type", "feed", "level"),
    [
        ("stock", "all", 5),
        ("stock", "trade", 5),
        ("stock", "reference", 6),
        ("fx", "all", 5),
        ("fx", "quote", 5),
        ("crypto", "all", 2),
        ("crypto", "quote", 2),
        ("crypto", "trade", 5),
    ],
)
def test_threshold_level_defaults_follow_asset_type_and_feed(
    asset_type: str, feed: str, level: int
) -> None:
    params = TiingoQueryParams(name="t", symbol="x", asset_type=asset_type, feed=feed)
    assert params.threshold_level == level


@pytest.mark.parametrize(
    ("params", "allowed"),
    [
        ({"asset_type": "fx", "feed": "trade"}, "allowed feeds: all, quote"),
        ({"asset_type": "crypto", "feed": "reference"}, "allowed feeds: all, trade, quote"),
        ({"asset_type": "stock", "threshold_level": 2}, "allowed threshold_level values: 0, 5, 6"),
        ({"asset_type": "fx", "threshold_level": 6}, "allowed threshold_level values: 5"),
        ({"asset_type": "crypto", "threshold_level": 0}, "allowed threshold_level values: 2, 5"),
        ({"asset_type": "crypto", "feed": "quote", "threshold_level": 5}, "values: 2"),
        ({"asset_type": "stock", "feed": "trade", "threshold_level": 6}, "values: 0, 5"),
        ({"asset_type": "stock", "feed": "reference", "threshold_level": 5}, "values: 6"),
    ],
)
def test_cross_field_choices_are_refused_with_the_allowed_values(
    params: dict[str, Any], allowed: str
) -> None:
    with pytest.raises(ValidationError, match=allowed):
        TiingoQueryParams(name="t", symbol="x", **params)


@pytest.mark.parametrize(("field", "value"), [("asset_type", "bond"), ("feed", "aggregate")])
def test_unknown_asset_type_or_feed_is_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match="Input should be"):
        TiingoQueryParams(name="t", symbol="x", **{field: value})


def test_an_empty_symbol_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one symbol"):
        TiingoQueryParams(name="t", symbol=" , ")


# -- endpoints and symbology -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asset_type", "url"),
    [
        ("stock", "wss://api.tiingo.com/iex"),
        ("fx", "wss://api.tiingo.com/fx"),
        ("crypto", "wss://api.tiingo.com/crypto"),
    ],
)
def test_endpoint_is_the_service_url(asset_type: str, url: str) -> None:
    protocol = make(asset_type=asset_type)
    assert protocol.endpoint() == url
    assert protocol.url() == url


def test_a_url_override_without_a_path_gets_the_service_path() -> None:
    assert make(asset_type="fx", url="ws://127.0.0.1:9/").url() == "ws://127.0.0.1:9/fx"
    assert make(url="ws://proxy:80/tiingo/iex").url() == "ws://proxy:80/tiingo/iex"


def test_canonical_symbols_are_upper_case_without_separators_for_fx_and_crypto() -> None:
    assert make().canonical_symbol(" brk-b ") == "BRK-B"
    assert make(asset_type="fx").canonical_symbol("eur/usd") == "EURUSD"
    assert make(asset_type="crypto").canonical_symbol("btc-usd") == "BTCUSD"
    assert make(asset_type="crypto").canonical_symbol("*") == "*"


# -- requests ------------------------------------------------------------------------------------


def test_on_open_sends_the_subscribe_that_carries_the_token() -> None:
    protocol = make(symbol="SPY,uso", threshold_level=0)
    (message,) = protocol.on_open(["SPY", "USO"])
    assert orjson.loads(message) == {
        "eventName": "subscribe",
        "authorization": "KEY",
        "eventData": {"thresholdLevel": 0, "tickers": ["spy", "uso"]},
    }


def test_on_open_without_symbols_sends_nothing_rather_than_the_whole_firehose() -> None:
    assert make().on_open([]) == []


def test_star_subscribes_to_every_ticker() -> None:
    (message,) = make(asset_type="crypto").on_open(["*"])
    assert orjson.loads(message)["eventData"] == {"thresholdLevel": 2, "tickers": ["*"]}


def test_changes_before_the_subscription_id_is_known_send_nothing() -> None:
    protocol = make()
    protocol.on_open(["SPY"])
    assert protocol.subscribe(["AAPL"]) == []
    assert protocol.unsubscribe(["SPY"]) == []


def test_changes_after_authorization_name_the_subscription_id() -> None:
    protocol = authorized()
    assert protocol.subscription_id == 13706
    (sub,) = protocol.subscribe(["aapl", "MSFT"])
    (unsub,) = protocol.unsubscribe(["SPY"])
    assert orjson.loads(sub) == {
        "eventName": "subscribe",
        "authorization": "KEY",
        "eventData": {"subscriptionId": 13706, "tickers": ["aapl", "msft"]},
    }
    assert orjson.loads(unsub) == {
        "eventName": "unsubscribe",
        "authorization": "KEY",
        "eventData": {"subscriptionId": 13706, "tickers": ["spy"]},
    }


def test_on_authorized_sends_only_what_changed_since_the_opening_subscribe() -> None:
    protocol = make()
    protocol.on_open(["SPY", "USO"])
    protocol.receive(SUBSCRIBED)
    assert protocol.on_authorized(["SPY", "USO"]) == []
    sub, unsub = protocol.on_authorized(["SPY", "AAPL"])
    assert orjson.loads(sub)["eventData"] == {"subscriptionId": 13706, "tickers": ["aapl"]}
    assert orjson.loads(unsub)["eventData"] == {"subscriptionId": 13706, "tickers": ["uso"]}


def test_after_opening_with_no_tickers_a_subscribe_is_the_authorizing_request() -> None:
    # Every symbol was unsubscribed, then the connection reopened: nothing went out on open
    # (no tickers would mean the whole firehose), so the next subscribe must authorize.
    protocol = make()
    assert protocol.on_open([]) == []
    (request,) = protocol.subscribe(["SPY"])
    sent = orjson.loads(request)
    assert sent["eventName"] == "subscribe"
    assert sent["authorization"] == "KEY"
    assert sent["eventData"]["tickers"] == ["spy"]
    assert "subscriptionId" not in sent["eventData"]
    assert protocol.subscribes_before_authorized
    # While that request waits for its `I` reply, further changes wait for on_authorized.
    assert protocol.subscribe(["USO"]) == []
    protocol.receive(SUBSCRIBED)
    (catch_up,) = protocol.on_authorized(["SPY", "USO"])
    assert orjson.loads(catch_up)["eventData"] == {"subscriptionId": 13706, "tickers": ["uso"]}


def test_a_reconnect_forgets_the_old_subscription_id() -> None:
    protocol = authorized()
    protocol.on_open(["SPY"])
    assert protocol.subscription_id is None
    assert protocol.subscribe(["AAPL"]) == []
    assert isinstance(protocol.receive(SUBSCRIBED.replace("13706", "13800"))[0], Authorized)
    assert protocol.subscription_id == 13800


# -- control replies ---------------------------------------------------------------------------


def test_the_first_info_reply_means_authorized() -> None:
    protocol = make()
    protocol.on_open(["SPY"])
    (event,) = protocol.receive(SUBSCRIBED)
    assert event == Authorized("Authorization: Success (subscriptionId 13706)")


def test_an_info_reply_after_a_change_lists_the_tickers() -> None:
    protocol = authorized()
    assert protocol.receive(CHANGED) == [Info("subscribed to: USO")]
    assert protocol.subscription_id == 13706


def test_heartbeats_are_heartbeats() -> None:
    assert authorized().receive(HEARTBEAT) == [Heartbeat()]


@pytest.mark.parametrize(
    ("frame", "text"),
    [(BAD_TOKEN, "Not authorized"), (FORBIDDEN, "Not authorized for service: boats")],
)
def test_401_or_403_before_any_info_reply_is_unauthorized(frame: str, text: str) -> None:
    protocol = make()
    protocol.on_open(["SPY"])
    assert protocol.receive(frame) == [Unauthorized(text)]


def test_another_error_before_any_info_reply_is_fatal() -> None:
    protocol = make()
    protocol.on_open(["SPY"])
    (event,) = protocol.receive(BAD_LEVEL)
    assert event == ProviderError("subscription refused (400): thresholdLevel not valid", True)


@pytest.mark.parametrize("frame", [BAD_LEVEL, FORBIDDEN])
def test_errors_after_authorization_are_reported_but_not_fatal(frame: str) -> None:
    (event,) = authorized().receive(frame)
    assert isinstance(event, ProviderError)
    assert not event.fatal
    assert str(orjson.loads(frame)["response"]["message"]) in event.message


@pytest.mark.parametrize("kind", ["U", "D"])
def test_documented_but_unobserved_update_and_delete_messages_are_shown(kind: str) -> None:
    (event,) = authorized().receive(f'{{"messageType":"{kind}","data":[]}}')
    assert isinstance(event, Info)
    assert f"messageType {kind}" in event.message


@pytest.mark.parametrize("frame", ['{"messageType":"Z"}', "[1,2]", "not json"])
def test_unexpected_frames_are_provider_errors(frame: str) -> None:
    (event,) = authorized().receive(frame)
    assert isinstance(event, ProviderError)
    assert not event.fatal


# -- data --------------------------------------------------------------------------------------


def test_iex_quote_from_the_docs() -> None:
    record = one(authorized(), IEX_QUOTE)
    assert record == {
        "date": "2019-01-30T13:33:45.383129-05:00",
        "symbol": "VYM",
        "type": "quote",
        "exchange": "IEX",
        "bid_price": 81.58,
        "bid_size": 100.0,
        "ask_price": 81.59,
        "ask_size": 100.0,
        "mid_price": 81.585,
        "timestamp": 1548873225383129126,
        "halted": False,
        "after_hours": False,
    }


def test_iex_trade_from_the_docs() -> None:
    (record,) = records(authorized(), IEX_TRADE)
    assert record.date == datetime(2019, 1, 30, 13, 33, 45, 594808, tzinfo=NEW_YORK_WINTER)
    assert (record.symbol, record.type, record.last_price, record.last_size) == (
        "WES",
        "trade",
        50.285,
        200,
    )
    assert record.bid_price is None
    assert (record.intermarket_sweep, record.oddlot, record.nms_rule_611) == (False,) * 3


def test_iex_trade_break_is_a_break() -> None:
    frame = IEX_TRADE.replace('["T"', '["B"')
    assert records(authorized(), frame)[0].type == "break"


def test_iex_level_6_reference_price_has_three_fields() -> None:
    protocol = authorized(feed="reference")
    assert one(protocol, IEX_REFERENCE) == {
        "date": "2019-01-30T13:33:45.383129-05:00",
        "symbol": "VYM",
        "type": "reference",
        "exchange": "IEX",
        "mid_price": 81.585,
    }


def test_fx_quote_puts_ask_size_at_index_6_and_ask_price_at_7() -> None:
    # The docs' table swaps them; their example only adds up this way (mid = (bid + ask) / 2).
    (record,) = records(authorized(asset_type="fx", symbol="eurnok"), FX_QUOTE)
    assert (record.ask_size, record.ask_price) == (5000000.0, 9.67987)
    assert record.bid_price is not None
    assert record.ask_price is not None
    assert (record.bid_price + record.ask_price) / 2 == pytest.approx(9.678135)
    assert (record.symbol, record.type, record.exchange) == ("EURNOK", "quote", None)
    assert record.date == datetime(2019, 7, 5, 15, 49, 15, 157000, tzinfo=UTC)


def test_crypto_quote_and_trades_from_the_docs_and_a_live_capture() -> None:
    protocol = authorized(asset_type="crypto", symbol="*")
    assert one(protocol, CRYPTO_QUOTE) == {
        "date": "2019-01-30T18:03:40.195515Z",
        "symbol": "NEOJPY",
        "type": "quote",
        "exchange": "bitfinex",
        "bid_price": 787.82,
        "bid_size": 38.11162867,
        "ask_price": 787.84,
        "ask_size": 42.4153887,
        "mid_price": 787.83,
    }
    trade = one(protocol, CRYPTO_TRADE)
    assert (trade["exchange"], trade["last_size"]) == ("binance", 405.0)
    assert trade["last_price"] == 9.631e-05
    live = one(protocol, CRYPTO_TRADE_LIVE)
    assert (live["symbol"], live["date"], live["last_price"]) == (
        "BTCUSD",
        "2026-09-06T03:55:54.366000Z",
        80132.0,
    )


@pytest.mark.parametrize(
    ("feed", "kept"),
    [("all", ["quote", "trade", "break"]), ("trade", ["trade", "break"]), ("quote", ["quote"])],
)
def test_iex_feeds_are_filtered_client_side(feed: str, kept: list[str]) -> None:
    protocol = authorized(feed=feed)
    frames = [IEX_QUOTE, IEX_TRADE, IEX_TRADE.replace('["T"', '["B"')]
    assert [r.type for f in frames for r in records(protocol, f)] == kept


@pytest.mark.parametrize(
    "frame",
    [
        '{"messageType":"A","service":"iex","data":["T","2019-01-30"]}',
        '{"messageType":"A","service":"boats","data":["T","x","2019-01-30T00:00:00Z","y",1,2]}',
        '{"messageType":"A","service":"fx","data":"Q"}',
        FX_QUOTE.replace("2019-07-05T15:49:15.157000+00:00", "yesterday"),
        FX_QUOTE.replace("9.6764", '"cheap"'),
        CRYPTO_TRADE.replace('"evxbtc"', "null"),
    ],
)
def test_bad_data_goes_to_invalid_and_never_raises(frame: str) -> None:
    protocol = authorized(asset_type="fx")
    assert protocol.receive(frame) == []
    (invalid,) = protocol.take_invalid()
    assert invalid.reason
    assert protocol.take_invalid() == []
