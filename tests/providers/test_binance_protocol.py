"""The Binance protocol class fed frames directly: no sockets, no clock (the clock is fixed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from providers import get_provider
from providers.binance import BinanceData, BinanceProtocol, BinanceQueryParams
from providers.protocol import Info, ProviderError, Reconnect, Records

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
# The docs' sample payloads (web-socket-streams.md).
TRADE = (
    '{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",'
    '"T":1672515782136,"m":true,"M":true}'
)
BOOK_TICKER = (
    '{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000",'
    '"A":"40.66000000"}'
)
SHUTDOWN = '{"e":"serverShutdown","E":1770123456789}'


def protocol(**params: Any) -> BinanceProtocol:
    values: dict[str, Any] = {"name": "binance-test", "symbol": "btcusdt", **params}
    return BinanceProtocol(BinanceQueryParams.model_validate(values), None, clock=lambda: NOW)


def combined(stream: str, payload: str) -> str:
    return f'{{"stream":"{stream}","data":{payload}}}'


def request(method: str, params: list[str], request_id: int) -> str:
    return orjson.dumps({"method": method, "params": params, "id": request_id}).decode()


def only_records(events: list[Any]) -> list[BinanceData]:
    assert len(events) == 1
    assert isinstance(events[0], Records)
    return [item for item in events[0].items if isinstance(item, BinanceData)]


# -- registration and endpoints -------------------------------------------------------------------


def test_the_provider_is_registered_keyless_and_ready_on_open() -> None:
    provider = get_provider("binance")
    assert provider.protocol is BinanceProtocol
    assert provider.params is BinanceQueryParams
    assert provider.data is BinanceData
    assert provider.credential_env == "BINANCE_API_KEY"
    assert provider.docs_url.startswith("https://developers.binance.com/")
    assert BinanceProtocol.ready_on_open
    assert BinanceProtocol.keepalive_interval is None  # the library answers Binance's pings


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("stream.binance.com", "wss://stream.binance.com:9443/stream"),
        ("data-stream.binance.vision", "wss://data-stream.binance.vision/stream"),
        ("stream.binance.us", "wss://stream.binance.us:9443/stream"),
    ],
)
def test_each_host_has_its_combined_stream_endpoint(host: str, url: str) -> None:
    assert protocol(host=host).endpoint() == url
    assert protocol(host=host).url() == url


def test_the_url_override_wins_over_the_endpoint() -> None:
    assert protocol(url="ws://127.0.0.1:1").url() == "ws://127.0.0.1:1"


# -- symbols and client messages ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical", "wire"),
    [
        ("btcusdt", "BTC/USDT", "btcusdt"),
        ("BTCUSDT", "BTC/USDT", "btcusdt"),
        ("BTC-USDT", "BTC/USDT", "btcusdt"),
        ("btc/usdt", "BTC/USDT", "btcusdt"),
        (" eth_btc ", "ETH/BTC", "ethbtc"),
        ("bnbfdusd", "BNB/FDUSD", "bnbfdusd"),
    ],
)
def test_any_spelling_is_canonical_for_users_and_lower_case_on_the_wire(
    given: str, canonical: str, wire: str
) -> None:
    proto = protocol()
    assert proto.canonical_symbol(given) == canonical
    assert proto.canonical_symbol(canonical) == canonical
    assert proto.wire_symbol(given) == wire


def test_open_sends_nothing_and_the_subscribe_follows_at_once() -> None:
    proto = protocol(symbol="btcusdt,ETH/USDT")
    assert proto.on_open(["BTC/USDT", "ETH/USDT"]) == []
    assert proto.on_authorized(["BTC/USDT", "ETH/USDT"]) == [
        request(
            "SUBSCRIBE",
            ["btcusdt@trade", "btcusdt@bookTicker", "ethusdt@trade", "ethusdt@bookTicker"],
            1,
        )
    ]


@pytest.mark.parametrize(
    ("feed", "streams"),
    [("trade", ["btcusdt@trade"]), ("quote", ["btcusdt@bookTicker"])],
)
def test_the_feed_picks_the_streams(feed: str, streams: list[str]) -> None:
    assert protocol(feed=feed).subscribe(["BTC/USDT"]) == [request("SUBSCRIBE", streams, 1)]


def test_live_changes_send_only_what_changed_with_increasing_ids() -> None:
    proto = protocol(feed="trade")
    proto.on_open([])
    assert proto.subscribe(["BTC/USDT"]) == [request("SUBSCRIBE", ["btcusdt@trade"], 1)]
    assert proto.subscribe(["BTC/USDT", "sol-usdt"]) == [request("SUBSCRIBE", ["solusdt@trade"], 2)]
    assert proto.unsubscribe(["BTCUSDT", "xrpusdt"]) == [
        request("UNSUBSCRIBE", ["btcusdt@trade"], 3)
    ]
    assert proto.unsubscribe(["xrpusdt"]) == []


def test_a_new_connection_forgets_the_streams_of_the_last_one() -> None:
    proto = protocol(feed="trade")
    proto.subscribe(["BTC/USDT"])
    proto.on_open(["BTC/USDT"])
    assert proto.subscribe(["BTC/USDT"]) == [request("SUBSCRIBE", ["btcusdt@trade"], 2)]


def test_large_subscriptions_are_split_into_4_kib_messages() -> None:
    proto = protocol(feed="trade")
    messages = proto.subscribe([f"coin{i}usdt" for i in range(300)])
    assert len(messages) == 2  # 300 streams of ~20 bytes
    assert all(len(message) <= 4096 for message in messages)
    streams = [s for m in messages for s in orjson.loads(m)["params"]]
    assert streams == [f"coin{i}usdt@trade" for i in range(300)]
    assert [orjson.loads(m)["id"] for m in messages] == [1, 2]


def test_a_burst_never_exceeds_4_messages_whatever_its_size() -> None:
    messages = protocol().subscribe([f"coin{i}usdt" for i in range(512)])
    assert len(messages) == 4  # the 5th message of a second would get the connection closed
    assert sum(len(orjson.loads(m)["params"]) for m in messages) == 1024


def test_streams_past_1024_are_not_requested_and_the_next_frame_says_so() -> None:
    proto = protocol()
    proto.on_open([])
    proto.subscribe([f"coin{i}usdt" for i in range(510)])  # 1020 streams
    messages = proto.subscribe(["btcusdt", "ethusdt", "solusdt"])  # 6 more, room for 4
    assert orjson.loads(messages[0])["params"] == [
        "btcusdt@trade",
        "btcusdt@bookTicker",
        "ethusdt@trade",
        "ethusdt@bookTicker",
    ]
    first, second = proto.receive('{"result":null,"id":5}')
    assert isinstance(first, ProviderError)
    assert "solusdt@trade, solusdt@bookTicker" in first.message.replace(",", ", ")
    assert "at most 1024 streams" in first.message
    assert second == Info(
        "Binance acknowledged SUBSCRIBE " + ",".join(orjson.loads(messages[0])["params"])
    )


# -- replies --------------------------------------------------------------------------------------


def test_acks_name_the_request_they_answer() -> None:
    proto = protocol()
    proto.subscribe(["BTC/USDT"])
    proto.unsubscribe(["BTC/USDT"])
    assert proto.receive('{"result":null,"id":1}') == [
        Info("Binance acknowledged SUBSCRIBE btcusdt@trade,btcusdt@bookTicker")
    ]
    assert proto.receive('{"result":null,"id":2}') == [
        Info("Binance acknowledged UNSUBSCRIBE btcusdt@trade,btcusdt@bookTicker")
    ]
    assert proto.receive('{"result":null,"id":99}') == [Info("Binance acknowledged request")]
    assert proto.receive('{"result":["btcusdt@aggTrade"],"id":3}') == [
        Info("Binance subscriptions: btcusdt@aggTrade")
    ]


@pytest.mark.parametrize(
    "frame",
    [
        # The form clients observe on the wire, and the form the docs print.
        '{"error":{"code":2,"msg":"Invalid request: too many parameters"},"id":1}',
        '{"code":2,"msg":"Invalid request: too many parameters","id":1}',
    ],
)
def test_a_refused_subscribe_is_a_non_fatal_error_and_frees_its_streams(frame: str) -> None:
    proto = protocol(feed="trade")
    proto.subscribe(["BTC/USDT"])
    assert proto.receive(frame) == [
        ProviderError(
            "Binance refused SUBSCRIBE btcusdt@trade: Invalid request: too many parameters (code 2)"
        )
    ]
    assert proto.subscribe(["BTC/USDT"]) == [request("SUBSCRIBE", ["btcusdt@trade"], 2)]


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (
            '{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1"}',
            "Binance refused request: Invalid JSON: expected value at line 1 column 1 (code 3)",
        ),
        (
            '{"code":0,"msg":"Unknown property","id":5}',
            "Binance refused request: Unknown property (code 0)",
        ),
        (
            '{"error":{"code":4,"msg":"Too many subscriptions"},"id":null}',
            "Binance refused request: Too many subscriptions (code 4)",
        ),
        ('{"error":"rate limited","id":7}', "Binance refused request: rate limited"),
    ],
)
def test_every_documented_error_is_reported_with_binances_words(frame: str, expected: str) -> None:
    assert protocol().receive(frame) == [ProviderError(expected)]


@pytest.mark.parametrize("frame", [SHUTDOWN, combined("!serverShutdown", SHUTDOWN)])
def test_server_shutdown_asks_for_a_reconnect(frame: str) -> None:
    assert protocol().receive(frame) == [Reconnect("Binance announced serverShutdown")]


@pytest.mark.parametrize(
    "frame",
    ["not json", "[1]", '{"hello":"world"}', '{"e":"aggTrade","s":"BTCUSDT"}', '"text"'],
)
def test_unreadable_or_unexpected_frames_are_errors_not_crashes(frame: str) -> None:
    events = protocol().receive(frame)
    assert len(events) == 1
    assert isinstance(events[0], ProviderError)
    assert not events[0].fatal


# -- data -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("frame", [TRADE, combined("bnbbtc@trade", TRADE)])
def test_a_trade_becomes_a_clean_record(frame: str) -> None:
    (record,) = only_records(protocol().receive(frame))
    assert orjson.loads(record.to_json()) == {
        "date": "2022-12-31T19:43:02.136000Z",
        "symbol": "BNB/BTC",
        "type": "trade",
        "exchange": "binance",
        "last_price": 0.001,
        "last_size": 100.0,
        "trade_id": 12345,
        "event_time": 1672515782136,
        "side": "sell",  # m: the buyer was the maker, so the taker sold
    }
    assert record.date == datetime(2022, 12, 31, 19, 43, 2, 136000, tzinfo=UTC)
    assert (record.symbol, record.type, record.exchange) == ("BNB/BTC", "trade", "binance")
    assert (record.last_price, record.last_size) == (0.001, 100.0)
    assert (record.trade_id, record.event_time, record.side) == (12345, 1672515782136, "sell")
    assert record.bid_price is None


def test_binance_us_trades_keep_the_order_ids_and_name_the_exchange() -> None:
    frame = TRADE.replace('"m":true', '"b":88,"a":50,"m":false')
    (record,) = only_records(protocol(host="stream.binance.us").receive(frame))
    assert record.exchange == "binance.us"
    assert record.side == "buy"
    assert record.model_extra == {"buyer_order_id": 88, "seller_order_id": 50}


def test_microsecond_trade_times_are_read_as_such() -> None:
    frame = TRADE.replace("1672515782136,", "1672515782136123,", 2)
    (record,) = only_records(protocol().receive(frame))
    assert record.date == datetime(2022, 12, 31, 19, 43, 2, 136123, tzinfo=UTC)


@pytest.mark.parametrize("frame", [BOOK_TICKER, combined("bnbusdt@bookTicker", BOOK_TICKER)])
def test_a_book_ticker_becomes_a_quote_dated_on_receipt(frame: str) -> None:
    (record,) = only_records(protocol().receive(frame))
    assert orjson.loads(record.to_json()) == {
        "date": "2026-07-01T12:00:00Z",
        "symbol": "BNB/USDT",
        "type": "quote",
        "exchange": "binance",
        "bid_price": 25.3519,
        "bid_size": 31.21,
        "ask_price": 25.3652,
        "ask_size": 40.66,
        "update_id": 400900217,
    }


def test_invalid_data_goes_to_invalid_and_never_raises() -> None:
    proto = protocol()
    assert proto.receive(TRADE.replace('"p":"0.001"', '"p":"cheap"')) == []
    assert proto.receive(BOOK_TICKER.replace('"s":"BNBUSDT"', '"s":null')) == []
    invalid = proto.take_invalid()
    assert [i.reason.split(":")[0] for i in invalid] == ["last_price", "symbol"]
    assert invalid[0].raw["p"] == "cheap"


# -- parameters -----------------------------------------------------------------------------------


def test_defaults_are_spot_both_streams_and_binance_com() -> None:
    params = BinanceQueryParams(name="x", symbol="btcusdt, ETH/USDT ,btcusdt")
    assert (params.asset_type, params.feed, params.host) == ("crypto", "all", "stream.binance.com")
    assert params.symbols() == ["btcusdt", "ETH/USDT"]


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"asset_type": "stock"}, "'crypto'"),
        ({"feed": "bars"}, "'all', 'trade' or 'quote'"),
        (
            {"host": "binance.com"},
            "'stream.binance.com', 'data-stream.binance.vision' or 'stream.binance.us'",
        ),
        ({"symbol": " , "}, "at least one pair"),
        ({"symbol": "btcusdt,*"}, "Binance streams are per symbol"),
        ({"symbol": ",".join(f"c{i}usdt" for i in range(513))}, "at most 1024"),
        ({"api_secret": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_parameters_are_refused_with_the_allowed_values(
    values: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment.replace("*", r"\*")):
        BinanceQueryParams.model_validate({"name": "x", "symbol": "btcusdt", **values})


def test_512_pairs_fit_one_connection_with_both_streams() -> None:
    symbols = ",".join(f"c{i}usdt" for i in range(512))
    assert BinanceQueryParams(name="x", symbol=symbols).feed == "all"
    assert BinanceQueryParams(name="x", symbol=symbols + ",x1usdt", feed="trade").feed == "trade"
