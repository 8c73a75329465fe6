"""The FMP protocol class fed frames directly: no sockets, no clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from providers import get_provider
from providers.fmp import FmpData, FmpProtocol, FmpQueryParams
from providers.protocol import (
    Authorized,
    Heartbeat,
    Info,
    ProviderError,
    Records,
    Unauthorized,
)

# The live capture quoted in the research notes (Go client test fixture; `t` in nanoseconds).
STOCK_QUOTE = (
    '{"s":"key","t":1689947444488938500,"type":"Q","ap":11.84,"as":400,"bp":11.82,"bs":1000,'
    '"lp":null,"ls":null}'
)
STOCK_TRADE = (
    '{"s":"aapl","t":1689947444488938500,"type":"T","ap":null,"as":null,"bp":null,"bs":null,'
    '"lp":191.5,"ls":100}'
)
STOCK_BREAK = (
    '{"s":"aapl","t":1689947444500000000,"type":"B","ap":null,"as":null,"bp":null,"bs":null,'
    '"lp":191.4,"ls":50}'
)
CRYPTO_QUOTE = (
    '{"s":"btcusd","t":1689947444488,"e":"SIM","type":"Q","ap":30001.5,"as":0.5,"bp":30000.5,'
    '"bs":1.25,"lp":null,"ls":null}'
)


def protocol(**params: Any) -> FmpProtocol:
    values: dict[str, Any] = {"name": "fmp-test", "symbol": "aapl", **params}
    return FmpProtocol(FmpQueryParams.model_validate(values), "KEY")


def only_records(events: list[Any]) -> list[FmpData]:
    assert len(events) == 1
    assert isinstance(events[0], Records)
    return [item for item in events[0].items if isinstance(item, FmpData)]


# -- registration and endpoints -------------------------------------------------------------------


def test_the_provider_is_registered_under_its_entry_point() -> None:
    provider = get_provider("fmp")
    assert provider.protocol is FmpProtocol
    assert provider.params is FmpQueryParams
    assert provider.data is FmpData
    assert provider.credential_env == "FMP_API_KEY"
    assert provider.docs_url.startswith("https://site.financialmodelingprep.com/")


@pytest.mark.parametrize(
    ("asset_type", "url"),
    [
        ("stock", "wss://websockets.financialmodelingprep.com"),
        ("fx", "wss://forex.financialmodelingprep.com"),
        ("crypto", "wss://crypto.financialmodelingprep.com"),
    ],
)
def test_each_asset_type_has_its_own_host(asset_type: str, url: str) -> None:
    assert protocol(asset_type=asset_type, symbol="x").endpoint() == url
    assert protocol(asset_type=asset_type, symbol="x").url() == url


def test_the_url_override_wins_over_the_endpoint() -> None:
    assert protocol(url="ws://127.0.0.1:1").url() == "ws://127.0.0.1:1"


# -- client messages ------------------------------------------------------------------------------


def test_open_sends_the_login_with_the_key_and_nothing_else() -> None:
    assert protocol().on_open(["AAPL"]) == ['{"event":"login","data":{"apiKey":"KEY"}}']


def test_subscribe_and_unsubscribe_send_lowercase_ticker_lists() -> None:
    proto = protocol()
    assert proto.on_authorized(["AAPL", "MSFT"]) == [
        '{"event":"subscribe","data":{"ticker":["aapl","msft"]}}'
    ]
    assert proto.subscribe(["Nvda"]) == ['{"event":"subscribe","data":{"ticker":["nvda"]}}']
    assert proto.unsubscribe(["MSFT"]) == ['{"event":"unsubscribe","data":{"ticker":["msft"]}}']


def test_nothing_is_subscribed_after_login_without_symbols() -> None:
    assert protocol().on_authorized([]) == []


@pytest.mark.parametrize(
    ("asset_type", "given", "canonical", "wire"),
    [
        ("stock", " brk.b ", "BRK.B", "brk.b"),
        ("stock", "brk-b", "BRK-B", "brk-b"),
        ("fx", "EUR/USD", "EURUSD", "eurusd"),
        ("fx", "eurusd", "EURUSD", "eurusd"),
        ("crypto", "BTC-USD", "BTCUSD", "btcusd"),
    ],
)
def test_symbols_are_upper_case_for_users_and_lower_case_on_the_wire(
    asset_type: str, given: str, canonical: str, wire: str
) -> None:
    proto = protocol(asset_type=asset_type, symbol=given)
    assert proto.canonical_symbol(given) == canonical
    assert proto.wire_symbol(given) == wire


# -- login replies --------------------------------------------------------------------------------


def test_login_success_authorizes() -> None:
    events = protocol().receive('{"event":"login","status":200,"message":"Authenticated"}')
    assert events == [Authorized("FMP login: Authenticated")]


@pytest.mark.parametrize("message", ["Unauthorized", "Connected from another location"])
def test_a_401_login_reply_is_unauthorized_with_the_providers_text(message: str) -> None:
    frame = orjson.dumps({"event": "login", "status": 401, "message": message})
    assert protocol().receive(frame) == [Unauthorized(message)]


def test_a_login_refusal_without_message_still_says_why() -> None:
    assert protocol().receive('{"event":"login","status":403}') == [
        Unauthorized("login refused (status 403)")
    ]


# -- subscription replies, heartbeats, unknown frames ---------------------------------------------


def test_subscription_acks_are_info() -> None:
    proto = protocol()
    ack = '{"event":"subscribe","status":200,"message":"subscribed to: aapl,msft"}'
    assert proto.receive(ack) == [Info("subscribed to: aapl,msft")]
    assert proto.receive('{"event":"unsubscribe","status":200}') == [Info("unsubscribed")]


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (
            '{"event":"subscribe","status":400,"message":"invalid ticker: a b"}',
            "subscribe refused: invalid ticker: a b",
        ),
        (
            '{"event":"subscribe","status":401,"message":"You are not authorized, login first"}',
            "subscribe refused: You are not authorized, login first",
        ),
        (
            '{"event":"unsubscribe","message":"you are not authorized for this ticker"}',
            "unsubscribe refused: you are not authorized for this ticker",
        ),
    ],
)
def test_subscription_refusals_are_non_fatal_provider_errors(frame: str, expected: str) -> None:
    assert protocol().receive(frame) == [ProviderError(expected)]


def test_an_unauthorized_message_on_any_event_is_unauthorized() -> None:
    assert protocol().receive('{"event":"subscribe","status":401,"message":"Unauthorized"}') == [
        Unauthorized("Unauthorized")
    ]


def test_heartbeats_are_ignored_quietly() -> None:
    assert protocol().receive('{"event":"heartbeat","timestamp":1732000000000}') == [Heartbeat()]
    assert protocol().receive('{"event":"heartbeat"}') == [Heartbeat()]


def test_other_events_are_info_or_errors_by_status() -> None:
    proto = protocol()
    assert proto.receive('{"event":"notice","message":"maintenance at 22:00"}') == [
        Info("notice: maintenance at 22:00")
    ]
    assert proto.receive('{"event":"error","status":400,"message":"unknown event"}') == [
        ProviderError("error: unknown event")
    ]


@pytest.mark.parametrize("frame", ["not json", "[1]", '{"hello":"world"}'])
def test_unreadable_or_unexpected_frames_are_errors_not_crashes(frame: str) -> None:
    events = protocol().receive(frame)
    assert len(events) == 1
    assert isinstance(events[0], ProviderError)
    assert not events[0].fatal


# -- data -----------------------------------------------------------------------------------------


def test_a_stock_quote_becomes_a_clean_record() -> None:
    (record,) = only_records(protocol().receive(STOCK_QUOTE))
    assert record.symbol == "KEY"
    assert record.type == "quote"
    assert record.date == datetime(2023, 7, 21, 13, 50, 44, 488938, tzinfo=UTC)
    assert record.date.tzinfo is not None
    assert (record.bid_price, record.bid_size) == (11.82, 1000)
    assert (record.ask_price, record.ask_size) == (11.84, 400)
    assert record.last_price is None
    assert record.last_size is None
    assert record.exchange is None
    assert record.timestamp == 1689947444488938500
    assert orjson.loads(record.to_json()) == {
        "date": "2023-07-21T13:50:44.488938Z",
        "symbol": "KEY",
        "type": "quote",
        "bid_price": 11.82,
        "bid_size": 1000.0,
        "ask_price": 11.84,
        "ask_size": 400.0,
        "timestamp": 1689947444488938500,
    }


def test_trades_and_breaks_carry_last_price_and_size() -> None:
    proto = protocol()
    (trade,) = only_records(proto.receive(STOCK_TRADE))
    (trade_break,) = only_records(proto.receive(STOCK_BREAK))
    assert (trade.type, trade.symbol, trade.last_price, trade.last_size) == (
        "trade",
        "AAPL",
        191.5,
        100,
    )
    assert (trade_break.type, trade_break.last_price, trade_break.last_size) == ("break", 191.4, 50)
    assert trade.bid_price is None


def test_crypto_quotes_in_milliseconds_keep_the_exchange() -> None:
    (record,) = only_records(protocol(asset_type="crypto", symbol="btcusd").receive(CRYPTO_QUOTE))
    assert record.exchange == "SIM"
    assert record.symbol == "BTCUSD"
    assert record.date == datetime(2023, 7, 21, 13, 50, 44, 488000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("feed", "kept"),
    [("all", ["quote", "trade", "break"]), ("trade", ["trade", "break"]), ("quote", ["quote"])],
)
def test_the_feed_filters_event_types_client_side(feed: str, kept: list[str]) -> None:
    proto = protocol(feed=feed)
    types = []
    for frame in (STOCK_QUOTE, STOCK_TRADE, STOCK_BREAK):
        for event in proto.receive(frame):
            assert isinstance(event, Records)
            types += [item.type for item in event.items]
    assert types == kept


def test_a_batched_list_of_objects_is_accepted_too() -> None:
    records = only_records(protocol().receive(f"[{STOCK_QUOTE},{STOCK_TRADE}]"))
    assert [r.type for r in records] == ["quote", "trade"]


def test_invalid_data_goes_to_invalid_and_never_raises() -> None:
    proto = protocol()
    assert proto.receive('{"s":"aapl","t":"soon","type":"T","lp":1,"ls":1}') == []
    assert proto.receive('{"s":"aapl","t":1689947444488938500,"type":"T","lp":"x"}') == []
    invalid = proto.take_invalid()
    assert len(invalid) == 2
    assert invalid[0].raw == {"s": "aapl", "t": "soon", "type": "T", "lp": 1, "ls": 1}
    assert proto.take_invalid() == []
    # Valid data in the same frame as invalid data still arrives.
    events = proto.receive(f'[{{"s":"aapl","type":"T"}},{STOCK_TRADE}]')
    assert [r.type for r in only_records(events)] == ["trade"]
    assert len(proto.take_invalid()) == 1


# -- parameters -----------------------------------------------------------------------------------


def test_defaults_are_stock_and_all_feeds() -> None:
    params = FmpQueryParams(name="x", symbol="aapl, msft ,aapl")
    assert (params.asset_type, params.feed) == ("stock", "all")
    assert params.symbols() == ["aapl", "msft"]


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"asset_type": "options"}, "'stock', 'fx' or 'crypto'"),
        ({"feed": "aggregate"}, "'all', 'trade' or 'quote'"),
        ({"symbol": " , "}, "at least one ticker"),
        ({"symbol": "aapl,*"}, "no wildcard"),
        ({"symbol": "eur/usd"}, "Allowed asset_type values: stock, fx, crypto"),
        ({"channel": "T"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_parameters_are_refused_with_the_allowed_values(
    values: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment.replace("*", r"\*")):
        FmpQueryParams.model_validate({"name": "x", "symbol": "aapl", **values})


def test_currency_pairs_with_a_slash_are_fine_for_fx_and_crypto() -> None:
    assert FmpQueryParams(name="x", symbol="EUR/USD", asset_type="fx").asset_type == "fx"
    assert FmpQueryParams(name="x", symbol="btc/usd", asset_type="crypto").asset_type == "crypto"
