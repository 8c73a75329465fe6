"""Pure protocol of OKX's API v5 public WebSocket, channels `trades` and `tickers`.

Docs: https://www.okx.com/docs-v5/en/#overview-websocket (connect, limits, ping/pong, notices),
https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-trades-channel,
https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-tickers-channel.
The same overview text is published at https://web3.okx.com/onchainos/dev-docs-v5/dex-api/dex-websocket.

No key and no login for public channels; the worker subscribes as soon as the socket opens.
Limits per connection: 480 subscribe/unsubscribe/login requests an hour (a token bucket, full at
connect; a request with many `args` costs one token), 3 connection attempts a second per IP. So
every instrument and channel goes into one request, split only past `MAX_ARGS` arguments to
keep a request far below OKX's request size limit (64 KB, per OKX's docs; unverified offline).

Keep-alive: OKX closes a connection that has received nothing for 30 s; the client sends the
text `ping` every N < 30 s and gets the text `pong`. The worker sends it every
`keepalive_seconds` (default 20). Service upgrades are announced 30 s ahead with notice 64008,
which becomes a `Reconnect`.
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
from .models import CHANNELS, ENDPOINT, OkxData, OkxQueryParams

EXCHANGE = "OKX"
PING = "ping"
PONG = "pong"
MAX_ARGS = 500
SERVICE_UPGRADE = "64008"


class OkxProtocol(ProviderProtocol[OkxQueryParams]):
    name: ClassVar[str] = "okx"
    ready_on_open: ClassVar[bool] = True

    def __init__(self, params: OkxQueryParams, api_key: str | None) -> None:
        super().__init__(params, api_key)
        # The worker reads the interval from the instance: OKX leaves N < 30 s to the client.
        self.keepalive_interval = params.keepalive_seconds
        # instId -> newest ticker `ts` stored: the first push after a (re)subscribe restates it.
        self._newest_ticker: dict[str, int] = {}

    def endpoint(self) -> str:
        return ENDPOINT

    # -- symbology ------------------------------------------------------------------------------

    def canonical_symbol(self, symbol: str) -> str:
        """Any spelling ('btc-usdt', 'BTCUSDT', 'btc/usdt') -> 'BTC/USDT'; other instIds
        ('BTC-USDT-SWAP') are kept as written, in upper case."""
        return canonical_pair(symbol)

    @staticmethod
    def wire_symbol(symbol: str) -> str:
        """OKX instId: 'BTC-USDT'."""
        return exchange_pair(symbol, separator="-")

    # -- client messages -------------------------------------------------------------------------

    def on_open(self, symbols: Sequence[str]) -> list[Message]:
        """Nothing: public channels need no login."""
        return []

    def keepalive(self) -> list[Message]:
        """The text `ping` (not JSON); the server answers with the text `pong`."""
        return [PING]

    def subscribe(self, symbols: Sequence[str]) -> list[Message]:
        """`{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"},
        {"channel":"tickers","instId":"BTC-USDT"}]}`."""
        return self._requests("subscribe", symbols)

    def unsubscribe(self, symbols: Sequence[str]) -> list[Message]:
        """`{"op":"unsubscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}`."""
        return self._requests("unsubscribe", symbols)

    def _requests(self, op: str, symbols: Sequence[str]) -> list[Message]:
        args = [
            {"channel": channel, "instId": self.wire_symbol(symbol)}
            for channel in CHANNELS[self.params.feed]
            for symbol in symbols
        ]
        return [
            orjson.dumps({"op": op, "args": args[start : start + MAX_ARGS]}).decode()
            for start in range(0, len(args), MAX_ARGS)
        ]

    # -- server frames ---------------------------------------------------------------------------

    def receive(self, frame: Message) -> list[Event]:
        if frame in (PONG, PONG.encode()):
            return [Heartbeat()]
        parsed = self.decode(frame)
        if isinstance(parsed, ProviderError):
            return [parsed]
        if not isinstance(parsed, dict):
            return [ProviderError(f"unexpected message: {parsed!r}"[:300])]
        if "event" in parsed:
            return [self._event(parsed)]
        arg, data = parsed.get("arg"), parsed.get("data")
        channel = arg.get("channel") if isinstance(arg, dict) else None
        if channel in ("trades", "tickers") and isinstance(data, list):
            records = [r for r in (self._record(channel, item) for item in data) if r]
            return [Records(list(records))] if records else []
        return [ProviderError(f"unexpected message: {parsed!r}"[:300])]

    @staticmethod
    def _event(item: dict[str, Any]) -> Event:
        """Replies and notices.

        `{"event":"subscribe","arg":{"channel":"tickers","instId":"BTC-USDT"},"connId":"accb8e21"}`
        `{"event":"unsubscribe","arg":{"channel":"tickers","instId":"BTC-USDT"},"connId":"..."}`
        `{"event":"error","code":"60018","msg":"Wrong URL or channel:tickers,instId:FOO-BAR
        doesn't exist. Please use the correct URL, channel and parameters referring to API
        document.","connId":"a4d3ae55"}` (60012 for a malformed request, 60014 requests too
        frequent); errors are reported, never fatal: the other instruments keep streaming.
        `{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service
        upgrade. Please reconnect.","connId":"a4d3ae55"}` -> Reconnect.
        `{"event":"channel-conn-count","channel":"orders","connCount":"2","connId":"..."}` -> Info.
        """
        event = str(item.get("event"))
        code = str(item.get("code") or "")
        message = str(item.get("msg") or "")
        if event == "error":
            return ProviderError(f"OKX error {code}: {message}".rstrip(": "))
        if event == "notice" and code == SERVICE_UPGRADE:
            return Reconnect(f"OKX notice {code}: {message}")
        arg = item.get("arg")
        if event in ("subscribe", "unsubscribe") and isinstance(arg, dict):
            return Info(f"OKX: {event} {arg.get('channel')} {arg.get('instId')} ok")
        detail = f" {code}" if code else ""
        return Info(f"OKX {event}{detail}: {message or orjson.dumps(item).decode()[:200]}")

    def _record(self, channel: str, item: object) -> OkxData | None:
        """One element of a push's `data`; every number arrives as a string.

        Trade (docs): `{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":
        "BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy",
        "ts":"1630048897897","count":"3"}]}`
        Ticker (docs): `{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instType":
        "SPOT","instId":"BTC-USDT","last":"9999.99","lastSz":"0.1","askPx":"9999.99",
        "askSz":"11","bidPx":"8888.88","bidSz":"5","open24h":"9000","high24h":"10000",
        "low24h":"8888.88","volCcy24h":"2222","vol24h":"2222","sodUtc0":"2222",
        "sodUtc8":"2222","ts":"1597026383085"}]}`
        """
        if not isinstance(item, dict):
            return self.validate(OkxData, {}, item)
        inst = item.get("instId")
        fields: dict[str, Any] = {
            "date": item.get("ts"),
            "symbol": canonical_pair(inst) if isinstance(inst, str) else inst,
            "exchange": EXCHANGE,
        }
        if channel == "trades":
            fields |= {
                "type": "trade",
                "last_price": item.get("px"),
                "last_size": item.get("sz"),
                "side": item.get("side"),
                "trade_id": item.get("tradeId"),
            }
            return self.validate(OkxData, fields, item)
        fields |= {
            "type": "quote",
            "bid_price": item.get("bidPx"),
            "bid_size": item.get("bidSz"),
            "ask_price": item.get("askPx"),
            "ask_size": item.get("askSz"),
            "last_price": item.get("last"),
            "last_size": item.get("lastSz"),
            "open_24h": item.get("open24h"),
            "high_24h": item.get("high24h"),
            "low_24h": item.get("low24h"),
            "volume_24h": item.get("vol24h"),
        }
        stamp = item.get("ts")
        restated = (
            isinstance(inst, str)
            and isinstance(stamp, str)
            and stamp.isdigit()
            and int(stamp) <= self._newest_ticker.get(inst, -1)
        )
        if restated:
            return None  # the first push after a (re)subscribe restates a stored ticker
        record = self.validate(OkxData, fields, item)
        if record is not None and isinstance(inst, str) and isinstance(stamp, str):
            self._newest_ticker[inst] = int(stamp) if stamp.isdigit() else -1
        return record
