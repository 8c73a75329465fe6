"""Pure protocol of Bitstamp's WebSocket API v2 (public channels, keyless).

Docs: https://www.bitstamp.net/websocket/v2/ (the official page could not be fetched here; its
text was read from mirrors of it and from clients quoting it: cryptofeed `bitstamp.py`,
skip-mev/slinky `providers/websockets/bitstamp`, crypto-ws-client `bitstamp.rs`).

One JSON object per frame, both ways; one subscribe message per channel::

    > {"event":"bts:subscribe","data":{"channel":"live_trades_btcusd"}}
    < {"event":"bts:subscription_succeeded","channel":"live_trades_btcusd","data":{}}
    < {"event":"trade","channel":"live_trades_btcusd","data":{"id":93215787,
       "timestamp":"1562650233","microtimestamp":"1562650233964229","amount":0.01414016,
       "amount_str":"0.01414016","price":12700.0,"price_str":"12700.00","type":1,
       "buy_order_id":3709484695,"sell_order_id":3709484799}}
    < {"event":"data","channel":"order_book_btcusd","data":{"timestamp":"1643643584",
       "microtimestamp":"1643643584684047","bids":[["38416","0.05"],...],"asks":[[...],...]}}
    > {"event":"bts:heartbeat"}                      (every `keepalive_interval` seconds)
    < {"event":"bts:heartbeat","channel":"","data":{"status":"success"}}
    < {"event":"bts:request_reconnect","channel":"","data":""}       (-> reconnect)
    < {"event":"bts:error","channel":"","data":{"code":null,"message":"Incorrect JSON format."}}
    > {"event":"bts:unsubscribe","data":{"channel":"live_trades_btcusd"}}
    < {"event":"bts:unsubscription_succeeded","channel":"live_trades_btcusd","data":{}}

"After you receive this request [bts:request_reconnect], you will have a few seconds to
reconnect. Without doing so, you will automatically be disconnected." Maximum connection age:
90 days. `order_book_[pair]` carries the top 100 levels on every change; a quote record is
made only when the best bid or ask (price or amount) changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import orjson

from ..protocol import (
    Event,
    Heartbeat,
    Info,
    Message,
    ProviderError,
    ProviderProtocol,
    Reconnect,
    Records,
)
from ..symbols import canonical_pair, exchange_pair
from .models import ENDPOINT, BitstampData, BitstampQueryParams

SIDES = {0: "buy", 1: "sell"}
ACKS = {
    "bts:subscription_succeeded": "subscribed to",
    "bts:unsubscription_succeeded": "unsubscribed from",
    "bts:connection_established": "connection established",
}


class BitstampProtocol(ProviderProtocol[BitstampQueryParams]):
    name: ClassVar[str] = "bitstamp"
    ready_on_open: ClassVar[bool] = True
    # Bitstamp sets no interval for its heartbeat; 10 s is what crypto-ws-client sends.
    keepalive_interval: float | None = 10.0

    def __init__(self, params: BitstampQueryParams, api_key: str | None) -> None:
        super().__init__(params, api_key)
        self._tops: dict[str, tuple[Any, ...]] = {}

    def endpoint(self) -> str:
        return ENDPOINT

    # -- symbology ------------------------------------------------------------------------------

    def canonical_symbol(self, symbol: str) -> str:
        """Any spelling of a pair -> `BASE/QUOTE` (`btcusd`, `BTC-USD` -> `BTC/USD`)."""
        return canonical_pair(symbol)

    def wire_symbol(self, symbol: str) -> str:
        """Bitstamp's form: lower case, no separator (`BTC/USD` -> `btcusd`)."""
        return exchange_pair(symbol, separator="", lower=True)

    def channels(self, symbols: Sequence[str]) -> list[str]:
        names = (f"{c}_{self.wire_symbol(s)}" for s in symbols for c in self.params.channels)
        return list(dict.fromkeys(names))

    # -- client messages -------------------------------------------------------------------------

    def on_open(self, symbols: Sequence[str]) -> list[Message]:
        """No login: subscriptions follow at once (the worker treats the socket as ready)."""
        self._tops.clear()
        return []

    def subscribe(self, symbols: Sequence[str]) -> list[Message]:
        """`{"event":"bts:subscribe","data":{"channel":"live_trades_btcusd"}}`, one per channel."""
        return [self._message("bts:subscribe", c) for c in self.channels(symbols)]

    def unsubscribe(self, symbols: Sequence[str]) -> list[Message]:
        """`{"event":"bts:unsubscribe","data":{"channel":"live_trades_btcusd"}}`, one each."""
        return [self._message("bts:unsubscribe", c) for c in self.channels(symbols)]

    def keepalive(self) -> list[Message]:
        """`{"event":"bts:heartbeat"}`: Bitstamp answers it with a heartbeat of its own."""
        return [orjson.dumps({"event": "bts:heartbeat"}).decode()]

    @staticmethod
    def _message(event: str, channel: str) -> str:
        return orjson.dumps({"event": event, "data": {"channel": channel}}).decode()

    # -- server frames ---------------------------------------------------------------------------

    def receive(self, frame: Message) -> list[Event]:
        parsed = self.decode(frame)
        if isinstance(parsed, ProviderError):
            return [parsed]
        events: list[Event] = []
        records: list[BitstampData] = []
        for item in parsed if isinstance(parsed, list) else [parsed]:
            if not isinstance(item, dict) or not isinstance(item.get("event"), str):
                events.append(ProviderError(f"unexpected message: {str(item)[:200]}"))
                continue
            event = self._event(item, records)
            if event is not None:
                events.append(event)
        if records:
            events.append(Records(list(records)))
        return events

    def _event(self, item: dict[str, Any], records: list[BitstampData]) -> Event | None:
        event, channel = item["event"], str(item.get("channel") or "")
        data = item.get("data")
        if event == "trade" and channel.startswith("live_trades_"):
            record = self._trade(channel, data)
        elif event == "data" and channel.startswith("order_book_"):
            record = self._quote(channel, data)
        elif event == "bts:heartbeat":
            return Heartbeat()
        elif event == "bts:request_reconnect":
            return Reconnect("Bitstamp requested a reconnect (bts:request_reconnect)")
        elif event == "bts:error":
            return ProviderError(f"Bitstamp error: {self._error_text(data)}")
        elif event in ACKS:
            return Info(f"Bitstamp {ACKS[event]} {channel}".rstrip())
        else:
            return ProviderError(f"unexpected message: {str(item)[:200]}")
        if record is not None:
            records.append(record)
        return None

    @staticmethod
    def _error_text(data: Any) -> str:
        """`{"code":null,"message":"Incorrect JSON format."}` -> the message (and code)."""
        if not isinstance(data, dict):
            return str(data)
        code = data.get("code")
        message = str(data.get("message") or "unknown error")
        return f"{message} (code {code})" if code is not None else message

    @staticmethod
    def _symbol(channel: str) -> str:
        return canonical_pair(channel.rsplit("_", 1)[-1])

    def _trade(self, channel: str, data: Any) -> BitstampData | None:
        """`live_trades_[pair]` `trade`: price and amount come as numbers and as strings;
        the strings are used (exact). `type` 0 is a buy, 1 a sell (the taker's side).
        """
        if not isinstance(data, dict):
            data = {}
        fields = {
            "type": "trade",
            "symbol": self._symbol(channel),
            "exchange": "bitstamp",
            "date": data.get("microtimestamp", data.get("timestamp")),
            "last_price": data.get("price_str", data.get("price")),
            "last_size": data.get("amount_str", data.get("amount")),
            "trade_id": data.get("id"),
            "side": SIDES.get(data.get("type")),
            "buy_order_id": data.get("buy_order_id"),
            "sell_order_id": data.get("sell_order_id"),
            "timestamp": data.get("microtimestamp"),
        }
        return self.validate(BitstampData, fields, data)

    def _quote(self, channel: str, data: Any) -> BitstampData | None:
        """`order_book_[pair]` `data`: `bids`/`asks` are `[price, amount]` string pairs, best
        first. None when the best levels did not change since the last message (or the book
        is empty).
        """
        if not isinstance(data, dict):
            data = {}
        bids, asks = data.get("bids"), data.get("asks")
        bid = bids[0] if isinstance(bids, list) and bids else [None, None]
        ask = asks[0] if isinstance(asks, list) and asks else [None, None]
        symbol = self._symbol(channel)
        top = (*bid[:2], *ask[:2])
        if self._tops.get(symbol) == top or (bid[0] is None and ask[0] is None):
            return None
        self._tops[symbol] = top
        fields = {
            "type": "quote",
            "symbol": symbol,
            "exchange": "bitstamp",
            "date": data.get("microtimestamp", data.get("timestamp")),
            "bid_price": bid[0],
            "bid_size": bid[1] if len(bid) > 1 else None,
            "ask_price": ask[0],
            "ask_size": ask[1] if len(ask) > 1 else None,
            "timestamp": data.get("microtimestamp"),
        }
        return self.validate(BitstampData, fields, data)
