"""Simulator of one Intrinio real-time equities host, built from the official SDKs.

Run it alone with `python -m providers.intrinio.simulator --port 0 [--feed delayed_sip]`; it
prints `listening on ws://127.0.0.1:<port>/socket/websocket`. Like Intrinio's hosts it serves
both doors on one port (plain HTTP for the token, the WebSocket for data):

- `GET /auth?api_key=KEY`: 200 with a new token as plain text, or 401 with `REFUSAL` (the
  body of Intrinio's refusal is not published: assumed);
- `/socket/websocket?vsn=1.0.0&token=T&UseNewEquitiesFormat=v2`: a token it did not issue (or
  issued before `expire_tokens()`) is refused with HTTP 401 (assumed, as are the words). The
  v2 format must be asked for, by query string (Node SDK) or header (Python SDK), else HTTP 400;
- binary join (`J`, trades-only flag, ticker) and leave (`L`, ticker) frames; `$FIREHOSE`
  streams the whole `UNIVERSE`. Anything else gets a text error frame (wording assumed);
- binary data frames at `rate` per second per connection, each holding one to three messages
  (trade, ask, bid; trades only where the join asked for it), in the exact layout the SDKs
  parse. Timestamps strictly increase across the simulator, so tests can spot duplicates.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections import defaultdict
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from ..simulator import Session, SimulatorServer, serve_until_stopped, simulator_arguments
from .models import FEEDS
from .protocol import FIREHOSE_CHANNEL, JOIN, LEAVE, QUOTE, TRADE

FIREHOSE = FIREHOSE_CHANNEL.decode()

REFUSAL = "Invalid API key"
TOKEN_REFUSAL = "Invalid or expired token"
UNIVERSE = ("AAPL", "MSFT", "NVDA", "SPY", "TSLA", "AMZN")
# feed -> (subprovider code, market centers) it reports; simulated choices, not Intrinio's data.
SOURCES: dict[str, tuple[tuple[int, str], ...]] = {
    "realtime": ((6, "V"),),
    "delayed_sip": ((1, "N"), (2, "P"), (3, "Q"), (3, "D")),
    "nasdaq_basic": ((5, "Q"), (5, "L")),
    "cboe_one": ((7, "Z"),),
    "equities_edge": ((8, "K"),),
}


def message(
    kind: int, symbol: str, source: tuple[int, str], values: tuple[float, int, int, int], cond: str
) -> bytes:
    """One message in the v2 layout: `kind` 0 trade, 1 ask, 2 bid; `values` are the price,
    size, timestamp and day volume (ignored for asks and bids)."""
    code, center = source
    ticker, condition = symbol.encode("ascii"), cond.encode("ascii")
    fixed = TRADE.pack(*values) if kind == 0 else QUOTE.pack(*values[:3])
    body = bytes([len(ticker)]) + ticker + bytes([code]) + center.encode("utf-16-le") + fixed
    body += bytes([len(condition)]) + condition
    return bytes([kind, len(body) + 2]) + body


class IntrinioSimulator(SimulatorServer):
    """One Intrinio host for `feed`. `token_requests` counts GET /auth, `handshakes` keeps the
    query of every accepted WebSocket handshake (token removed), `refused_handshakes` counts
    handshakes refused for their token."""

    def __init__(self, *, feed: str = "realtime", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if feed not in FEEDS:
            raise ValueError(f"feed must be one of: {', '.join(FEEDS)} (got {feed!r})")
        self.feed = feed
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.handshakes: list[dict[str, str]] = []
        self.refused_handshakes = 0
        self._last_time = 0
        self._volume: defaultdict[str, int] = defaultdict(int)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/socket/websocket"

    @property
    def last_timestamp(self) -> int:
        return self._last_time

    def expire_tokens(self) -> None:
        """Forget every issued token: the next handshake with one of them is refused."""
        self.tokens.clear()

    async def _open(self) -> None:
        # The shared base serves only WebSockets; Intrinio's /auth shares the port, so the
        # server gets a `process_request` hook that answers plain HTTP requests itself.
        self._server = await serve(
            self._handle, self.host, self.port, max_size=None, process_request=self._http
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if parts.path == "/auth":
            self.token_requests += 1
            if not self.key_is_valid(query.get("api_key")):
                return connection.respond(HTTPStatus.UNAUTHORIZED, REFUSAL)
            token = secrets.token_urlsafe(24)
            self.tokens.add(token)
            return connection.respond(HTTPStatus.OK, token)
        if parts.path != "/socket/websocket":
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found")
        if query.pop("token", None) not in self.tokens:
            self.refused_handshakes += 1
            self._notify()
            return connection.respond(HTTPStatus.UNAUTHORIZED, TOKEN_REFUSAL)
        header = request.headers.get("UseNewEquitiesFormat")
        if "v2" not in (query.get("UseNewEquitiesFormat"), header):
            return connection.respond(HTTPStatus.BAD_REQUEST, "UseNewEquitiesFormat v2 required")
        self.handshakes.append(query)
        return None

    async def session(self, session: Session) -> None:
        trades_only: dict[str, bool] = {}  # joined channel -> trades only
        loop = asyncio.get_running_loop()
        session.streamer = loop.create_task(self._send_frames(session, trades_only))
        async for frame in self.messages(session):
            if isinstance(frame, bytes) and frame[:1] == JOIN and len(frame) > 2:
                channel = frame[2:].decode("ascii", "replace")
                trades_only[channel] = frame[1] == 1
                session.symbols.add(channel)
            elif isinstance(frame, bytes) and frame[:1] == LEAVE and len(frame) > 1:
                channel = frame[1:].decode("ascii", "replace")
                trades_only.pop(channel, None)
                session.symbols.discard(channel)
            else:
                await session.connection.send(f"Invalid message: {frame!r:.60}")

    async def _send_frames(self, session: Session, trades_only: dict[str, bool]) -> None:
        """`rate` frames per second for the session's channels, round robin."""
        if self.rate <= 0:
            return
        interval = 1.0 / self.rate
        next_tick = time.monotonic()
        while True:
            next_tick += interval
            channels = sorted(trades_only)
            if channels:
                channel = channels[self.last_sequence % len(channels)]
                symbol = channel
                if channel == FIREHOSE:
                    symbol = UNIVERSE[self.last_sequence % len(UNIVERSE)]
                frame = self.frame(symbol, time.time_ns(), trades_only[channel])
                await session.connection.send(frame)
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))

    def _timestamp(self, timestamp_ns: int) -> int:
        self._last_time = max(timestamp_ns, self._last_time + 1)
        return self._last_time

    def frame(self, symbol: str, timestamp_ns: int, trades_only: bool = False) -> bytes:
        """One data frame: a count byte, then a trade, a trade and an ask, or an ask and a bid."""
        sequence = self.next_sequence()
        sources = SOURCES[self.feed]
        source = sources[sequence % len(sources)]
        price = round(100.0 + (sequence % 1000) / 100, 2)
        kinds = (0,) if trades_only else ((0,), (0, 1), (1, 2))[sequence % 3]
        messages = []
        for kind in kinds:
            stamp = self._timestamp(timestamp_ns)
            if kind == 0:
                size = 100 + sequence % 7
                self._volume[symbol] += size
                values = (price, size, stamp, self._volume[symbol])
                condition = "@" if sequence % 2 else "@FT"
            else:
                quoted = round(price + (0.01 if kind == 1 else -0.01), 2)
                values = (quoted, 300 if kind == 1 else 200, stamp, 0)
                condition = "R" if sequence % 2 else ""
            messages.append(message(kind, symbol, source, values, condition))
        return bytes([len(messages)]) + b"".join(messages)

    def data_frame(self, symbol: str, timestamp_ns: int) -> bytes | None:
        return self.frame(symbol, timestamp_ns)


def main(argv: list[str] | None = None) -> int:
    parser = simulator_arguments("Serve a simulated Intrinio equities host on loopback.", 8767)
    parser.add_argument("--feed", default="realtime", choices=list(FEEDS))
    args = parser.parse_args(argv)
    simulator = IntrinioSimulator(
        host=args.host, port=args.port, rate=args.rate, api_keys=args.api_key, feed=args.feed
    )
    return serve_until_stopped(simulator, exit_on_stdin_eof=args.exit_on_stdin_eof)


if __name__ == "__main__":
    sys.exit(main())
