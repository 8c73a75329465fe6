"""Pure protocol of Alpaca's real-time market data stream (stocks v2, crypto v1beta3).

Docs: https://docs.alpaca.markets/docs/streaming-market-data (general, errors, test stream),
https://docs.alpaca.markets/docs/real-time-stock-pricing-data,
https://docs.alpaca.markets/docs/real-time-crypto-pricing-data; message fields as in
alpaca-py (`alpaca/data/mappings.py`, `alpaca/data/live/websocket.py`).

Every server message is a JSON array of objects with a type `T`; JSON is the default
encoding (msgpack only on request)::

    < [{"T":"success","msg":"connected"}]
    > {"action":"auth","key":"KEY_ID","secret":"SECRET"}
    < [{"T":"success","msg":"authenticated"}]
      (or [{"T":"error","code":402,"msg":"auth failed"}])
    > {"action":"subscribe","trades":["AAPL"],"quotes":["AAPL"],"bars":["AAPL"]}
    < [{"T":"subscription","trades":["AAPL"],"quotes":["AAPL"],"bars":["AAPL"]}]
    < [{"T":"t","S":"AAPL","i":96921,"x":"D","p":126.55,"s":1,"t":"2021-02-22T15:51:44.208Z",
        "c":["@","I"],"z":"C"}]
    < [{"T":"q","S":"AMD","bx":"U","bp":87.66,"bs":1,"ax":"Q","ap":87.68,"as":4,
        "t":"2021-02-22T15:51:45.335689322Z","c":["R"],"z":"C"}]
    < [{"T":"b","S":"SPY","o":388.985,"h":389.13,"l":388.975,"c":389.12,"v":49378,
        "t":"2021-02-22T19:15:00Z","n":162,"vw":389.05}]
    > {"action":"unsubscribe","trades":["AAPL"],"quotes":["AAPL"],"bars":["AAPL"]}

Credentials: one string `KEY_ID:SECRET` (see `credentials()`); the secret is sent only in the
auth message and never appears in an event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import orjson

from ..protocol import (
    Authorized,
    Event,
    Info,
    Message,
    ProviderError,
    ProviderProtocol,
    Records,
    Unauthorized,
)
from ..symbols import canonical_pair
from .models import AlpacaData, AlpacaQueryParams

# Wire field -> record field, per message type `T` (alpaca-py mappings.py).
TRADE = {"S": "symbol", "t": "date", "x": "exchange", "p": "last_price", "s": "last_size",
         "i": "trade_id", "c": "conditions", "z": "tape"}  # fmt: skip
QUOTE = {"S": "symbol", "t": "date", "bx": "bid_exchange", "bp": "bid_price", "bs": "bid_size",
         "ax": "ask_exchange", "ap": "ask_price", "as": "ask_size", "c": "conditions",
         "z": "tape"}  # fmt: skip
BAR = {"S": "symbol", "t": "date", "o": "open", "h": "high", "l": "low", "c": "close",
       "v": "volume", "n": "trade_count", "vw": "vwap"}  # fmt: skip
CANCEL = {"S": "symbol", "t": "date", "x": "exchange", "p": "last_price", "s": "last_size",
          "i": "trade_id", "a": "action", "z": "tape"}  # fmt: skip
CORRECTION = {"S": "symbol", "t": "date", "x": "exchange", "oi": "original_trade_id",
              "op": "original_price", "os": "original_size", "oc": "original_conditions",
              "ci": "trade_id", "cp": "last_price", "cs": "last_size", "cc": "conditions",
              "z": "tape"}  # fmt: skip
# T -> (record type, field map, extra fields)
KINDS: dict[str, tuple[str, dict[str, str], dict[str, Any]]] = {
    "t": ("trade", TRADE, {}),
    "q": ("quote", QUOTE, {}),
    "b": ("bar", BAR, {"interval": "minute"}),
    "u": ("bar", BAR, {"interval": "minute", "updated": True}),
    "d": ("bar", BAR, {"interval": "day"}),
    "x": ("cancel", CANCEL, {}),
    "c": ("correction", CORRECTION, {}),
}
# Documented message types this provider never subscribes to.
IGNORED = {"s": "trading status", "l": "LULD band", "o": "order book", "n": "news"}
TAKER_SIDES = {"B": "buy", "S": "sell"}
CRYPTO_VENUES = {"us": "alpaca", "us-1": "kraken", "eu-1": "kraken"}
MESSAGE_BYTES = 16_384  # Alpaca documents no limit; large subscriptions are split anyway.
# Codes whose message means the credentials (or the plan) do not give access: fatal.
REFUSALS = {402, 408, 409}
CONNECTION_LIMIT = 406


def credentials(api_key: str) -> tuple[str, str]:
    """`KEY_ID:SECRET` -> (key id, secret). Alpaca key ids contain no ':'."""
    key, _, secret = api_key.partition(":")
    return key.strip(), secret.strip()


class AlpacaProtocol(ProviderProtocol[AlpacaQueryParams]):
    name: ClassVar[str] = "alpaca"
    # Alpaca frames are arrays of independent messages (trades, quotes, control messages).
    arrays_are_batches: ClassVar[bool] = True

    def endpoint(self) -> str:
        return f"wss://{self.params.host}/{self.params.path}"

    # -- symbology ------------------------------------------------------------------------------

    def canonical_symbol(self, symbol: str) -> str:
        """Stocks upper case (`aapl` -> `AAPL`); crypto `BASE/QUOTE` (`btcusd` -> `BTC/USD`)."""
        if self.params.asset_type == "crypto":
            return canonical_pair(symbol)
        return symbol.strip().upper()

    # Alpaca's own spelling is the canonical one: `AAPL`, `BTC/USD`.
    wire_symbol = canonical_symbol

    # -- client messages -------------------------------------------------------------------------

    def on_open(self, symbols: Sequence[str]) -> list[Message]:
        """`{"action":"auth","key":..,"secret":..}` at once: `receive()` cannot answer the
        `connected` greeting, and Alpaca reads the auth after sending it either way.
        """
        key, secret = credentials(self.api_key)
        return [orjson.dumps({"action": "auth", "key": key, "secret": secret}).decode()]

    def subscribe(self, symbols: Sequence[str]) -> list[Message]:
        return self._action("subscribe", symbols)

    def unsubscribe(self, symbols: Sequence[str]) -> list[Message]:
        return self._action("unsubscribe", symbols)

    def _action(self, action: str, symbols: Sequence[str]) -> list[Message]:
        """`{"action":"subscribe","trades":[..],"quotes":[..],"bars":[..]}`, split so that
        no message exceeds 16 KiB.
        """
        wire = list(dict.fromkeys(self.wire_symbol(s) for s in symbols))
        if not wire:
            return []
        lists = len(self.params.channels)
        per_symbol = lists * (max(len(s) for s in wire) + 3)
        size = max(1, (MESSAGE_BYTES - 100) // per_symbol)
        messages: list[Message] = []
        for start in range(0, len(wire), size):
            chunk = wire[start : start + size]
            body = {"action": action} | {channel: chunk for channel in self.params.channels}
            messages.append(orjson.dumps(body).decode())
        return messages

    # -- server frames ---------------------------------------------------------------------------

    def receive(self, frame: Message) -> list[Event]:
        parsed = self.decode(frame)
        if isinstance(parsed, ProviderError):
            return [parsed]
        events: list[Event] = []
        records: list[AlpacaData] = []
        for item in parsed if isinstance(parsed, list) else [parsed]:
            kind = item.get("T") if isinstance(item, dict) else None
            if not isinstance(kind, str):
                events.append(ProviderError(f"unexpected message: {str(item)[:200]}"))
            elif kind in KINDS:
                record = self._record(kind, item)
                if record is not None:
                    records.append(record)
            else:
                events.append(self._control(kind, item))
        if records:
            events.append(Records(list(records)))
        return events

    def _control(self, kind: str, item: dict[str, Any]) -> Event:
        """`success`, `error`, `subscription` and the message types never subscribed to."""
        message = str(item.get("msg") or "")
        if kind == "success":
            return (
                Authorized("Alpaca: authenticated")
                if message == "authenticated"
                else Info(f"Alpaca: {message}")
            )
        if kind == "error":
            return self._error(item.get("code"), message)
        if kind == "subscription":
            lists = [
                f"{k}: {','.join(map(str, v))}"
                for k, v in item.items()
                if isinstance(v, list) and v
            ]
            return Info(f"Alpaca subscriptions: {'; '.join(lists) or '(none)'}")
        if kind in IGNORED:
            return Info(f"Alpaca {IGNORED[kind]} message ignored: {str(item)[:200]}")
        return ProviderError(f"unexpected message: {str(item)[:200]}")

    def _error(self, code: Any, message: str) -> Event:
        """The documented errors, in Alpaca's words with the code.

        400 invalid syntax, 401 not authenticated, 403 already authenticated, 404 auth timeout
        (the server closes; the reconnect authenticates again), 405 symbol limit exceeded
        (subscriptions unchanged), 407 slow client, 410 invalid subscribe action for this
        feed, 500 internal error: reported, not fatal. 402 auth failed, 408 v2 not enabled,
        409 insufficient subscription: the credentials or the plan refuse this stream, fatal.
        406 connection limit exceeded: another connection with this key already streams from
        this endpoint; reconnecting would be refused the same way, so it is fatal too.
        """
        words = f"{message or 'error'} ({code})"
        if code in REFUSALS:
            hint = {
                402: "check the key id and secret; give them as api_key='KEY_ID:SECRET'",
                409: f"your Alpaca plan does not include source {self.params.source!r}",
            }.get(code)
            if code == 402 and not credentials(self.api_key)[1]:
                hint = "the credential has no secret; give it as api_key='KEY_ID:SECRET'"
            return Unauthorized(f"{words}: {hint}" if hint else words)
        if code == CONNECTION_LIMIT:
            return ProviderError(
                f"{words}: another connection with this key already streams from "
                f"{self.endpoint()}; Alpaca allows one per endpoint on most plans",
                fatal=True,
            )
        return ProviderError(f"Alpaca error {words}")

    def _record(self, kind: str, item: dict[str, Any]) -> AlpacaData | None:
        record_type, mapping, extra = KINDS[kind]
        fields: dict[str, Any] = {mapping[k]: v for k, v in item.items() if k in mapping}
        fields |= {"type": record_type, **extra}
        symbol = fields.get("symbol")
        if isinstance(symbol, str):
            fields["symbol"] = self.canonical_symbol(symbol)
        if isinstance(item.get("t"), str):
            fields["timestamp"] = item["t"]
        if self.params.asset_type == "crypto":
            fields.setdefault("exchange", CRYPTO_VENUES.get(str(self.params.source)))
            if "tks" in item:
                fields["side"] = TAKER_SIDES.get(item["tks"])
        return self.validate(AlpacaData, fields, item)
