"""Pure protocol of Financial Modeling Prep's websockets (stocks, forex, crypto).

Docs: https://site.financialmodelingprep.com/developer/docs/websocket-api (stocks),
https://intelligence.financialmodelingprep.com/developer/docs/forex-websocket (forex),
https://site.financialmodelingprep.com/developer/docs/crypto-websocket (crypto).

The docs give the client messages and the data fields only. The login replies come from
third-party clients (OpenBB `openbb_fmp/utils/websocket_client.py`, fmp-ws clients); the
subscribe acknowledgement and the heartbeat payload are not published anywhere, so they are
handled by `event` name and `status` code, whatever else they carry.
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
from .models import ENDPOINTS, FmpData, FmpQueryParams

TYPES = {"T": "trade", "Q": "quote", "B": "break"}
# Client-side feed filter: FMP streams every event type for a subscribed ticker.
FEED_TYPES = {"trade": frozenset({"trade", "break"}), "quote": frozenset({"quote"})}
OK = 200


class FmpProtocol(ProviderProtocol[FmpQueryParams]):
    name: ClassVar[str] = "fmp"
    arrays_are_batches: ClassVar[bool] = True

    def endpoint(self) -> str:
        return ENDPOINTS[self.params.asset_type]

    # -- symbology ------------------------------------------------------------------------------

    def canonical_symbol(self, symbol: str) -> str:
        """'aapl' -> 'AAPL'; for fx and crypto 'eur/usd' -> 'EURUSD', 'BTC-USD' -> 'BTCUSD'."""
        cleaned = symbol.strip().upper()
        if self.params.asset_type != "stock":
            cleaned = cleaned.replace("/", "").replace("-", "").replace("_", "")
        return cleaned

    def wire_symbol(self, symbol: str) -> str:
        """FMP's form: the docs' examples are all lower case ('aapl', 'eurusd', 'btcusd')."""
        return self.canonical_symbol(symbol).lower()

    # -- client messages -------------------------------------------------------------------------

    def on_open(self, symbols: Sequence[str]) -> list[Message]:
        """`{"event":"login","data":{"apiKey":"KEY"}}`; subscribing waits for the login reply."""
        return [self._message("login", {"apiKey": self.api_key})]

    def subscribe(self, symbols: Sequence[str]) -> list[Message]:
        """`{"event":"subscribe","data":{"ticker":["aapl","msft"]}}`."""
        return [self._message("subscribe", {"ticker": [self.wire_symbol(s) for s in symbols]})]

    def unsubscribe(self, symbols: Sequence[str]) -> list[Message]:
        """`{"event":"unsubscribe","data":{"ticker":["aapl","msft"]}}`."""
        return [self._message("unsubscribe", {"ticker": [self.wire_symbol(s) for s in symbols]})]

    @staticmethod
    def _message(event: str, data: dict[str, Any]) -> str:
        return orjson.dumps({"event": event, "data": data}).decode()

    # -- server frames ---------------------------------------------------------------------------

    def receive(self, frame: Message) -> list[Event]:
        """One JSON object per frame (not an array); a list is accepted all the same."""
        parsed = self.decode(frame)
        if type(parsed) is dict and "s" in parsed and "type" in parsed and "event" not in parsed:
            # The common case, kept short: one trade or quote per frame.
            record = self._record(parsed)
            return [Records([record])] if record is not None and self._wanted(record) else []
        if isinstance(parsed, ProviderError):
            return [parsed]
        events: list[Event] = []
        records: list[FmpData] = []
        for item in parsed if isinstance(parsed, list) else [parsed]:
            if not isinstance(item, dict):
                events.append(ProviderError(f"unexpected message: {item!r}"))
            elif "event" in item:
                events.append(self._control(item))
            elif "s" in item and "type" in item:
                record = self._record(item)
                if record is not None and self._wanted(record):
                    records.append(record)
            else:
                events.append(ProviderError(f"unexpected message: {item!r}"))
        if records:
            events.append(Records(list(records)))
        return events

    def _wanted(self, record: FmpData) -> bool:
        feed = self.params.feed
        return feed == "all" or record.type in FEED_TYPES[feed]

    def _control(self, item: dict[str, Any]) -> Event:
        """Login replies, subscription replies and heartbeats.

        `{"event":"login","status":200,"message":"Authenticated"}`
        `{"event":"login","status":401,"message":"Unauthorized"}`
        `{"event":"login","status":401,"message":"Connected from another location"}` arrives when
        another client logs in with the same key: FMP allows one connection per key, and
        reconnecting would only kick the other client in turn, so it is fatal as well.
        `{"event":"heartbeat","timestamp":1732000000000}` (payload unverified; ignored).
        """
        event = item.get("event")
        status = item.get("status")
        message = str(item.get("message") or "")
        if event == "heartbeat":
            return Heartbeat()
        if event == "login":
            if status == OK:
                return Authorized(f"FMP login: {message or 'Authenticated'}")
            return Unauthorized(message or f"login refused (status {status})")
        if message == "Unauthorized" or "another location" in message:
            return Unauthorized(message)
        if event in ("subscribe", "unsubscribe"):
            # OpenBB treats "you are not authorized" here as a per-ticker refusal, not fatal.
            if status not in (None, OK) or "not authorized" in message.lower():
                return ProviderError(f"{event} refused: {message or status}")
            return Info(message or f"{event}d")
        if status not in (None, OK):
            return ProviderError(f"{event}: {message or status}")
        return Info(f"{event}: {message}" if message else str(event))

    def _record(self, item: dict[str, Any]) -> FmpData | None:
        """A trade, quote or break; fields that do not apply are `null`.

        Stock quote (live capture; `t` in nanoseconds):
        `{"s":"key","t":1689947444488938500,"type":"Q","ap":11.84,"as":400,"bp":11.82,"bs":1000,
        "lp":null,"ls":null}`
        Trade: `{"s":"aapl","t":1689947444488938500,"type":"T","ap":null,"as":null,"bp":null,
        "bs":null,"lp":191.5,"ls":100}`; forex and crypto frames add `"e"` (exchange).
        The docs swap the descriptions of `bp` and `bs`; every client and capture has
        bp = bid price and bs = bid size, which is what we follow.
        """
        # The model reads the wire names (`FmpData`); only values that change are set here.
        kind, symbol, raw_time = item.get("type"), item.get("s"), item.get("t")
        fields = {**item, "type": TYPES.get(kind, kind) if isinstance(kind, str) else kind}
        if isinstance(symbol, str):
            fields["s"] = symbol.upper()
        if type(raw_time) is int:  # not a bool
            fields["timestamp"] = raw_time
        return self.validate(FmpData, fields, item)
