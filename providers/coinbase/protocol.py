"""Pure protocol of the Coinbase Exchange WebSocket feed, keyless channels `matches` and `ticker`.

Docs: https://docs.cdp.coinbase.com/exchange/websocket-feed/overview (subscribe, 5-second
rule), https://docs.cdp.coinbase.com/exchange/websocket-feed/channels (messages),
https://docs.cdp.coinbase.com/exchange/websocket-feed/rate-limits (limits),
https://docs.cdp.coinbase.com/exchange/websocket-feed/authentication (which channels need keys).

The server closes a connection that has not subscribed within 5 seconds, so the protocol is
`ready_on_open`: the worker subscribes the moment the socket opens. One subscribe message
carries every product and both channels (limits: 100 client messages/s and 8 requests/s per IP,
10 subscriptions per product and channel), so a burst of N products costs one message.

A subscribe naming one unknown product fails whole ("Failed to subscribe"); the protocol reports
it and the connection keeps streaming what it had. Trades repeat across reconnects (`last_match`
and the ticker's first message restate the newest trade): records are kept only when their
`trade_id` is newer than the last one stored for that product and channel.
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
    Records,
)
from ..symbols import canonical_pair, exchange_pair
from .models import CHANNELS, ENDPOINT, CoinbaseData, CoinbaseQueryParams

EXCHANGE = "COINBASE"
TRADE_TYPES = frozenset({"match", "last_match"})


class CoinbaseProtocol(ProviderProtocol[CoinbaseQueryParams]):
    name: ClassVar[str] = "coinbase"
    ready_on_open: ClassVar[bool] = True

    def __init__(self, params: CoinbaseQueryParams, api_key: str | None) -> None:
        super().__init__(params, api_key)
        # (channel kind, product) -> newest trade_id stored: drops repeats after reconnects.
        self._newest: dict[tuple[str, str], int] = {}

    def endpoint(self) -> str:
        return ENDPOINT

    # -- symbology ------------------------------------------------------------------------------

    def canonical_symbol(self, symbol: str) -> str:
        """Any spelling ('btc-usd', 'BTCUSD', 'btc/usd') -> 'BTC/USD'."""
        return canonical_pair(symbol)

    @staticmethod
    def wire_symbol(symbol: str) -> str:
        """Coinbase product ids: 'BTC-USD'."""
        return exchange_pair(symbol, separator="-")

    # -- client messages -------------------------------------------------------------------------

    def on_open(self, symbols: Sequence[str]) -> list[Message]:
        """Nothing: no login. `on_authorized` subscribes at once (the 5-second rule)."""
        return []

    def subscribe(self, symbols: Sequence[str]) -> list[Message]:
        """`{"type":"subscribe","product_ids":["BTC-USD"],"channels":["matches","ticker"]}`."""
        return self._request("subscribe", symbols)

    def unsubscribe(self, symbols: Sequence[str]) -> list[Message]:
        """`{"type":"unsubscribe","product_ids":["BTC-USD"],"channels":["matches","ticker"]}`."""
        return self._request("unsubscribe", symbols)

    def _request(self, kind: str, symbols: Sequence[str]) -> list[Message]:
        products = [self.wire_symbol(s) for s in symbols]
        if not products:
            return []
        channels = list(CHANNELS[self.params.feed])
        message = {"type": kind, "product_ids": products, "channels": channels}
        return [orjson.dumps(message).decode()]

    # -- server frames ---------------------------------------------------------------------------

    def receive(self, frame: Message) -> list[Event]:
        parsed = self.decode(frame)
        if isinstance(parsed, ProviderError):
            return [parsed]
        if not isinstance(parsed, dict) or not isinstance(parsed.get("type"), str):
            return [ProviderError(f"unexpected message: {parsed!r}"[:300])]
        kind = parsed["type"]
        if kind in TRADE_TYPES or kind == "ticker":
            record = self._record(parsed)
            return [Records([record])] if record is not None else []
        if kind == "heartbeat":
            return [Heartbeat()]
        if kind == "subscriptions":
            return [self._subscriptions(parsed)]
        if kind == "error":
            # {"type":"error","message":"Failed to subscribe",
            #  "reason":"GIBBERISH-USD is not a valid product"}
            reason = parsed.get("reason")
            detail = f"{parsed.get('message')}: {reason}" if reason else parsed.get("message")
            return [ProviderError(f"Coinbase: {detail}")]
        return [Info(f"Coinbase {kind} message")]

    @staticmethod
    def _subscriptions(item: dict[str, Any]) -> Event:
        """The full current subscription list, after every subscribe and unsubscribe::

        {"type":"subscriptions","channels":[{"name":"matches","product_ids":["BTC-USD","ETH-USD"]}]}
        """
        channels = item.get("channels")
        parts = []
        for channel in channels if isinstance(channels, list) else []:
            if isinstance(channel, dict):
                products = channel.get("product_ids") or []
                parts.append(f"{channel.get('name')}: {','.join(map(str, products)) or '-'}")
        return Info(f"Coinbase subscriptions: {'; '.join(parts) or 'none'}")

    def _record(self, item: dict[str, Any]) -> CoinbaseData | None:
        """A match or a ticker.

        Match (docs): `{"type":"match","trade_id":10,"sequence":50,
        "maker_order_id":"ac928c66-ca53-498f-9c13-a110027a60e8",
        "taker_order_id":"132fb6ae-456b-4654-b4e0-d681ac05cea1",
        "time":"2014-11-07T08:19:27.028459Z","product_id":"BTC-USD","size":"5.23512",
        "price":"400.23","side":"sell"}`; `last_match` (same fields) comes first after subscribing.
        Ticker (docs): `{"type":"ticker","sequence":37475248783,"product_id":"ETH-USD",
        "price":"1285.22","open_24h":"1310.79","volume_24h":"245532.79269678",
        "low_24h":"1280.52","high_24h":"1313.8","volume_30d":"9788783.60117027",
        "best_bid":"1285.04","best_bid_size":"0.46688654","best_ask":"1285.27",
        "best_ask_size":"1.56637040","side":"buy","time":"2022-10-19T23:28:22.061769Z",
        "trade_id":370843401,"last_size":"11.4396987"}`. Numbers arrive as strings.
        """
        product = item.get("product_id")
        trade_id = item.get("trade_id")
        ticker = item["type"] == "ticker"
        if isinstance(product, str) and isinstance(trade_id, int):
            key = ("ticker" if ticker else "match", product)
            if trade_id <= self._newest.get(key, -1):
                return None  # a trade restated after a (re)subscribe, already stored
        fields: dict[str, Any] = {
            "date": item.get("time"),
            "symbol": canonical_pair(product) if isinstance(product, str) else product,
            "type": "quote" if ticker else "trade",
            "exchange": EXCHANGE,
            "side": item.get("side"),
            "trade_id": trade_id,
            "sequence": item.get("sequence"),
        }
        if ticker:
            fields |= {
                "last_price": item.get("price"),
                "last_size": item.get("last_size"),
                "bid_price": item.get("best_bid"),
                "bid_size": item.get("best_bid_size"),
                "ask_price": item.get("best_ask"),
                "ask_size": item.get("best_ask_size"),
            }
            fields |= {name: item.get(name) for name in ("open_24h", "high_24h", "low_24h")}
            fields["volume_24h"] = item.get("volume_24h")
        else:
            fields |= {"last_price": item.get("price"), "last_size": item.get("size")}
        record = self.validate(CoinbaseData, fields, item)
        if record is not None and isinstance(product, str) and isinstance(trade_id, int):
            self._newest[("ticker" if ticker else "match", product)] = trade_id
        return record
