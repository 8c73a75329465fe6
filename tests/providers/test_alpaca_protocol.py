"""The Alpaca protocol class fed frames directly: no sockets, no clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from providers import get_provider
from providers.alpaca import (
    PROVIDER,
    AlpacaData,
    AlpacaProtocol,
    AlpacaProvider,
    AlpacaQueryParams,
)
from providers.protocol import Authorized, Info, ProviderError, Records, Unauthorized

SECRET = "s3cr3t-never-shown"
# The docs' examples (real-time stock pricing data) and alpaca-py's field mappings.
TRADE = (
    '{"T":"t","i":96921,"S":"AAPL","x":"D","p":126.55,"s":1,"t":"2021-02-22T15:51:44.208Z",'
    '"c":["@","I"],"z":"C"}'
)
QUOTE = (
    '{"T":"q","S":"AMD","bx":"U","bp":87.66,"bs":1,"ax":"Q","ap":87.68,"as":4,'
    '"t":"2021-02-22T15:51:45.335689322Z","c":["R"],"z":"C"}'
)
BAR = (
    '{"T":"b","S":"SPY","o":388.985,"h":389.13,"l":388.975,"c":389.12,"v":49378,'
    '"t":"2021-02-22T19:15:00Z"}'
)
CANCEL = (
    '{"T":"x","S":"AAPL","i":96921,"x":"D","p":126.55,"s":1,"a":"C",'
    '"t":"2021-02-22T15:51:47.208Z","z":"C"}'
)
CORRECTION = (
    '{"T":"c","S":"AAPL","x":"D","oi":96921,"op":126.55,"os":1,"oc":["@","I"],"ci":96922,'
    '"cp":126.5,"cs":1,"cc":["@","I"],"t":"2021-02-22T15:51:48.208Z","z":"C"}'
)
CRYPTO_TRADE = (
    '{"T":"t","S":"BTC/USD","p":41516.08,"s":0.00315427,"t":"2022-03-09T06:00:00.080264Z",'
    '"i":293648598,"tks":"B"}'
)
CRYPTO_BAR = (
    '{"T":"b","S":"BTC/USD","o":47993.71,"c":47982.6,"h":48000,"l":47976.69,"v":1.66283276,'
    '"t":"2021-09-17T02:02:00Z","n":162,"vw":47984.1688165374}'
)


def protocol(api_key: str = f"KEY:{SECRET}", **params: Any) -> AlpacaProtocol:
    values: dict[str, Any] = {"name": "alpaca-test", "symbol": "aapl", **params}
    return AlpacaProtocol(AlpacaQueryParams.model_validate(values), api_key)


def array(*items: str) -> str:
    return f"[{','.join(items)}]"


def only_records(events: list[Any]) -> list[AlpacaData]:
    assert len(events) == 1
    assert isinstance(events[0], Records)
    return [item for item in events[0].items if isinstance(item, AlpacaData)]


def stored(record: AlpacaData) -> dict[str, Any]:
    return dict(orjson.loads(record.to_json()))


# -- registration and credentials -----------------------------------------------------------------


def test_the_provider_is_registered_with_a_key_and_a_login() -> None:
    provider = get_provider("alpaca")
    assert provider is PROVIDER
    assert isinstance(provider, AlpacaProvider)
    assert provider.protocol is AlpacaProtocol
    assert provider.params is AlpacaQueryParams
    assert provider.data is AlpacaData
    assert provider.credential_env == "ALPACA_API_KEY"
    assert provider.docs_url == "https://docs.alpaca.markets/docs/streaming-market-data"
    assert not AlpacaProtocol.ready_on_open


@pytest.mark.parametrize(
    ("env", "credential"),
    [
        ({"ALPACA_API_KEY": "PK1:S1"}, "PK1:S1"),
        ({"ALPACA_API_KEY": "PK1", "ALPACA_API_SECRET": "S1"}, "PK1:S1"),
        ({"APCA_API_KEY_ID": "PK2", "APCA_API_SECRET_KEY": "S2"}, "PK2:S2"),
        (
            {"ALPACA_API_KEY": "PK1:S1", "APCA_API_KEY_ID": "PK2", "APCA_API_SECRET_KEY": "S2"},
            "PK1:S1",
        ),
        ({"ALPACA_API_KEY": "PK1"}, "PK1"),
        ({}, None),
    ],
)
def test_the_credential_may_come_whole_or_in_two_variables(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], credential: str | None
) -> None:
    for name in ("ALPACA_API_KEY", "ALPACA_API_SECRET", "APCA_API_KEY_ID", "APCA_API_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert PROVIDER.credential_from_env() == credential


# -- endpoints ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "url"),
    [
        ({}, "wss://stream.data.alpaca.markets/v2/iex"),
        ({"source": "sip"}, "wss://stream.data.alpaca.markets/v2/sip"),
        ({"source": "delayed_sip"}, "wss://stream.data.alpaca.markets/v2/delayed_sip"),
        ({"source": "test", "symbol": "FAKEPACA"}, "wss://stream.data.alpaca.markets/v2/test"),
        (
            {"asset_type": "crypto", "symbol": "btcusd"},
            "wss://stream.data.alpaca.markets/v1beta3/crypto/us",
        ),
        (
            {"asset_type": "crypto", "symbol": "btcusd", "source": "eu-1"},
            "wss://stream.data.alpaca.markets/v1beta3/crypto/eu-1",
        ),
        (
            {"host": "stream.data.sandbox.alpaca.markets"},
            "wss://stream.data.sandbox.alpaca.markets/v2/iex",
        ),
    ],
)
def test_the_endpoint_follows_asset_type_source_and_host(params: dict[str, Any], url: str) -> None:
    assert protocol(**params).endpoint() == url
    assert protocol(**params, url="ws://127.0.0.1:1/v2/test").url() == "ws://127.0.0.1:1/v2/test"


# -- client messages ------------------------------------------------------------------------------


def test_open_sends_the_auth_with_key_id_and_secret() -> None:
    assert protocol().on_open(["AAPL"]) == [f'{{"action":"auth","key":"KEY","secret":"{SECRET}"}}']
    assert protocol(" PKID : sec ").on_open([]) == ['{"action":"auth","key":"PKID","secret":"sec"}']
    assert protocol("PKID").on_open([]) == ['{"action":"auth","key":"PKID","secret":""}']


def test_subscribe_and_unsubscribe_name_every_list_of_the_feed() -> None:
    proto = protocol()
    assert proto.on_authorized(["AAPL", "msft"]) == [
        '{"action":"subscribe","trades":["AAPL","MSFT"],"quotes":["AAPL","MSFT"],'
        '"bars":["AAPL","MSFT"]}'
    ]
    assert protocol(feed="trade").unsubscribe(["msft"]) == [
        '{"action":"unsubscribe","trades":["MSFT"]}'
    ]
    assert protocol(feed="bar").subscribe(["*"]) == ['{"action":"subscribe","bars":["*"]}']
    assert proto.on_authorized([]) == []


@pytest.mark.parametrize(
    ("asset_type", "given", "canonical"),
    [
        ("stock", " aapl ", "AAPL"),
        ("stock", "brk.b", "BRK.B"),
        ("stock", "fakepaca", "FAKEPACA"),
        ("crypto", "btcusd", "BTC/USD"),
        ("crypto", "ETH-USDT", "ETH/USDT"),
        ("crypto", "sol/usdc", "SOL/USDC"),
    ],
)
def test_symbols_are_sent_in_alpacas_own_spelling(
    asset_type: str, given: str, canonical: str
) -> None:
    proto = protocol(asset_type=asset_type, symbol="btcusd" if asset_type == "crypto" else "x")
    assert proto.canonical_symbol(given) == canonical
    assert proto.canonical_symbol(canonical) == canonical
    assert proto.subscribe([given]) == [
        orjson.dumps(
            {"action": "subscribe"} | {key: [canonical] for key in ("trades", "quotes", "bars")}
        ).decode()
    ]


def test_large_subscriptions_are_split_under_16_kib() -> None:
    symbols = [f"SYM{i}" for i in range(3000)]
    messages = protocol().subscribe(symbols)
    assert len(messages) > 1
    assert all(len(m) <= 16_384 for m in messages)
    assert [s for m in messages for s in orjson.loads(m)["trades"]] == symbols


# -- control messages -----------------------------------------------------------------------------


def test_the_greeting_is_info_and_authenticated_authorizes() -> None:
    proto = protocol()
    assert proto.receive('[{"T":"success","msg":"connected"}]') == [Info("Alpaca: connected")]
    assert proto.receive('[{"T":"success","msg":"authenticated"}]') == [
        Authorized("Alpaca: authenticated")
    ]


def test_the_subscription_reply_lists_the_whole_subscription() -> None:
    frame = '[{"T":"subscription","trades":["AAPL"],"quotes":["AMD","CLDR"],"bars":[]}]'
    assert protocol().receive(frame) == [
        Info("Alpaca subscriptions: trades: AAPL; quotes: AMD,CLDR")
    ]
    assert protocol().receive('[{"T":"subscription","trades":[]}]') == [
        Info("Alpaca subscriptions: (none)")
    ]


@pytest.mark.parametrize(
    ("code", "msg"),
    [
        (400, "invalid syntax"),
        (401, "not authenticated"),
        (403, "already authenticated"),
        (404, "auth timeout"),
        (405, "symbol limit exceeded"),
        (407, "slow client"),
        (410, "invalid subscribe action for this feed"),
        (500, "internal error"),
    ],
)
def test_recoverable_errors_are_reported_in_alpacas_words(code: int, msg: str) -> None:
    frame = orjson.dumps([{"T": "error", "code": code, "msg": msg}])
    assert protocol().receive(frame) == [ProviderError(f"Alpaca error {msg} ({code})")]


@pytest.mark.parametrize(
    ("api_key", "code", "msg", "expected"),
    [
        (
            f"KEY:{SECRET}",
            402,
            "auth failed",
            "auth failed (402): check the key id and secret; give them as api_key='KEY_ID:SECRET'",
        ),
        (
            "KEY",
            402,
            "auth failed",
            "auth failed (402): the credential has no secret; give it as api_key='KEY_ID:SECRET'",
        ),
        (f"KEY:{SECRET}", 408, "v2 not enabled", "v2 not enabled (408)"),
        (
            f"KEY:{SECRET}",
            409,
            "insufficient subscription",
            "insufficient subscription (409): your Alpaca plan does not include source 'sip'",
        ),
    ],
)
def test_refused_credentials_or_plans_are_unauthorized_without_the_secret(
    api_key: str, code: int, msg: str, expected: str
) -> None:
    frame = orjson.dumps([{"T": "error", "code": code, "msg": msg}])
    (event,) = protocol(api_key, source="sip").receive(frame)
    assert event == Unauthorized(expected)
    assert SECRET not in event.message


def test_the_connection_limit_is_fatal_and_says_why() -> None:
    (event,) = protocol().receive('[{"T":"error","code":406,"msg":"connection limit exceeded"}]')
    assert isinstance(event, ProviderError)
    assert event.fatal
    assert event.message.startswith("connection limit exceeded (406): another connection")
    assert "wss://stream.data.alpaca.markets/v2/iex" in event.message


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (
            '[{"T":"s","S":"AAPL","sc":"H","sm":"Trading Halt","t":"2021-02-22T19:15:00Z"}]',
            "trading status",
        ),
        ('[{"T":"l","S":"AAPL","u":1,"d":0.9}]', "LULD band"),
        ('[{"T":"o","S":"BTC/USD","b":[],"a":[]}]', "order book"),
    ],
)
def test_types_never_subscribed_to_are_noted_and_ignored(frame: str, words: str) -> None:
    (event,) = protocol().receive(frame)
    assert isinstance(event, Info)
    assert event.message.startswith(f"Alpaca {words} message ignored")


@pytest.mark.parametrize(
    "frame", ["not json", "[1]", '[{"msg":"no type"}]', '[{"T":"zz"}]', '"text"', "{}"]
)
def test_unreadable_or_unexpected_frames_are_errors_not_crashes(frame: str) -> None:
    events = protocol().receive(frame)
    assert len(events) == 1
    assert isinstance(events[0], ProviderError)
    assert not events[0].fatal


# -- data -----------------------------------------------------------------------------------------


def test_a_stock_trade_becomes_a_clean_record() -> None:
    (record,) = only_records(protocol().receive(array(TRADE)))
    assert stored(record) == {
        "date": "2021-02-22T15:51:44.208000Z",
        "symbol": "AAPL",
        "type": "trade",
        "exchange": "D",
        "last_price": 126.55,
        "last_size": 1.0,
        "timestamp": "2021-02-22T15:51:44.208Z",
        "trade_id": 96921,
        "conditions": ["@", "I"],
        "tape": "C",
    }


def test_quotes_keep_nanoseconds_in_timestamp_and_both_exchanges() -> None:
    (record,) = only_records(protocol().receive(array(QUOTE)))
    assert record.date == datetime(2021, 2, 22, 15, 51, 45, 335689, tzinfo=UTC)
    assert record.timestamp == "2021-02-22T15:51:45.335689322Z"
    assert (record.bid_price, record.bid_size, record.bid_exchange) == (87.66, 1, "U")
    assert (record.ask_price, record.ask_size, record.ask_exchange) == (87.68, 4, "Q")
    assert (record.type, record.exchange, record.last_price) == ("quote", None, None)


@pytest.mark.parametrize(
    ("kind", "interval", "updated"),
    [("b", "minute", None), ("u", "minute", True), ("d", "day", None)],
)
def test_bars_carry_ohlcv_and_their_interval(
    kind: str, interval: str, updated: bool | None
) -> None:
    (record,) = only_records(protocol().receive(array(BAR.replace('"T":"b"', f'"T":"{kind}"'))))
    assert (record.type, record.interval, record.updated) == ("bar", interval, updated)
    assert (record.open, record.high, record.low, record.close, record.volume) == (
        388.985,
        389.13,
        388.975,
        389.12,
        49378,
    )
    assert record.conditions is None  # a bar's `c` is its close


def test_cancels_and_corrections_arrive_with_trades() -> None:
    cancel, correction = only_records(protocol(feed="trade").receive(array(CANCEL, CORRECTION)))
    assert (cancel.type, cancel.trade_id, cancel.action, cancel.last_price) == (
        "cancel",
        96921,
        "C",
        126.55,
    )
    assert stored(correction) == {
        "date": "2021-02-22T15:51:48.208000Z",
        "symbol": "AAPL",
        "type": "correction",
        "exchange": "D",
        "last_price": 126.5,
        "last_size": 1.0,
        "timestamp": "2021-02-22T15:51:48.208Z",
        "trade_id": 96922,
        "conditions": ["@", "I"],
        "tape": "C",
        "original_trade_id": 96921,
        "original_price": 126.55,
        "original_size": 1.0,
        "original_conditions": ["@", "I"],
    }


@pytest.mark.parametrize(
    ("source", "venue"), [("us", "alpaca"), ("us-1", "kraken"), ("eu-1", "kraken")]
)
def test_crypto_records_name_the_venue_and_the_taker_side(source: str, venue: str) -> None:
    proto = protocol(asset_type="crypto", symbol="btcusd", source=source)
    trade, bar = only_records(proto.receive(array(CRYPTO_TRADE, CRYPTO_BAR)))
    assert (trade.symbol, trade.exchange, trade.side) == ("BTC/USD", venue, "buy")
    assert (trade.last_price, trade.last_size, trade.trade_id) == (41516.08, 0.00315427, 293648598)
    assert (bar.trade_count, bar.vwap, bar.volume) == (162, 47984.1688165374, 1.66283276)


def test_data_and_control_messages_may_share_a_frame() -> None:
    events = protocol().receive(
        array(TRADE, '{"T":"error","code":405,"msg":"symbol limit exceeded"}', QUOTE)
    )
    assert events[0] == ProviderError("Alpaca error symbol limit exceeded (405)")
    assert [r.type for r in only_records(events[1:])] == ["trade", "quote"]


def test_invalid_data_goes_to_invalid_and_never_raises() -> None:
    proto = protocol()
    assert proto.receive(array(TRADE.replace('"p":126.55', '"p":"a lot"'))) == []
    assert proto.receive('[{"T":"q","S":"AMD","t":"yesterday"}]') == []
    invalid = proto.take_invalid()
    assert [i.reason.split(":")[0] for i in invalid] == ["last_price", "date"]


# -- parameters -----------------------------------------------------------------------------------


def test_defaults_are_iex_stocks_with_every_feed() -> None:
    params = AlpacaQueryParams(name="x", symbol="aapl,msft")
    assert (params.asset_type, params.source, params.feed) == ("stock", "iex", "all")
    assert params.host == "stream.data.alpaca.markets"
    assert AlpacaQueryParams(name="x", symbol="btc/usd", asset_type="crypto").source == "us"
    assert AlpacaQueryParams(name="x", symbol="*").symbols() == ["*"]


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"asset_type": "options"}, "'stock' or 'crypto'"),
        ({"source": "us"}, "allowed sources: iex, sip, delayed_sip, test"),
        (
            {"asset_type": "crypto", "symbol": "btc/usd", "source": "iex"},
            "allowed sources: us, us-1, eu-1",
        ),
        ({"source": "otc"}, "'iex', 'sip', 'delayed_sip', 'test', 'us', 'us-1' or 'eu-1'"),
        ({"feed": "news"}, "'all', 'trade', 'quote' or 'bar'"),
        ({"symbol": "BTC/USD"}, "'stock' does not serve currency pairs"),
        ({"asset_type": "crypto", "symbol": "aapl"}, "'crypto' needs currency pairs"),
        ({"symbol": " , "}, "at least one symbol"),
        ({"host": "paper-api.alpaca.markets"}, "'stream.data.alpaca.markets' or"),
        ({"secret": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_parameters_are_refused_with_the_allowed_values(
    values: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment):
        AlpacaQueryParams.model_validate({"name": "x", "symbol": "aapl", **values})
