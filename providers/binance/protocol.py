"""Pure protocol of Binance spot market streams (also Binance.US and data-stream.binance.vision).

Docs: https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams
(the same text: github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md);
Binance.US: github.com/binance-us/binance-us-api-docs/blob/master/web-socket-streams.md.

Keyless. The client connects to `/stream` (combined streams) and sends SUBSCRIBE/UNSUBSCRIBE
method messages, so symbols can change while streaming::

    > {"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@bookTicker"],"id":1}
    < {"result":null,"id":1}
    < {"stream":"btcusdt@trade","data":{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":12345,
       "p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}}
    < {"stream":"btcusdt@bookTicker","data":{"u":400900217,"s":"BNBUSDT","b":"25.35190000",
       "B":"31.21000000","a":"25.36520000","A":"40.66000000"}}
    < {"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1770123456789}}
    < {"error":{"code":2,"msg":"Invalid request: ..."},"id":1}

Rules kept here: lower-case symbols in stream names; at most 1024 streams per connection
(streams past the cap are not requested, and the next frame reports them); SUBSCRIBE batches
of at most 4 messages per call (the connection limit is 5 incoming messages per second,
pings and pongs included). The server's ping frames (every 20 s) are answered by the
websockets library; the 24-hour connection limit and `serverShutdown` end in a reconnect.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from ..protocol import Event, Info, Message, ProviderError, ProviderProtocol, Reconnect, Records
from ..symbols import canonical_pair, exchange_pair
from .models import ENDPOINTS, MAX_STREAMS, BinanceData, BinanceQueryParams

# A client library reports frames above 4 KiB refused as "illegal request" (unverified); a
# burst of more than 5 messages gets the connection closed (documented). Messages grow past
# 4 KiB only when 4 of them cannot hold the streams (over ~680 streams in one call).
MESSAGE_BYTES = 4096
MESSAGES_PER_CALL = 4
_REQUEST_OVERHEAD = len('{"method":"UNSUBSCRIBE","params":[],"id":18446744073709551615}')
EXCHANGES = {"stream.binance.us": "binance.us"}

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def _listing(streams: list[str]) -> str:
    """`btcusdt@trade,btcusdt@bookTicker`, shortened for long lists."""
    if len(streams) <= 4:
        return ",".join(streams)
    return f"{len(streams)} streams ({','.join(streams[:3])},...)"


def _describe(method: str, streams: list[str]) -> str:
    return f"{method} {_listing(streams)}".rstrip()


class BinanceProtocol(ProviderProtocol[BinanceQueryParams]):
    name: ClassVar[str] = "binance"
    ready_on_open: ClassVar[bool] = True

    def __init__(
        self, params: BinanceQueryParams, api_key: str | None, clock: Clock | None = None
    ) -> None:
        super().__init__(params, api_key)
        # `bookTicker` carries no timestamp: its records are dated on receipt. The clock is
        # injected so that tests (and replays) stay deterministic.
        self.clock: Clock = clock or _now
        self.exchange = EXCHANGES.get(params.host, "binance")
        self._streams: set[str] = set()
        self._requests: dict[int, tuple[str, list[str]]] = {}
        self._next_id = 0
        self._pending: list[Event] = []

    def endpoint(self) -> str:
        return ENDPOINTS[self.params.host]

    # -- symbology ------------------------------------------------------------------------------

    def canonical_symbol(self, symbol: str) -> str:
        """Any spelling of a pair -> `BASE/QUOTE` (`btcusdt`, `BTC-USDT` -> `BTC/USDT`)."""
        return canonical_pair(symbol)

    def wire_symbol(self, symbol: str) -> str:
        """Binance's stream form: lower case, no separator (`BTC/USDT` -> `btcusdt`)."""
        return exchange_pair(symbol, separator="", lower=True)

    def streams(self, symbols: Sequence[str]) -> list[str]:
        names = (
            f"{self.wire_symbol(s)}@{kind}" for s in symbols for kind in self.params.stream_types
        )
        return list(dict.fromkeys(names))

    # -- client messages -------------------------------------------------------------------------

    def on_open(self, symbols: Sequence[str]) -> list[Message]:
        """Nothing to send: no login. A new connection starts with no streams and no requests."""
        self._streams.clear()
        self._requests.clear()
        return []

    def subscribe(self, symbols: Sequence[str]) -> list[Message]:
        wanted = [s for s in self.streams(symbols) if s not in self._streams]
        room = max(0, MAX_STREAMS - len(self._streams))
        accepted, left_out = wanted[:room], wanted[room:]
        if left_out:
            self._pending.append(
                ProviderError(
                    f"not subscribed: {_listing(left_out)}: a Binance connection "
                    f"carries at most {MAX_STREAMS} streams; use another connection for these"
                )
            )
        self._streams.update(accepted)
        return self._batched("SUBSCRIBE", accepted)

    def unsubscribe(self, symbols: Sequence[str]) -> list[Message]:
        gone = [s for s in self.streams(symbols) if s in self._streams]
        self._streams.difference_update(gone)
        return self._batched("UNSUBSCRIBE", gone)

    def _batched(self, method: str, streams: list[str]) -> list[Message]:
        """`{"method":"SUBSCRIBE","params":[...],"id":N}` messages: as few as fit in 4 KiB
        each, and never more than 4 (so the burst stays under 5 messages a second).
        """
        if not streams:
            return []
        total = sum(len(s) + 3 for s in streams)  # quotes and a comma each
        count = min(MESSAGES_PER_CALL, math.ceil(total / (MESSAGE_BYTES - _REQUEST_OVERHEAD)))
        size = math.ceil(len(streams) / max(1, count))
        return [self._request(method, streams[i : i + size]) for i in range(0, len(streams), size)]

    def _request(self, method: str, params: list[str]) -> str:
        self._next_id += 1
        self._requests[self._next_id] = (method, params)
        return orjson.dumps({"method": method, "params": params, "id": self._next_id}).decode()

    # -- server frames ---------------------------------------------------------------------------

    def receive(self, frame: Message) -> list[Event]:
        events, self._pending = self._pending, []
        parsed = self.decode(frame)
        if isinstance(parsed, ProviderError):
            return [*events, parsed]
        records: list[BinanceData] = []
        for item in parsed if isinstance(parsed, list) else [parsed]:
            event = self._classify(item, records)
            if event is not None:
                events.append(event)
        if records:
            events.append(Records(list(records)))
        return events

    def _classify(self, item: Any, records: list[BinanceData]) -> Event | None:
        if not isinstance(item, dict):
            return ProviderError(f"unexpected message: {item!r}")
        if "stream" in item and isinstance(item.get("data"), dict):
            item = item["data"]  # combined stream: {"stream": name, "data": payload}
        if "result" in item or "error" in item or ("code" in item and "msg" in item):
            return self._reply(item)
        if item.get("e") == "serverShutdown":
            return Reconnect("Binance announced serverShutdown")
        if item.get("e") == "trade":
            record = self._trade(item)
        elif "e" not in item and {"u", "s", "b", "B", "a", "A"} <= item.keys():
            record = self._book_ticker(item)
        else:
            return ProviderError(f"unexpected message: {str(item)[:200]}")
        if record is not None:
            records.append(record)
        return None

    def _reply(self, item: dict[str, Any]) -> Event:
        """Replies to our requests, matched by `id`.

        `{"result":null,"id":1}` acknowledges SUBSCRIBE/UNSUBSCRIBE; `{"result":[...],"id":3}`
        lists subscriptions. Errors: the docs show `{"code":2,"msg":"..."}`, clients observe
        `{"error":{"code":2,"msg":"..."},"id":1}` (and code 4 "Too many subscriptions"):
        both are read. A refused SUBSCRIBE frees its streams so they can be asked for again.
        """
        request_id = item.get("id")
        known = self._requests.pop(request_id, None) if isinstance(request_id, int) else None
        method, streams = known or ("request", [])
        what = _describe(method, streams)
        error = item.get("error", item if "code" in item else None)
        if error is not None:
            if method == "SUBSCRIBE":
                self._streams.difference_update(streams)
            if isinstance(error, dict):
                error = f"{error.get('msg')} (code {error.get('code')})"
            return ProviderError(f"Binance refused {what}: {error}")
        result = item.get("result")
        if isinstance(result, list):
            return Info(f"Binance subscriptions: {','.join(map(str, result)) or '(none)'}")
        return Info(f"Binance acknowledged {what}")

    def _base(self, item: dict[str, Any]) -> dict[str, Any]:
        symbol = item.get("s")
        return {
            "symbol": canonical_pair(symbol) if isinstance(symbol, str) else symbol,
            "exchange": self.exchange,
        }

    def _trade(self, item: dict[str, Any]) -> BinanceData | None:
        """`{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",
        "T":1672515782136,"m":true,"M":true}`; older pages and Binance.US add the buyer and
        seller order ids `b`/`a` (kept as extras). `m` true: the buyer was the maker, so the
        taker sold.
        """
        maker = item.get("m")
        fields = self._base(item) | {
            "type": "trade",
            "date": item.get("T"),
            "last_price": item.get("p"),
            "last_size": item.get("q"),
            "trade_id": item.get("t"),
            "event_time": item.get("E"),
            "side": ("sell" if maker else "buy") if isinstance(maker, bool) else None,
        }
        for key, name in (("b", "buyer_order_id"), ("a", "seller_order_id")):
            if key in item:
                fields[name] = item[key]
        return self.validate(BinanceData, fields, item)

    def _book_ticker(self, item: dict[str, Any]) -> BinanceData | None:
        """`{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000",
        "a":"25.36520000","A":"40.66000000"}`: no time in it, so it is dated on receipt.
        """
        fields = self._base(item) | {
            "type": "quote",
            "date": self.clock(),
            "bid_price": item["b"],
            "bid_size": item["B"],
            "ask_price": item["a"],
            "ask_size": item["A"],
            "update_id": item["u"],
        }
        return self.validate(BinanceData, fields, item)
