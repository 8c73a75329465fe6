"""The Intrinio protocol class, fed bytes directly: no sockets, no clock.

Every frame is built here from the layout the official SDKs parse (intrinio-realtime-python-sdk
`equities_client.py`, intrinio-realtime-node-sdk `index.js`), independently of the simulator:
a count byte, then per message its type, its length, the ticker, the subprovider, a UTF-16LE
market center, float32 price, uint32 size, uint64 nanosecond timestamp, (trades) uint32 day
volume, then the condition codes.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from providers.intrinio import PROVIDER, IntrinioData, IntrinioProtocol, IntrinioQueryParams
from providers.intrinio.protocol import float32, is_darkpool
from providers.protocol import Info, ProviderError, Records, TokenRequest, Unauthorized

STAMP = 1_700_000_000_123_456_789  # 2023-11-14T22:13:20.123456789Z


def trade(
    symbol: str = "AAPL",
    price: float = 189.1,
    size: int = 100,
    stamp: int = STAMP,
    volume: int = 1_234_567,
    subprovider: int = 6,
    center: str = "V",
    conditions: str = "@",
) -> bytes:
    ticker = symbol.encode("ascii")
    body = bytes([len(ticker)]) + ticker + bytes([subprovider]) + center.encode("utf-16-le")
    body += struct.pack("<f", price) + struct.pack("<I", size) + struct.pack("<Q", stamp)
    body += struct.pack("<I", volume) + bytes([len(conditions)]) + conditions.encode("ascii")
    return bytes([0, len(body) + 2]) + body


def quote(
    kind: int,
    symbol: str = "AAPL",
    price: float = 189.12,
    size: int = 300,
    stamp: int = STAMP + 1,
    subprovider: int = 6,
    center: str = "V",
    conditions: str = "",
) -> bytes:
    ticker = symbol.encode("ascii")
    body = bytes([len(ticker)]) + ticker + bytes([subprovider]) + center.encode("utf-16-le")
    body += struct.pack("<fIQ", price, size, stamp)
    body += bytes([len(conditions)]) + conditions.encode("ascii")
    return bytes([kind, len(body) + 2]) + body


def frame(*messages: bytes) -> bytes:
    return bytes([len(messages)]) + b"".join(messages)


def protocol(api_key: str | None = "key", **params: Any) -> IntrinioProtocol:
    values = {"name": "t", "symbol": "aapl", **params}
    return IntrinioProtocol(IntrinioQueryParams.model_validate(values), api_key)


def decode(data: bytes, proto: IntrinioProtocol | None = None) -> list[IntrinioData]:
    events = (proto or protocol()).receive(data)
    assert all(isinstance(event, Records) for event in events)
    found = [item for event in events if isinstance(event, Records) for item in event.items]
    assert all(isinstance(item, IntrinioData) for item in found)
    return [item for item in found if isinstance(item, IntrinioData)]


# -- the documented layout, message by message ---------------------------------------------------


def test_the_docstring_sample_frame_is_the_documented_layout():
    sample = bytes.fromhex(
        "02"
        "0020044141504c0656009a193d436400000015cd853dfe9c971787d612000140"
        "011b044141504c065600b81e3d432c010000e7cd853dfe9c971700"
    )
    assert sample == frame(trade(), quote(1, stamp=STAMP + 210))
    records = decode(sample)
    assert [(r.type, r.symbol) for r in records] == [("trade", "AAPL"), ("ask", "AAPL")]


def test_a_trade_is_decoded_field_by_field():
    (record,) = decode(frame(trade(conditions="@FT")))
    assert record.model_dump(exclude_none=True) == {
        "date": datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC),
        "symbol": "AAPL",
        "type": "trade",
        "exchange": "V",
        "last_price": 189.1,
        "last_size": 100.0,
        "volume": 1_234_567,
        "conditions": "@FT",
        "subprovider": "IEX",
        "is_darkpool": False,
        "timestamp": STAMP,
    }


@pytest.mark.parametrize(("kind", "word", "side"), [(1, "ask", "ask"), (2, "bid", "bid")])
def test_asks_and_bids_fill_their_own_side_only(kind: int, word: str, side: str):
    (record,) = decode(frame(quote(kind, price=50.25, size=7, conditions="R")))
    stored = record.model_dump(exclude_none=True)
    assert stored["type"] == word
    assert stored[f"{side}_price"] == 50.25
    assert stored[f"{side}_size"] == 7
    assert stored["conditions"] == "R"
    assert stored["timestamp"] == STAMP + 1
    other = "bid" if side == "ask" else "ask"
    assert not {"last_price", "last_size", f"{other}_price", "volume", "is_darkpool"} & set(stored)


def test_the_stored_json_is_compact_and_numeric():
    (record,) = decode(frame(trade(price=0.0123)))
    assert record.to_json() == (
        '{"date":"2023-11-14T22:13:20.123456Z","symbol":"AAPL","type":"trade","exchange":"V",'
        '"last_price":0.0123,"last_size":100.0,"volume":1234567,"conditions":"@",'
        '"subprovider":"IEX","is_darkpool":false,"timestamp":1700000000123456789}'
    )


@pytest.mark.parametrize("price", [189.1, 0.0001, 3.14159, 123456.7, 4321.5, 9.99])
def test_float32_prices_come_back_as_the_shortest_decimal(price: float):
    on_wire = struct.unpack("<f", struct.pack("<f", price))[0]
    assert float32(on_wire) == price
    (record,) = decode(frame(trade(price=price)))
    assert record.last_price == price


def test_nanosecond_timestamps_keep_every_digit_and_dates_are_utc():
    (record,) = decode(frame(trade(stamp=2**63 - 1 - 808)))  # near the u64/int64 limit
    assert record.timestamp == 2**63 - 1 - 808
    (record,) = decode(frame(trade(stamp=1)))
    assert record.date == datetime(1970, 1, 1, tzinfo=UTC)
    assert record.timestamp == 1


def test_unsigned_sizes_and_volumes_use_all_32_bits():
    (record,) = decode(frame(trade(size=2**32 - 1, volume=2**32 - 2)))
    assert record.last_size == 2**32 - 1
    assert record.volume == 2**32 - 2


@pytest.mark.parametrize(
    ("code", "name"),
    [(0, None), (1, "CTA_A"), (2, "CTA_B"), (3, "UTP"), (4, "OTC"), (5, "NASDAQ_BASIC"),
     (6, "IEX"), (7, "CBOE_ONE"), (8, "EQUITIES_EDGE"), (42, None)],
)  # fmt: skip
def test_subprovider_codes_are_named_as_the_sdks_name_them(code: int, name: str | None):
    (record,) = decode(frame(trade(subprovider=code)))
    assert record.subprovider == name


@pytest.mark.parametrize(("center", "exchange"), [("V", "V"), ("\x00", None), (" ", None)])
def test_the_market_center_is_one_utf16_character_or_none(center: str, exchange: str | None):
    (record,) = decode(frame(quote(2, center=center)))
    assert record.exchange == exchange


def test_a_market_center_outside_ascii_is_read_as_utf16_little_endian():
    (record,) = decode(frame(trade(center="\u00e9")))
    assert record.exchange == "\u00e9"


@pytest.mark.parametrize(
    ("subprovider", "center", "dark"),
    [("UTP", "D", True), ("CTA_A", "E", True), ("CTA_B", "", True), ("OTC", "N", False),
     ("NASDAQ_BASIC", "L", True), ("NASDAQ_BASIC", "2", True), ("NASDAQ_BASIC", "Q", False),
     ("IEX", "", False), (None, "D", False)],
)  # fmt: skip
def test_darkpool_follows_the_sdks_rule(subprovider: str | None, center: str, dark: bool):
    assert is_darkpool(subprovider, center) is dark


def test_sip_trades_off_exchange_are_flagged_darkpool():
    (lit, dark) = decode(frame(trade(subprovider=3, center="Q"), trade(subprovider=3, center="D")))
    assert (lit.is_darkpool, dark.is_darkpool) == (False, True)


def test_empty_conditions_are_left_out():
    (record,) = decode(frame(trade(conditions="")))
    assert record.conditions is None


def test_a_frame_with_many_messages_keeps_their_order():
    messages = [trade("A"), quote(1, "BB"), quote(2, "CCC"), trade("BRK.A", conditions="@ TI")]
    records = decode(frame(*messages))
    assert [(r.symbol, r.type) for r in records] == [
        ("A", "trade"),
        ("BB", "ask"),
        ("CCC", "bid"),
        ("BRK.A", "trade"),
    ]
    assert records[3].conditions == "@ TI"


# -- truncated and garbage frames: counted as invalid, never raised ------------------------------


@pytest.mark.parametrize(
    ("data", "valid", "reason"),
    [
        (b"", 0, "empty frame"),
        (frame(trade())[:-1], 0, "frame truncated: message 1 of 1"),
        (frame(trade(), quote(1))[:40], 1, "frame truncated: message 2 of 2"),
        (bytes([3]) + trade() + quote(2), 2, "frame truncated: message 3 of 3"),
        (frame(trade()) + b"\x00", 1, "1 bytes after 1 messages"),
        (b"\x00\xff", 0, "1 bytes after 0 messages"),
        (frame(b"\x07\x04ab", trade()), 1, "unknown message type 7"),
        (frame(b"\x00\x01"), 0, "frame truncated: message 1 of 1"),
        (frame(bytes([0, 10, 4]) + b"AAPL\x06V\x00"), 0, "trade message: unpack_from"),
        (frame(quote(1)[:-1] + b"\x05"), 0, "ask message: conditions cut short"),
        (frame(quote(2, symbol="")), 0, "bid message: empty ticker"),
        (frame(bytes([0, 34]) + trade()[2:] + b"\x00\x00"), 1, ""),  # padded: still read
        (frame(trade(price=float("nan"))), 0, "trade message: price is nan"),
        (frame(bytes([1, 26, 4]) + b"A\xffPL" + bytes(19)), 0, "ask message: 'ascii' codec"),
    ],
)
def test_bad_frames_are_counted_as_invalid_and_never_raise(data: bytes, valid: int, reason: str):
    proto = protocol()
    records = decode(data, proto)
    assert len(records) == valid
    invalid = proto.take_invalid()
    assert [item.reason[: len(reason)] for item in invalid] == ([reason] if reason else [])
    assert all(isinstance(item.raw, str) for item in invalid)  # the bytes as hex, for reports
    assert proto.take_invalid() == []


def test_text_frames_are_the_servers_error_messages():
    events = protocol().receive("Invalid channel: $NOPE")
    assert events == [ProviderError("Intrinio: Invalid channel: $NOPE")]
    assert protocol().receive("  ") == []


# -- client frames -------------------------------------------------------------------------------


def test_joins_and_leaves_are_binary_frames_one_per_channel():
    proto = protocol()
    assert proto.on_open(["AAPL"]) == []
    assert proto.on_authorized(["AAPL", "BRK.A"]) == [b"J\x00AAPL", b"J\x00BRK.A"]
    assert proto.subscribe(["msft"]) == [bytes.fromhex("4a00") + b"MSFT"]
    assert proto.unsubscribe(["msft", "*"]) == [bytes.fromhex("4c") + b"MSFT", b"L$FIREHOSE"]


def test_trades_only_sets_the_join_flag():
    assert protocol(trades_only=True).subscribe(["aapl", "*"]) == [
        b"J\x01AAPL",
        b"J\x01$FIREHOSE",
    ]


@pytest.mark.parametrize("alias", ["*", "lobby", "$lobby", "$FIREHOSE", " $firehose "])
def test_every_firehose_spelling_is_the_star_and_joins_firehose(alias: str):
    proto = protocol(symbol=alias)
    assert proto.canonical_symbol(alias) == "*"
    assert proto.subscribe([alias]) == [b"J\x00$FIREHOSE"]


def test_a_symbol_outside_ascii_on_a_live_subscribe_never_raises():
    assert protocol().subscribe(["\u00c4PPL"]) == [b"J\x00?PPL"]


# -- endpoints and the access token --------------------------------------------------------------


@pytest.mark.parametrize(
    ("feed", "host"),
    [
        ("realtime", "realtime-mx.intrinio.com"),
        ("delayed_sip", "realtime-delayed-sip.intrinio.com"),
        ("nasdaq_basic", "realtime-nasdaq-basic.intrinio.com"),
        ("cboe_one", "cboe-one.intrinio.com"),
        ("equities_edge", "equities-edge.intrinio.com"),
    ],
)
def test_each_feed_has_its_host_for_the_token_and_the_socket(feed: str, host: str):
    proto = protocol(feed=feed, api_key="k&y")
    assert proto.endpoint() == f"wss://{host}/socket/websocket"
    assert proto.token_request() == TokenRequest(f"https://{host}/auth?api_key=k%26y")


def test_the_token_goes_into_the_websocket_query_with_the_v2_format():
    proto = protocol()
    assert proto.token_reply(200, b"tok-123\n") == Info("Intrinio access token received")
    assert proto.token == "tok-123"
    assert proto.url() == (
        "wss://realtime-mx.intrinio.com/socket/websocket"
        "?vsn=1.0.0&token=tok-123&UseNewEquitiesFormat=v2"
    )
    assert protocol(delayed=True).url().endswith("&UseNewEquitiesFormat=v2&delayed=true")


def test_a_url_override_takes_the_token_request_along():
    proto = protocol(url="ws://127.0.0.1:9/socket/websocket")
    assert proto.token_request().url == "http://127.0.0.1:9/auth?api_key=key"
    assert proto.url().startswith("ws://127.0.0.1:9/socket/websocket?vsn=1.0.0&token=")
    secure = protocol(url="wss://proxy.example/intrinio?x=1")
    assert secure.token_request().url == "https://proxy.example/auth?api_key=key"
    assert secure.url().startswith("wss://proxy.example/intrinio?x=1&vsn=1.0.0")
    custom = protocol(url="ws://127.0.0.1:9", auth_url="http://127.0.0.1:8/token?v=2")
    assert custom.token_request().url == "http://127.0.0.1:8/token?v=2&api_key=key"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, b"Invalid API key", Unauthorized("Intrinio refused the API key (HTTP 401): "
                                               "Invalid API key")),
        (403, b"", Unauthorized("Intrinio refused the API key (HTTP 403): Unable to authorize")),
        (200, b"  ", ProviderError("Intrinio's auth endpoint answered HTTP 200 with no token")),
        (503, b"busy", ProviderError("Intrinio's auth endpoint answered HTTP 503: busy")),
        (429, b"", ProviderError("Intrinio's auth endpoint answered HTTP 429 with no token")),
        (404, b"<h1>Not Found</h1>", ProviderError(
            "Intrinio's auth endpoint answered HTTP 404: <h1>Not Found</h1>", fatal=True)),
    ],
)  # fmt: skip
def test_token_replies_become_events(status: int, body: bytes, expected: object):
    proto = protocol()
    assert proto.token_reply(status, body) == expected
    assert proto.token is None


def test_the_token_is_refreshed_daily_and_the_socket_counts_as_authorized_on_open():
    assert IntrinioProtocol.token_max_age == 24 * 3600
    assert IntrinioProtocol.ready_on_open
    assert "Success" in IntrinioProtocol.ready_message


# -- parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"feed": "iex_cloud"}, "feed"),
        ({"asset_type": "crypto"}, "asset_type"),
        ({"symbol": " , "}, "symbol"),
        ({"symbol": "aapl,bad ticker"}, "symbol"),
        ({"symbol": "\u00e4pl"}, "symbol"),
        ({"auth_url": "ftp://x"}, "auth_url"),
        ({"trades_only": "maybe"}, "trades_only"),
    ],
)
def test_bad_parameters_name_the_field(params: dict[str, Any], field: str):
    with pytest.raises(ValidationError) as caught:
        IntrinioQueryParams.model_validate({"name": "t", "symbol": "aapl", **params})
    assert caught.value.errors()[0]["loc"] == (field,)


def test_the_feed_error_lists_every_choice():
    with pytest.raises(ValidationError, match="'realtime', 'delayed_sip', 'nasdaq_basic', "
                                              "'cboe_one' or 'equities_edge'"):  # fmt: skip
        IntrinioQueryParams.model_validate({"name": "t", "symbol": "aapl", "feed": "x"})


def test_the_provider_is_registered_with_its_parts():
    assert PROVIDER.name == "intrinio"
    assert PROVIDER.credential_env == "INTRINIO_API_KEY"
    assert PROVIDER.simulator == "providers.intrinio.simulator"
