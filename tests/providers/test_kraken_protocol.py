"""The Kraken protocol class fed frames directly: no sockets, no clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from providers import get_provider
from providers.kraken import KrakenData, KrakenProtocol, KrakenQueryParams
from providers.protocol import Heartbeat, Info, ProviderError, Records

# Docs samples (https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/trade, .../status).
TRADE = (
    '{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"sell",'
    '"price":0.5117,"qty":40.0,"ord_type":"market","trade_id":4665906,'
    '"timestamp":"2023-09-25T07:49:37.708706Z"}]}'
)
TICKER = (
    '{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":104170.7,'
    '"bid_qty":5.47575141,"ask":104170.8,"ask_qty":0.17344941,"last":104170.8,'
    '"volume":900.90713487,"vwap":104149.5,"low":103023.9,"high":104943.7,"change":666.8,'
    '"change_pct":0.64,"timestamp":"2025-05-01T12:00:00.123456Z"}]}'
)
STATUS = (
    '{"channel":"status","data":[{"api_version":"v2","connection_id":13834774380200032777,'
    '"system":"online","version":"2.0.0"}],"type":"update"}'
)
TIMES = '"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"'


def protocol(**params: Any) -> KrakenProtocol:
    values: dict[str, Any] = {"name": "kraken-test", "symbol": "btc/usd", **params}
    return KrakenProtocol(KrakenQueryParams.model_validate(values), None)


def only_records(events: list[Any]) -> list[KrakenData]:
    assert len(events) == 1
    assert isinstance(events[0], Records)
    return [item for item in events[0].items if isinstance(item, KrakenData)]


# -- registration, endpoint, symbols ------------------------------------------------------------


def test_the_provider_is_registered_keyless_and_ready_on_open() -> None:
    provider = get_provider("kraken")
    assert provider.protocol is KrakenProtocol
    assert provider.simulator == "providers.kraken.simulator"
    assert KrakenProtocol.ready_on_open is True
    assert KrakenProtocol.keepalive_interval is None  # Kraken sends heartbeats itself
    assert protocol().endpoint() == "wss://ws.kraken.com/v2"
    assert protocol(url="ws://127.0.0.1:9").url() == "ws://127.0.0.1:9"


@pytest.mark.parametrize("written", ["btc/usd", "BTC-USD", "btcusd", " BTC_usd ", "BTC/USD"])
def test_any_spelling_becomes_the_canonical_pair_and_kraken_wire_form(written: str) -> None:
    proto = protocol()
    assert proto.canonical_symbol(written) == "BTC/USD"
    assert proto.wire_symbol(written) == "BTC/USD"


def test_nothing_is_sent_on_open_the_subscribe_follows_at_once() -> None:
    proto = protocol()
    assert proto.on_open(["BTC/USD"]) == []
    assert proto.on_authorized(["BTC/USD"]) == proto.subscribe(["BTC/USD"])


# -- client messages -------------------------------------------------------------------------------


def test_subscribe_sends_one_request_per_channel_with_every_pair() -> None:
    assert [orjson.loads(m) for m in protocol().subscribe(["btc-usd", "ETHUSD"])] == [
        {
            "method": "subscribe",
            "params": {"channel": "trade", "symbol": ["BTC/USD", "ETH/USD"], "snapshot": False},
        },
        {
            "method": "subscribe",
            "params": {
                "channel": "ticker",
                "symbol": ["BTC/USD", "ETH/USD"],
                "event_trigger": "bbo",
                "snapshot": False,
            },
        },
    ]


@pytest.mark.parametrize(("feed", "channels"), [("trade", ["trade"]), ("quote", ["ticker"])])
def test_the_feed_picks_the_channels(feed: str, channels: list[str]) -> None:
    sent = [orjson.loads(m) for m in protocol(feed=feed).subscribe(["BTC/USD"])]
    assert [m["params"]["channel"] for m in sent] == channels


def test_unsubscribe_names_channel_and_pairs_only() -> None:
    assert [orjson.loads(m) for m in protocol(feed="quote").unsubscribe(["xbt/usd"])] == [
        {"method": "unsubscribe", "params": {"channel": "ticker", "symbol": ["XBT/USD"]}}
    ]
    assert protocol().subscribe([]) == []


# -- replies, status, heartbeats ---------------------------------------------------------------


def test_status_heartbeat_and_pong_are_classified() -> None:
    proto = protocol()
    assert proto.receive(STATUS) == [Info("Kraken status: online (v2.0.0)")]
    assert proto.receive('{"channel":"heartbeat"}') == [Heartbeat()]
    assert proto.receive(f'{{"method":"pong","req_id":101,{TIMES}}}') == [Heartbeat()]


def test_a_maintenance_status_is_shown_not_acted_on() -> None:
    frame = STATUS.replace('"online"', '"maintenance"')
    assert protocol().receive(frame) == [Info("Kraken status: maintenance (v2.0.0)")]


def test_acknowledgements_are_info() -> None:
    proto = protocol()
    ack = (
        '{"method":"subscribe","result":{"channel":"ticker","event_trigger":"bbo",'
        f'"snapshot":false,"symbol":"BTC/USD"}},"success":true,{TIMES}}}'
    )
    assert proto.receive(ack) == [Info("Kraken: subscribe ticker BTC/USD ok")]
    unsub = (
        '{"method":"unsubscribe","result":{"channel":"trade","symbol":"BTC/USD"},'
        f'"success":true,{TIMES}}}'
    )
    assert proto.receive(unsub) == [Info("Kraken: unsubscribe trade BTC/USD ok")]
    warned = ack.replace('"success":true', '"success":true,"warnings":["field x is deprecated"]')
    assert proto.receive(warned) == [
        Info("Kraken: subscribe ticker BTC/USD ok (warnings: field x is deprecated)")
    ]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            '{"error":"Currency pair not supported XYZ/USD","method":"subscribe",'
            f'"success":false,"symbol":"XYZ/USD",{TIMES}}}',
            "Kraken subscribe XYZ/USD failed: Currency pair not supported XYZ/USD",
        ),
        (
            f'{{"error":"Exceeded msg rate","method":"subscribe","success":false,{TIMES}}}',
            "Kraken subscribe failed: Exceeded msg rate",
        ),
        (
            '{"error":"Subscription Not Found","method":"unsubscribe","success":false,'
            f'"symbol":"BTC/USD",{TIMES}}}',
            "Kraken unsubscribe BTC/USD failed: Subscription Not Found",
        ),
    ],
)
def test_refusals_are_errors_that_keep_the_connection(frame: str, message: str) -> None:
    assert protocol().receive(frame) == [ProviderError(message)]


@pytest.mark.parametrize("frame", ["not json", "[1]", '{"channel":"book","data":[]}', "{}"])
def test_unreadable_or_unexpected_frames_are_errors_not_crashes(frame: str) -> None:
    (event,) = protocol().receive(frame)
    assert isinstance(event, ProviderError)
    assert not event.fatal


# -- data -----------------------------------------------------------------------------------------


def test_a_trade_becomes_a_clean_record() -> None:
    (record,) = only_records(protocol().receive(TRADE))
    assert orjson.loads(record.to_json()) == {
        "date": "2023-09-25T07:49:37.708706Z",
        "symbol": "MATIC/USD",
        "type": "trade",
        "exchange": "KRAKEN",
        "last_price": 0.5117,
        "last_size": 40.0,
        "side": "sell",
        "ord_type": "market",
        "trade_id": 4665906,
    }
    assert record.date == datetime(2023, 9, 25, 7, 49, 37, 708706, tzinfo=UTC)


def test_a_bbo_ticker_becomes_a_quote_with_the_24h_figures() -> None:
    (record,) = only_records(protocol(feed="quote").receive(TICKER))
    assert record.type == "quote"
    assert (record.bid_price, record.bid_size) == (104170.7, 5.47575141)
    assert (record.ask_price, record.ask_size) == (104170.8, 0.17344941)
    assert record.last_price == 104170.8
    assert (record.volume, record.vwap, record.change_pct) == (900.90713487, 104149.5, 0.64)
    assert record.date.tzinfo is not None
    assert record.symbol == "BTC/USD"


def test_a_ticker_without_timestamp_is_counted_invalid_not_guessed() -> None:
    proto = protocol()
    frame = orjson.loads(TICKER)
    del frame["data"][0]["timestamp"]
    assert proto.receive(orjson.dumps(frame)) == []
    (invalid,) = proto.take_invalid()
    assert invalid.reason.startswith("date:")


def test_one_bad_item_does_not_drop_the_others() -> None:
    frame = orjson.loads(TRADE)
    frame["data"] = ["oops", {**frame["data"][0], "price": "x"}, frame["data"][0]]
    proto = protocol()
    assert len(only_records(proto.receive(orjson.dumps(frame)))) == 1
    assert len(proto.take_invalid()) == 2


# -- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"feed": "book"}, "'all', 'trade' or 'quote'"),
        ({"asset_type": "stock"}, "'crypto'"),
        ({"symbol": " , "}, "at least one pair"),
        ({"symbol": "*"}, "no wildcard"),
        ({"api_secret": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_parameters_are_refused_with_the_allowed_values(
    values: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment.replace("*", r"\*")):
        KrakenQueryParams.model_validate({"name": "x", "symbol": "btc/usd", **values})
