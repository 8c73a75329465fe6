"""Pure protocol of the Polygon (Massive) WebSocket API.

Docs: https://polygon.io/docs/websocket/quickstart (now https://massive.com/docs/websocket).
Sources checked: `polygon-io/client-python` (`websocket/__init__.py`, `models/*.py`,
`test_websocket/mock_server.py`, `.polygon/websocket.json`); see docs/providers/polygon.md.

    < [{"ev":"status","status":"connected","message":"Connected Successfully"}]
    > {"action":"auth","params":"KEY"}
    < [{"ev":"status","status":"auth_success","message":"authenticated"}]
    > {"action":"subscribe","params":"T.AAPL,T.MSFT"}
    < [{"ev":"status","status":"success","message":"subscribed to: T.AAPL"}]    (one per topic)
    < [{"ev":"status","status":"success","message":"subscribed to: T.MSFT"}]
    < [{"ev":"T","sym":"AAPL",...},{"ev":"Q","sym":"MSFT",...}]     (frames batch mixed events)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import orjson

from ..protocol import (
    Authorized,
    Event,
    Heartbeat,
    Info,
    Message,
    ProviderError,
    ProviderProtocol,
    Records,
    Unauthorized,
)
from .models import PolygonData, PolygonQueryParams

# Wire field -> record field, per kind of event. Unlisted wire fields are kept as extras.
TRADE = {
    "sym": "symbol", "pair": "symbol", "t": "date", "x": "exchange", "i": "trade_id",
    "z": "tape", "p": "last_price", "s": "last_size", "c": "conditions", "q": "sequence",
    "r": "received",
}  # fmt: skip
QUOTE = {
    "sym": "symbol", "pair": "symbol", "t": "date", "x": "exchange", "bx": "bid_exchange",
    "ax": "ask_exchange", "bp": "bid_price", "bs": "bid_size", "ap": "ask_price",
    "as": "ask_size", "c": "condition", "i": "indicators", "q": "sequence", "z": "tape",
    "r": "received",
}  # fmt: skip
FX_QUOTE = {"p": "symbol", "t": "date", "x": "exchange", "b": "bid_price", "a": "ask_price"}
AGGREGATE = {
    "sym": "symbol", "pair": "symbol", "s": "date", "e": "end", "o": "open", "h": "high",
    "l": "low", "c": "close", "v": "volume", "av": "accumulated_volume",
    "op": "official_open", "vw": "vwap", "a": "day_vwap", "z": "average_size",
}  # fmt: skip
VALUE = {"T": "symbol", "t": "date", "val": "last_price"}

# ev -> (record type, field map, aggregate interval)
EVENTS: dict[str, tuple[str, dict[str, str], str | None]] = {
    "T": ("trade", TRADE, None),
    "XT": ("trade", TRADE, None),
    "Q": ("quote", QUOTE, None),
    "XQ": ("quote", QUOTE, None),
    "C": ("quote", FX_QUOTE, None),
    "A": ("aggregate", AGGREGATE, "second"),
    "CAS": ("aggregate", AGGREGATE, "second"),
    "XAS": ("aggregate", AGGREGATE, "second"),
    "AM": ("aggregate", AGGREGATE, "minute"),
    "CA": ("aggregate", AGGREGATE, "minute"),
    "XA": ("aggregate", AGGREGATE, "minute"),
    "V": ("value", VALUE, None),
}

# Quote currencies recognised at the end of a crypto pair written without a separator.
CRYPTO_QUOTES = ("USDT", "USDC", "USD", "EUR", "GBP", "JPY", "CAD", "AUD", "BTC", "ETH")
PREFIXES = {"options": "O:", "indices": "I:"}


def pair_parts(symbol: str, market: str) -> tuple[str, str] | None:
    """Split 'EURUSD' / 'BTCUSD' into base and quote currencies (None when unsure)."""
    if market == "forex":
        return (symbol[:3], symbol[3:]) if len(symbol) == 6 else None
    for quote in CRYPTO_QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return None


class PolygonProtocol(ProviderProtocol[PolygonQueryParams]):
    name: ClassVar[str] = "polygon"
    arrays_are_batches: ClassVar[bool] = True
    docs_url: ClassVar[str] = "https://polygon.io/docs/websocket/quickstart"

    def endpoint(self) -> str:
        cluster = "delayed" if self.params.asset_type.endswith("_delayed") else "socket"
        return f"wss://{cluster}.{self.params.host}/{self.params.market}"

    def canonical_symbol(self, symbol: str) -> str:
        """The user's form: upper case, no `O:`/`I:` prefix, pairs without a separator."""
        cleaned = symbol.strip().upper()
        market = self.params.market
        prefix = PREFIXES.get(market)
        if prefix and cleaned.startswith(prefix):
            cleaned = cleaned[len(prefix) :]
        if market in ("forex", "crypto"):
            cleaned = cleaned.replace("/", "").replace("-", "")
        return cleaned

    def topic(self, symbol: str) -> str:
        """The wire topic: 'aapl' -> 'T.AAPL', 'eurusd' -> 'C.EUR/USD', 'btcusd' -> 'XT.BTC-USD',
        'spx' -> 'V.I:SPX', options 'O:...'.
        """
        ticker = self.canonical_symbol(symbol)
        market = self.params.market
        if ticker != "*":
            if market in PREFIXES:
                ticker = PREFIXES[market] + ticker
            elif market in ("forex", "crypto") and (parts := pair_parts(ticker, market)):
                ticker = ("/" if market == "forex" else "-").join(parts)
        return f"{self.params.channel}.{ticker}"

    def _action(self, action: str, symbols: Sequence[str]) -> list[Message]:
        topics = ",".join(dict.fromkeys(self.topic(s) for s in symbols))
        return [orjson.dumps({"action": action, "params": topics}).decode()] if topics else []

    def on_open(self, symbols: Sequence[str]) -> list[Message]:
        # The official client reads the `connected` greeting, then authenticates. `receive()`
        # cannot return messages to send, so auth goes out on open; the server reads it after
        # its greeting either way.
        return [orjson.dumps({"action": "auth", "params": self.api_key}).decode()]

    def subscribe(self, symbols: Sequence[str]) -> list[Message]:
        return self._action("subscribe", symbols)

    def unsubscribe(self, symbols: Sequence[str]) -> list[Message]:
        return self._action("unsubscribe", symbols)

    def receive(self, frame: Message) -> list[Event]:
        """Every frame is a JSON array that may mix status and data events."""
        parsed = self.decode(frame)
        if isinstance(parsed, ProviderError):
            return [parsed]
        events: list[Event] = []
        records: list[PolygonData] = []
        for item in parsed if isinstance(parsed, list) else [parsed]:
            kind = item.get("ev") if isinstance(item, dict) else None
            if kind == "status":
                events.append(self.parse_status(item))
            elif isinstance(kind, str) and kind in EVENTS:
                record = self.parse_data(item)
                if record is not None:
                    records.append(record)
            else:
                events.append(ProviderError(f"unexpected message: {item!r}"[:300]))
        if records:
            events.append(Records(list(records)))
        return events

    def parse_data(self, item: dict[str, Any]) -> PolygonData | None:
        """One data event into a record; refused ones go to `self.invalid`.

        {"ev":"T","sym":"MSFT","x":4,"i":"12345","z":3,"p":114.125,"s":100,"c":[0,12],
         "t":1536036818784,"q":3681328}
        {"ev":"Q","sym":"MSFT","bx":4,"bp":114.125,"bs":100,"ax":7,"ap":114.128,"as":160,"c":0,
         "i":[604],"t":1536036818784,"q":50385480,"z":3}
        {"ev":"AM","sym":"GTE","v":4110,"av":9470157,"op":0.4372,"vw":0.4488,"o":0.4488,
         "c":0.4486,"h":0.4489,"l":0.4486,"a":0.4352,"z":685,"s":1610144640000,"e":1610144700000}
        {"ev":"C","p":"USD/CNH","x":"44","a":6.83366,"b":6.83363,"t":1536036818784}
        {"ev":"CA","pair":"USD/EUR","o":0.8687,"c":0.86889,"h":0.86889,"l":0.8686,"v":20,
         "s":1539145740000}
        {"ev":"XT","pair":"BTC-USD","p":33021.9,"t":1610462007425,"s":0.01616617,"c":[2],
         "i":14272084,"x":3,"r":1610462007576}
        {"ev":"XQ","pair":"BTC-USD","bp":33052.79,"bs":0.48,"ap":33073.19,"as":0.601,
         "t":1610462411115,"x":1,"r":1610462411128}
        {"ev":"V","val":3988.5,"T":"I:SPX","t":1678220098130}
        """
        kind, fields, interval = EVENTS[item["ev"]]
        data = {fields.get(key, key): value for key, value in item.items() if key != "ev"}
        data.update(channel=item["ev"], type=kind, interval=interval)
        return self.validate(PolygonData, data, item)

    @staticmethod
    def parse_status(item: dict[str, Any]) -> Event:
        """A status event: connection, auth and subscription replies.

        {"ev":"status","status":"connected","message":"Connected Successfully"}
        {"ev":"status","status":"auth_success","message":"authenticated"}
        {"ev":"status","status":"auth_failed","message":"authentication failed"}
        {"ev":"status","status":"success","message":"subscribed to: T.AAPL"}
        {"ev":"status","status":"error","message":"not authorized"}
        {"ev":"status","status":"max_connections","message":"Maximum number of websocket
         connections exceeded. You have reached the connection limit for your account. ..."}
        """
        status = item.get("status")
        message = str(item.get("message", ""))
        if status == "connected":
            return Heartbeat()  # the worker already reports the open connection
        if status == "auth_success":
            return Authorized()
        if status == "auth_failed":
            # Also a key whose plan lacks websocket access ("Your plan doesn't include ...").
            return Unauthorized(message or "authentication failed")
        if status == "max_connections":
            # The server drops the older connection; reconnecting would evict the other one.
            return ProviderError(message or "max_connections", fatal=True)
        if status in ("error", "auth_timeout"):
            return ProviderError(message or str(status))
        return Info(message or str(status))
