"""Pure protocol of Tiingo's firehose WebSockets (IEX stocks, FX, crypto).

Docs: https://www.tiingo.com/documentation/websockets/iex, .../websockets/forex,
.../websockets/crypto. There is no login step: the token rides in every request, and the
first `I` reply (carrying `data.subscriptionId`) is what proves it was accepted. Later
changes on the same connection name that subscriptionId::

    > {"eventName":"subscribe","authorization":"KEY","eventData":{"thresholdLevel":5,"tickers":["spy"]}}
    < {"messageType":"I","data":{"subscriptionId":13706},"response":{"code":200,"message":"Success"}}
    > {"eventName":"unsubscribe","authorization":"KEY","eventData":{"subscriptionId":13706,"tickers":["spy"]}}
    < {"data":{"tickers":["uso"],"thresholdLevel":"0"},"messageType":"I","response":{"code":200,"message":"Success"}}
    < {"messageType":"H","response":{"code":200,"message":"HeartBeat"}}
    < {"response":{"code":403,"message":"Not authorized for service: boats"},"messageType":"E"}
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson

from ..protocol import (
    Authorized,
    Event,
    Heartbeat,
    Info,
    InvalidRecord,
    Message,
    ProviderError,
    ProviderProtocol,
    Records,
    Unauthorized,
)
from .models import TiingoData, TiingoQueryParams

BASE_URL = "wss://api.tiingo.com"
KINDS = {"T": "trade", "Q": "quote", "B": "break"}
# Positional arrays, keyed by (service, array length). None marks a field that is dropped.
# IEX levels 0/5: 16 fields; the flags are halted, afterHours, ISO, oddlot, nmsRule611.
IEX_TOPS = (
    "type", "date", "timestamp", "symbol", "bid_size", "bid_price", "mid_price",
    "ask_price", "ask_size", "last_price", "last_size", "halted", "after_hours",
    "intermarket_sweep", "oddlot", "nms_rule_611",
)  # fmt: skip
# FX: the docs' index table says askPrice=6, askSize=7, but their own example proves the
# opposite (mid 9.678135 = (9.6764 + 9.67987) / 2 puts askPrice at 7): we follow the example.
FX_QUOTE = (
    "type", "symbol", "date", "bid_size", "bid_price", "mid_price", "ask_size", "ask_price",
)  # fmt: skip
CRYPTO_TRADE = ("type", "symbol", "date", "exchange", "last_size", "last_price")
CRYPTO_QUOTE = (
    "type", "symbol", "date", "exchange", "bid_size", "bid_price", "mid_price", "ask_size",
    "ask_price",
)  # fmt: skip
FIELDS: dict[tuple[str, int], tuple[str, ...]] = {
    ("iex", 16): IEX_TOPS,
    ("iex", 3): ("date", "symbol", "mid_price"),  # level 6: reference price, no type letter
    ("fx", 8): FX_QUOTE,
    ("crypto_data", 6): CRYPTO_TRADE,
    ("crypto_data", 9): CRYPTO_QUOTE,
}
# Client-side filter of the `trade` and `quote` feeds (trade breaks belong to trades).
FEED_TYPES = {"trade": ("trade", "break"), "quote": ("quote",)}
SEPARATORS = str.maketrans("", "", "/-_ ")


class TiingoProtocol(ProviderProtocol[TiingoQueryParams]):
    name: ClassVar[str] = "tiingo"
    subscribes_before_authorized: ClassVar[bool] = True

    def __init__(self, params: TiingoQueryParams, api_key: str | None) -> None:
        super().__init__(params, api_key)
        self.subscription_id: int | None = None
        self._opened: list[str] = []  # tickers of this connection's first subscribe

    def endpoint(self) -> str:
        return f"{BASE_URL}/{self.params.service}"

    def url(self) -> str:
        """The `url` override; one without a path gets the service path (`/iex`, ...)."""
        url = self.params.url
        if url is None:
            return self.endpoint()
        if urlsplit(url).path in ("", "/"):
            return f"{url.rstrip('/')}/{self.params.service}"
        return url

    def canonical_symbol(self, symbol: str) -> str:
        """`SPY`, `EURUSD`, `BTCUSD`: upper case; fx/crypto drop separators (`EUR/USD`)."""
        cleaned = symbol.strip().upper()
        return cleaned if self.params.asset_type == "stock" else cleaned.translate(SEPARATORS)

    def _tickers(self, symbols: Sequence[str]) -> list[str]:
        return [self.canonical_symbol(s).lower() for s in symbols]

    def _request(self, event: str, data: dict[str, Any]) -> str:
        payload = {"eventName": event, "authorization": self.api_key, "eventData": data}
        return orjson.dumps(payload).decode()

    def on_open(self, symbols: Sequence[str]) -> list[Message]:
        """A new subscription carrying the token: it is the authorization request too."""
        self.subscription_id = None
        self._opened = [self.canonical_symbol(s) for s in symbols]
        if not symbols:  # no tickers would mean the whole firehose
            return []
        data = {"thresholdLevel": self.params.threshold_level, "tickers": self._tickers(symbols)}
        return [self._request("subscribe", data)]

    def on_authorized(self, symbols: Sequence[str]) -> list[Message]:
        """Catch up with changes made between the opening subscribe and its `I` reply."""
        wanted = [self.canonical_symbol(s) for s in symbols]
        added = [s for s in wanted if s not in self._opened]
        removed = [s for s in self._opened if s not in wanted]
        return self.subscribe(added) + self.unsubscribe(removed)

    def _change(self, event: str, symbols: Sequence[str]) -> list[Message]:
        if self.subscription_id is None and not self._opened and event == "subscribe":
            # Opened with no tickers (all were unsubscribed): this subscribe authorizes.
            return self.on_open(symbols)
        if self.subscription_id is None or not symbols:
            return []  # before the `I` reply nothing is sent; on_authorized catches up
        data = {"subscriptionId": self.subscription_id, "tickers": self._tickers(symbols)}
        return [self._request(event, data)]

    def subscribe(self, symbols: Sequence[str]) -> list[Message]:
        return self._change("subscribe", symbols)

    def unsubscribe(self, symbols: Sequence[str]) -> list[Message]:
        return self._change("unsubscribe", symbols)

    def receive(self, frame: Message) -> list[Event]:
        message = self.decode(frame)
        if isinstance(message, ProviderError):
            return [message]
        if not isinstance(message, dict):
            return [ProviderError(f"unexpected message: {message!r}")]
        kind = message.get("messageType")
        if kind == "A":
            return self._data(message)
        if kind == "H":
            return [Heartbeat()]
        if kind == "I":
            return [self._info(message)]
        if kind == "E":
            return [self._error(message)]
        if kind in ("U", "D"):  # documented (update/delete) but never observed
            return [Info(f"ignored messageType {kind}: {str(message)[:200]}")]
        return [ProviderError(f"unexpected message: {str(message)[:200]}")]

    def _info(self, message: dict[str, Any]) -> Event:
        """`{"messageType":"I","data":{"subscriptionId":13706},"response":{"code":200,...}}`

        or, after a change:
        `{"data":{"tickers":["uso"],"thresholdLevel":"0"},"messageType":"I",...}`
        """
        data = _object(message.get("data"))
        if self.subscription_id is None and isinstance(data.get("subscriptionId"), int):
            self.subscription_id = data["subscriptionId"]
            return Authorized(f"Authorization: Success (subscriptionId {self.subscription_id})")
        if "tickers" in data:
            tickers = ",".join(str(t).upper() for t in data["tickers"] or [])
            return Info(f"subscribed to: {tickers or '(none)'}")
        return Info(str(_object(message.get("response")).get("message", message))[:200])

    def _error(self, message: dict[str, Any]) -> Event:
        """`{"response":{"code":403,"message":"Not authorized for service: boats"},
        "messageType":"E"}` (a live capture).

        Before the first `I`, 401/403 is a refused token and anything else a refused
        subscription (e.g. `{"code":400,"message":"thresholdLevel not valid"}`): both fatal.
        """
        response = _object(message.get("response"))
        code, text = response.get("code"), str(response.get("message") or "error")
        if self.subscription_id is None:
            if code in (401, 403):
                return Unauthorized(text)
            return ProviderError(f"subscription refused ({code}): {text}", fatal=True)
        return ProviderError(f"{code}: {text}")

    def _data(self, message: dict[str, Any]) -> list[Event]:
        """`{"messageType":"A","service":"fx","data":["Q","eurnok","2019-07-05T15:49:15.157000+00:00",
        5000000.0,9.6764,9.678135,5000000.0,9.67987]}`; IEX: `["T","2019-01-30T13:33:45.594808294-05:00",
        1548873225594808294,"wes",null,null,null,null,null,50.285,200,null,0,0,0,0]`; crypto:
        `["T","btcusd","2026-09-06T03:55:54.366000+00:00","bitfinex",0.0002,80132.0]`.
        """  # noqa: E501
        service, data = message.get("service"), message.get("data")
        names = FIELDS.get((str(service), len(data))) if isinstance(data, list) else None
        if names is None or not isinstance(data, list):
            self.invalid.append(InvalidRecord(f"unknown {service} array", message))
            return []
        values = dict(zip(names, data, strict=True))
        kind = values.get("type", "reference")
        values["type"] = KINDS.get(kind, kind) if isinstance(kind, str) else kind
        if service == "iex":
            values["exchange"] = "IEX"
        record = self.validate(TiingoData, values, message)
        if record is None:
            return []
        kept = FEED_TYPES.get(self.params.feed)
        if kept is not None and record.type not in kept:
            return []  # filtered client-side: the server cannot separate them at this level
        return [Records([record])]


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
