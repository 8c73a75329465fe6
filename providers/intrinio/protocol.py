"""Pure protocol of Intrinio's real-time equities WebSocket (the binary "v2" equities format).

Intrinio publishes no wire specification; its official SDKs are the reference, and agree:
https://github.com/intrinio/intrinio-realtime-python-sdk (intriniorealtime/equities_client.py),
https://github.com/intrinio/intrinio-realtime-node-sdk (index.js),
https://github.com/intrinio/intrinio-realtime-csharp-sdk (Equities/EquitiesWebSocketClient.cs).
Product overview: https://docs.intrinio.com/tutorial/websocket

1. `GET https://realtime-mx.intrinio.com/auth?api_key=KEY` answers 200 with the token as plain
   text, 401 when the key is refused (the worker performs it: `token_request`/`token_reply`).
2. `wss://realtime-mx.intrinio.com/socket/websocket?vsn=1.0.0&token=TOKEN&UseNewEquitiesFormat=v2`
3. Client frames are binary. Join `AAPL`: `4a 00 41 41 50 4c` ('J', trades-only 0|1, ASCII
   ticker); the firehose is the ticker `$FIREHOSE`. Leave `AAPL`: `4c 41 41 50 4c` ('L', ticker).
4. Server frames are binary: one byte giving the number of messages, then the messages, each
   starting with its type (0 trade, 1 ask, 2 bid) and its whole length (these two bytes
   included). After them, with n = ticker length (integers little-endian)::

       2    u8     n               3+n   u8     subprovider code (SUBPROVIDERS)
       3    n      ticker, ASCII   4+n   2      market center, one UTF-16LE character
       6+n  f32    price           10+n  u32    size
       14+n u64    timestamp, nanoseconds since the epoch
       trade: 22+n u32 day volume; 26+n u8 c; 27+n c condition codes, ASCII
       ask, bid:                   22+n u8 c; 23+n c condition codes, ASCII

   Text frames from the server carry error messages (the C# and Java SDKs log them as such).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from ..protocol import (
    Event,
    Info,
    InvalidRecord,
    Message,
    ProviderError,
    ProviderProtocol,
    Records,
    TokenRequest,
    Unauthorized,
)
from .models import FIREHOSE, FIREHOSE_ALIASES, HOSTS, IntrinioData, IntrinioQueryParams

JOIN, LEAVE = b"J", b"L"
FIREHOSE_CHANNEL = b"$FIREHOSE"
KINDS = {0: "trade", 1: "ask", 2: "bid"}
TRADE = struct.Struct("<fIQI")  # price, size, timestamp, day volume
QUOTE = struct.Struct("<fIQ")  # price, size, timestamp
FLOAT32 = struct.Struct("<f")
SUBPROVIDERS = {
    1: "CTA_A",
    2: "CTA_B",
    3: "UTP",
    4: "OTC",
    5: "NASDAQ_BASIC",
    6: "IEX",
    7: "CBOE_ONE",
    8: "EQUITIES_EDGE",
}
# Market centers the SDKs read as off-exchange (dark pool) prints, per subprovider.
DARKPOOL_CENTERS = {
    **dict.fromkeys(("CTA_A", "CTA_B", "UTP", "OTC"), frozenset("DE")),
    "NASDAQ_BASIC": frozenset("L2"),
}
TOKEN_MAX_AGE_SECONDS = 24 * 3600.0  # the Node SDK fetches a new token after 24 h
REFUSED = (401, 403)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def float32(raw: float) -> float:
    """The shortest decimal that encodes to this float32: 189.1, not 189.10000610351562.

    Prices travel as float32; nine significant digits always identify one, so this gives back
    the decimal the server encoded without inventing precision.
    """
    for digits in range(6, 10):
        text = f"{raw:.{digits}g}"
        if FLOAT32.unpack(FLOAT32.pack(float(text)))[0] == raw:
            return float(text)
    return raw


def is_darkpool(subprovider: str | None, center: str) -> bool:
    """The SDKs' rule: SIP and Nasdaq Basic trades from certain (or no) market centers."""
    centers = DARKPOOL_CENTERS.get(subprovider or "")
    return centers is not None and (not center or center in centers)


class IntrinioProtocol(ProviderProtocol[IntrinioQueryParams]):
    name: ClassVar[str] = "intrinio"
    # No login reply exists: a handshake that passed with the token is the authorization.
    ready_on_open: ClassVar[bool] = True
    ready_message: ClassVar[str] = "Authorization: Success (Intrinio token accepted)"
    token_max_age: ClassVar[float | None] = TOKEN_MAX_AGE_SECONDS

    def __init__(self, params: IntrinioQueryParams, api_key: str | None) -> None:
        super().__init__(params, api_key)
        self.token: str | None = None

    def endpoint(self) -> str:
        return f"wss://{HOSTS[self.params.feed]}/socket/websocket"

    def url(self) -> str:
        """The endpoint (or `url` override) with the token and the v2 format in the query.

        The Python SDK sends `UseNewEquitiesFormat: v2` as a header, the Node SDK in the query
        string; the query needs no handshake-header hook in the worker.
        """
        query = {"vsn": "1.0.0", "token": self.token or "", "UseNewEquitiesFormat": "v2"}
        if self.params.delayed:
            query["delayed"] = "true"
        return _with_query(self.params.url or self.endpoint(), query)

    # -- the access token ----------------------------------------------------------------------

    def token_request(self) -> TokenRequest:
        """`GET <host>/auth?api_key=KEY`, on the WebSocket's host unless `auth_url` is given."""
        base = self.params.auth_url
        if base is None:
            parts = urlsplit(self.params.url or self.endpoint())
            scheme = "https" if parts.scheme == "wss" else "http"
            base = f"{scheme}://{parts.netloc}/auth"
        return TokenRequest(_with_query(base, {"api_key": self.api_key}))

    def token_reply(self, status: int, body: bytes) -> Event:
        """200: the body is the token. 401/403: the key is refused (the Node SDK's words when
        the body is empty). Other 4xx are fatal; 5xx, 408 and 429 are retried."""
        text = body.decode("utf-8", "replace").strip()
        if status == 200 and text:
            self.token = text
            return Info("Intrinio access token received")
        if status in REFUSED:
            words = text[:200] or "Unable to authorize"
            return Unauthorized(f"Intrinio refused the API key (HTTP {status}): {words}")
        fatal = 400 <= status < 500 and status not in (408, 429)
        reply = f": {text[:200]}" if text else " with no token"
        return ProviderError(f"Intrinio's auth endpoint answered HTTP {status}{reply}", fatal)

    # -- symbology and client frames -------------------------------------------------------------

    def canonical_symbol(self, symbol: str) -> str:
        """Tickers in upper case; `*`, `lobby`, `$lobby` and `$FIREHOSE` are the firehose `*`."""
        cleaned = symbol.strip().upper()
        return FIREHOSE if cleaned in FIREHOSE_ALIASES else cleaned

    def channel(self, symbol: str) -> bytes:
        canonical = self.canonical_symbol(symbol)
        if canonical == FIREHOSE:
            return FIREHOSE_CHANNEL
        return canonical.encode("ascii", "replace")  # never raises on a live subscribe

    def on_open(self, symbols: Sequence[str]) -> list[Message]:
        return []  # the joins follow at once (`ready_on_open`)

    def subscribe(self, symbols: Sequence[str]) -> list[Message]:
        """One join per channel: `4a 00 41 41 50 4c` joins AAPL (`4a 01 ...` trades only)."""
        flag = b"\x01" if self.params.trades_only else b"\x00"
        return [JOIN + flag + self.channel(s) for s in symbols]

    def unsubscribe(self, symbols: Sequence[str]) -> list[Message]:
        """One leave per channel: `4c 41 41 50 4c` leaves AAPL."""
        return [LEAVE + self.channel(s) for s in symbols]

    # -- server frames ---------------------------------------------------------------------------

    def receive(self, frame: Message) -> list[Event]:
        """A binary frame of trades and quotes (e.g. two messages, a trade and an ask:
        `02` + `00 20 04 41 41 50 4c 06 56 00 9a 19 3d 43 64 00 00 00 15 cd 85 3d fe 9c 97 17
        87 d6 12 00 01 40` + `01 1b 04 41 41 50 4c 06 56 00 b8 1e 3d 43 2c 01 00 00 e7 cd 85
        3d fe 9c 97 17 00`: AAPL trade 189.1 x 100 at IEX market center V, condition `@`, day
        volume 1234567, then AAPL ask 189.12 x 300), or a text error message."""
        if isinstance(frame, str):
            return [ProviderError(f"Intrinio: {frame.strip()[:300]}")] if frame.strip() else []
        records = self._messages(frame)
        return [Records(list(records))] if records else []

    def _messages(self, frame: bytes) -> list[IntrinioData]:
        records: list[IntrinioData] = []
        if not frame:
            self._invalid("empty frame", frame)
            return records
        count, offset = frame[0], 1
        for index in range(count):
            length = frame[offset + 1] if offset + 1 < len(frame) else 0
            if length < 2 or offset + length > len(frame):
                self._invalid(f"frame truncated: message {index + 1} of {count}", frame)
                return records
            record = self._message(frame[offset : offset + length])
            if record is not None:
                records.append(record)
            offset += length
        if offset != len(frame):
            self._invalid(f"{len(frame) - offset} bytes after {count} messages", frame)
        return records

    def _message(self, message: bytes) -> IntrinioData | None:
        kind = KINDS.get(message[0])
        if kind is None:
            self._invalid(f"unknown message type {message[0]}", message)
            return None
        try:
            n = message[2]
            symbol = message[3 : 3 + n].decode("ascii")
            subprovider = SUBPROVIDERS.get(message[3 + n])  # 0 means none
            center = message[4 + n : 6 + n].decode("utf-16-le").strip("\x00 ")
            layout = TRADE if kind == "trade" else QUOTE
            price, size, stamp, *volume = layout.unpack_from(message, 6 + n)
            start = 7 + n + layout.size
            conditions = message[start : start + message[start - 1]].decode("ascii")
            if not symbol or start + message[start - 1] > len(message):
                raise ValueError("empty ticker" if not symbol else "conditions cut short")
            if not math.isfinite(price):
                raise ValueError(f"price is {price}")
        except (IndexError, struct.error, UnicodeDecodeError, ValueError) as exc:
            self._invalid(f"{kind} message: {exc}", message)
            return None
        fields: dict[str, Any] = {
            "date": EPOCH + timedelta(microseconds=stamp // 1000),  # always ns: no unit guess
            "timestamp": stamp,
            "symbol": symbol,
            "type": kind,
            "exchange": center or None,
            "subprovider": subprovider,
            "conditions": conditions or None,
        }
        side = {"trade": "last", "ask": "ask", "bid": "bid"}[kind]
        fields[f"{side}_price"], fields[f"{side}_size"] = float32(price), size
        if volume:
            fields["volume"] = volume[0]
            fields["is_darkpool"] = is_darkpool(subprovider, center)
        return self.validate(IntrinioData, fields, message.hex())

    def _invalid(self, reason: str, raw: bytes) -> None:
        self.invalid.append(InvalidRecord(reason, raw.hex()))


def _with_query(url: str, query: dict[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"
