"""The OKX protocol class fed frames directly: no sockets, no clock."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from providers import get_provider
from providers.okx import OkxData, OkxProtocol, OkxQueryParams
from providers.protocol import Heartbeat, Info, ProviderError, Reconnect, Records

# Docs samples (https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-trades-channel,
# ...-tickers-channel, #overview-websocket-notification).
TRADE = (
    '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
    '"tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy",'
    '"ts":"1630048897897","count":"3"}]}'
)
TICKER = (
    '{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instType":"SPOT",'
    '"instId":"BTC-USDT","last":"9999.99","lastSz":"0.1","askPx":"9999.99","askSz":"11",'
    '"bidPx":"8888.88","bidSz":"5","open24h":"9000","high24h":"10000","low24h":"8888.88",'
    '"volCcy24h":"2222","vol24h":"2222","sodUtc0":"2222","sodUtc8":"2222",'
    '"ts":"1597026383085"}]}'
)
NOTICE = (
    '{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service '
    'upgrade. Please reconnect.","connId":"a4d3ae55"}'
)


def protocol(**params: Any) -> OkxProtocol:
    values: dict[str, Any] = {"name": "okx-test", "symbol": "btc-usdt", **params}
    return OkxProtocol(OkxQueryParams.model_validate(values), None)


def only_records(events: list[Any]) -> list[OkxData]:
    assert len(events) == 1
    assert isinstance(events[0], Records)
    return [item for item in events[0].items if isinstance(item, OkxData)]


def test_the_provider_is_registered_keyless_with_a_text_ping_keepalive() -> None:
    provider = get_provider("okx")
    assert provider.protocol is OkxProtocol
    assert OkxProtocol.ready_on_open is True
    proto = protocol()
    assert proto.endpoint() == "wss://ws.okx.com:8443/ws/v5/public"
    assert proto.keepalive_interval == 20.0
    assert proto.keepalive() == ["ping"]
    assert protocol(keepalive_seconds=5).keepalive_interval == 5.0
    assert proto.on_open(["BTC/USDT"]) == []


@pytest.mark.parametrize("seconds", [0, 30, 45])
def test_the_keepalive_must_come_within_okx_s_30_seconds(seconds: float) -> None:
    with pytest.raises(ValidationError, match="keepalive_seconds"):
        OkxQueryParams(name="x", symbol="btc-usdt", keepalive_seconds=seconds)


@pytest.mark.parametrize("written", ["btc-usdt", "BTC/USDT", "btcusdt", "BTC_USDT"])
def test_any_spelling_becomes_the_canonical_pair_and_an_inst_id(written: str) -> None:
    assert protocol().canonical_symbol(written) == "BTC/USDT"
    assert protocol().wire_symbol(written) == "BTC-USDT"


def test_other_instruments_pass_through() -> None:
    assert protocol().canonical_symbol("btc-usdt-swap") == "BTC-USDT-SWAP"
    assert protocol().wire_symbol("BTC-USDT-SWAP") == "BTC-USDT-SWAP"


def test_one_request_carries_every_channel_and_instrument() -> None:
    assert [orjson.loads(m) for m in protocol().subscribe(["btc/usdt", "ETHUSDT"])] == [
        {
            "op": "subscribe",
            "args": [
                {"channel": "trades", "instId": "BTC-USDT"},
                {"channel": "trades", "instId": "ETH-USDT"},
                {"channel": "tickers", "instId": "BTC-USDT"},
                {"channel": "tickers", "instId": "ETH-USDT"},
            ],
        }
    ]
    assert [orjson.loads(m) for m in protocol(feed="quote").unsubscribe(["eth-usdt"])] == [
        {"op": "unsubscribe", "args": [{"channel": "tickers", "instId": "ETH-USDT"}]}
    ]
    assert protocol().subscribe([]) == []


def test_a_huge_burst_is_split_into_few_requests() -> None:
    symbols = [f"C{i}-USDT" for i in range(600)]
    messages = protocol().subscribe(symbols)
    assert [len(orjson.loads(m)["args"]) for m in messages] == [500, 500, 200]
    assert all(len(m) < 64 * 1024 for m in messages)


def test_pong_is_a_heartbeat_not_an_unreadable_frame() -> None:
    assert protocol().receive("pong") == [Heartbeat()]
    assert protocol().receive(b"pong") == [Heartbeat()]


def test_replies_errors_and_notices_are_classified() -> None:
    proto = protocol()
    ack = (
        '{"event":"subscribe","arg":{"channel":"tickers","instId":"BTC-USDT"},"connId":"accb8e21"}'
    )
    assert proto.receive(ack) == [Info("OKX: subscribe tickers BTC-USDT ok")]
    assert proto.receive(ack.replace('"subscribe"', '"unsubscribe"')) == [
        Info("OKX: unsubscribe tickers BTC-USDT ok")
    ]
    error = (
        '{"event":"error","code":"60018","msg":"Wrong URL or channel:tickers,instId:FOO-BAR '
        'doesn\'t exist.","connId":"a4d3ae55"}'
    )
    assert proto.receive(error) == [
        ProviderError("OKX error 60018: Wrong URL or channel:tickers,instId:FOO-BAR doesn't exist.")
    ]
    assert proto.receive(NOTICE) == [
        Reconnect(
            "OKX notice 64008: The connection will soon be closed for a service upgrade. "
            "Please reconnect."
        )
    ]
    count = '{"event":"channel-conn-count","channel":"orders","connCount":"2","connId":"ab"}'
    (info,) = proto.receive(count)
    assert isinstance(info, Info)
    assert info.message.startswith("OKX channel-conn-count")
    assert proto.receive('{"event":"notice","code":"64009","msg":"other"}') == [
        Info("OKX notice 64009: other")
    ]


@pytest.mark.parametrize("frame", ["ping?", "[1]", '{"arg":{"channel":"books"},"data":[]}', "{}"])
def test_unreadable_or_unexpected_frames_are_errors_not_crashes(frame: str) -> None:
    (event,) = protocol().receive(frame)
    assert isinstance(event, ProviderError)
    assert not event.fatal


def test_a_trade_becomes_a_clean_record() -> None:
    (record,) = only_records(protocol().receive(TRADE))
    assert orjson.loads(record.to_json()) == {
        "date": "2021-08-27T07:21:37.897000Z",
        "symbol": "BTC/USDT",
        "type": "trade",
        "exchange": "OKX",
        "last_price": 42219.9,
        "last_size": 0.12060306,
        "side": "buy",
        "trade_id": "130639474",
    }


def test_a_ticker_becomes_a_quote_and_its_restatement_is_dropped() -> None:
    proto = protocol()
    (record,) = only_records(proto.receive(TICKER))
    assert record.type == "quote"
    assert (record.bid_price, record.bid_size, record.ask_price, record.ask_size) == (
        8888.88,
        5,
        9999.99,
        11,
    )
    assert (record.last_price, record.last_size, record.volume_24h) == (9999.99, 0.1, 2222)
    assert proto.receive(TICKER) == []  # the first push after a resubscribe, stored already
    newer = TICKER.replace("1597026383085", "1597026383086")
    assert len(only_records(proto.receive(newer))) == 1


def test_invalid_items_are_counted() -> None:
    proto = protocol()
    frame = orjson.loads(TRADE)
    frame["data"] = [7, {**frame["data"][0], "ts": "soon"}, frame["data"][0]]
    assert len(only_records(proto.receive(orjson.dumps(frame)))) == 1
    assert len(proto.take_invalid()) == 2


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"feed": "books"}, "'all', 'trade' or 'quote'"),
        ({"asset_type": "fx"}, "'crypto'"),
        ({"symbol": ""}, "at least one instrument"),
        ({"symbol": "*"}, "no wildcard"),
    ],
)
def test_bad_parameters_are_refused_with_the_allowed_values(
    values: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment.replace("*", r"\*")):
        OkxQueryParams.model_validate({"name": "x", "symbol": "btc-usdt", **values})
