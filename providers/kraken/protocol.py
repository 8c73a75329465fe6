"""Pure protocol of Kraken's Spot WebSocket v2, public channels `trade` and `ticker`.

Docs: https://docs.kraken.com/exchange/api-reference/spot-websocket (endpoints),
https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/trade,
https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/ticker,
https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/status,
https://docs.kraken.com/api/docs/websocket-v2/heartbeat/,
https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/ping.

No key and no login: the worker subscribes as soon as the socket opens (`ready_on_open`).
One subscribe per channel carries every pair (Kraken documents no cap on pairs per request;
its message rate limit is dynamic and undocumented, answered by "Exceeded msg rate"), so a
burst of N pairs costs at most two messages. Snapshots are not requested: a trade snapshot
would replay the last 50 trades after every reconnect, i.e. store duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import orjson

from ..protocol import (
    Event,
    Heartbeat,
    Info,
    InvalidRecord,
    Message,
    ProviderError,
    ProviderProtocol,
    Records,
)
from ..symbols import canonical_pair, exchange_pair
from .models import CHANNELS, ENDPOINT, KrakenData, KrakenQueryParams

EXCHANGE = "KRAKEN"


class KrakenProtocol(ProviderProtocol[KrakenQueryParams]):
    name: ClassVar[str] = "kraken"
    ready_on_open: ClassVar[bool] = True

    def endpoint(self) -> str:
        return ENDPOINT

    # -- symbology ------------------------------------------------------------------------------

    def canonical_symbol(self, symbol: str) -> str:
        """Any spelling ('btc-usd', 'BTCUSD', 'btc/usd') -> 'BTC/USD'."""
        return canonical_pair(symbol)

    @staticmethod
    def wire_symbol(symbol: str) -> str:
        """Kraken v2's form is the canonical one: 'BTC/USD' (v1 wrote 'XBT/USD')."""
        return exchange_pair(symbol, separator="/")

    # -- client messages -------------------------------------------------------------------------

    def on_open(self, symbols: Sequence[str]) -> list[Message]:
        """Nothing: public channels need no login. The server greets with a `status` update."""
        return []

    def subscribe(self, symbols: Sequence[str]) -> list[Message]:
        """One request per channel, every pair in it::

        {"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"],"snapshot":false}}
        {"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"],
         "event_trigger":"bbo","snapshot":false}}
        """
        return self._requests("subscribe", symbols)

    def unsubscribe(self, symbols: Sequence[str]) -> list[Message]:
        """`{"method":"unsubscribe","params":{"channel":"trade","symbol":["BTC/USD"]}}`."""
        return self._requests("unsubscribe", symbols)

    def _requests(self, method: str, symbols: Sequence[str]) -> list[Message]:
        pairs = [self.wire_symbol(s) for s in symbols]
        if not pairs:
            return []
        messages: list[Message] = []
        for channel in CHANNELS[self.params.feed]:
            params: dict[str, Any] = {"channel": channel, "symbol": pairs}
            if method == "subscribe":
                if channel == "ticker":
                    params["event_trigger"] = "bbo"  # quotes: publish on best bid/offer changes
                params["snapshot"] = False
            messages.append(orjson.dumps({"method": method, "params": params}).decode())
        return messages

    # -- server frames ---------------------------------------------------------------------------

    def receive(self, frame: Message) -> list[Event]:
        parsed = self.decode(frame)
        if isinstance(parsed, ProviderError):
            return [parsed]
        if not isinstance(parsed, dict):
            return [ProviderError(f"unexpected message: {parsed!r}"[:300])]
        if "method" in parsed:
            return [self._reply(parsed)]
        channel = parsed.get("channel")
        if channel == "heartbeat":
            return [Heartbeat()]
        if channel == "status":
            return [self._status(parsed)]
        if channel in ("trade", "ticker") and isinstance(parsed.get("data"), list):
            records = [r for r in (self._record(channel, d) for d in parsed["data"]) if r]
            return [Records(list(records))] if records else []
        return [ProviderError(f"unexpected message: {parsed!r}"[:300])]

    @staticmethod
    def _reply(item: dict[str, Any]) -> Event:
        """Replies to requests, one per pair and channel.

        `{"method":"subscribe","result":{"channel":"ticker","event_trigger":"bbo",
        "snapshot":false,"symbol":"BTC/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z",
        "time_out":"2023-09-25T09:04:31.742648Z"}`
        `{"error":"Currency pair not supported XYZ/USD","method":"subscribe","success":false,
        "symbol":"XYZ/USD","time_in":"...","time_out":"..."}`
        `{"error":"Exceeded msg rate","method":"subscribe","success":false,...}` (rate limit)
        `{"method":"pong","req_id":101,"time_in":"...","time_out":"..."}` (answer to a ping)
        """
        method = str(item.get("method"))
        if method == "pong":
            return Heartbeat()
        result = item.get("result") if isinstance(item.get("result"), dict) else {}
        assert isinstance(result, dict)
        symbol = result.get("symbol") or item.get("symbol") or ""
        channel = result.get("channel") or ""
        what = " ".join(str(part) for part in (method, channel, symbol) if part)
        if item.get("success") is True:
            warnings = item.get("warnings")
            suffix = f" (warnings: {'; '.join(map(str, warnings))})" if warnings else ""
            return Info(f"Kraken: {what} ok{suffix}")
        return ProviderError(f"Kraken {what} failed: {item.get('error') or 'no reason given'}")

    @staticmethod
    def _status(item: dict[str, Any]) -> Event:
        """Sent on connect and when the engine's state changes::

        {"channel":"status","type":"update","data":[{"api_version":"v2",
         "connection_id":13834774380200032777,"system":"online","version":"2.0.0"}]}

        `system` is online, maintenance, cancel_only or post_only. Outside `online` no trade
        happens, but reconnecting would not help, so every state is shown, never acted on.
        """
        data = item.get("data")
        first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        return Info(f"Kraken status: {first.get('system', 'unknown')} (v{first.get('version')})")

    def _record(self, channel: str, item: object) -> KrakenData | None:
        """One element of a `trade` or `ticker` message's `data`.

        Trade (docs sample): `{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD",
        "side":"sell","price":0.5117,"qty":40.0,"ord_type":"market","trade_id":4665906,
        "timestamp":"2023-09-25T07:49:37.708706Z"}]}`
        Ticker: `{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":104170.7,
        "bid_qty":5.47575141,"ask":104170.8,"ask_qty":0.17344941,"last":104170.8,
        "volume":900.90713487,"vwap":104149.5,"low":103023.9,"high":104943.7,"change":666.8,
        "change_pct":0.64,"timestamp":"2025-05-01T12:00:00.123456Z"}]}`. The docs list
        `timestamp` (RFC3339); a 2025 capture in a public client shows none. A ticker without
        it is refused (counted as invalid) rather than stamped with a guessed time.
        """
        if not isinstance(item, dict):
            self.invalid.append(InvalidRecord(f"{channel} data is not an object", item))
            return None
        fields: dict[str, Any] = {"exchange": EXCHANGE, "date": item.get("timestamp")}
        symbol = item.get("symbol")
        fields["symbol"] = canonical_pair(symbol) if isinstance(symbol, str) else symbol
        if channel == "trade":
            fields |= {
                "type": "trade",
                "last_price": item.get("price"),
                "last_size": item.get("qty"),
                "side": item.get("side"),
                "ord_type": item.get("ord_type"),
                "trade_id": item.get("trade_id"),
            }
        else:
            fields |= {
                "type": "quote",
                "bid_price": item.get("bid"),
                "bid_size": item.get("bid_qty"),
                "ask_price": item.get("ask"),
                "ask_size": item.get("ask_qty"),
                "last_price": item.get("last"),
            }
            for name in ("volume", "vwap", "low", "high", "change", "change_pct"):
                fields[name] = item.get(name)
        return self.validate(KrakenData, fields, item)
