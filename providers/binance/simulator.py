"""Simulator of Binance's spot market streams, built from the docs cited in `protocol.py`.

Run it alone with `python -m providers.binance.simulator --port 0`; it prints
`listening on ws://127.0.0.1:<port>` once it accepts connections.

What it does (documented behaviour unless marked "assumed"):
- `/stream` (and the bare URL) wraps events as `{"stream": name, "data": payload}`; `/ws` sends
  raw payloads; streams named in the URL (`/ws/btcusdt@trade`, `/stream?streams=a/b`) are
  subscribed at connect;
- SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY with their replies,
  and the documented error codes 0-3 in the form clients observe on the wire,
  `{"error":{"code":2,"msg":"..."},"id":1}` (the docs print the inner object only);
- at most 1024 streams per connection: a SUBSCRIBE past it gets code 4 "Too many
  subscriptions" (reported by a client; the docs only state the cap);
- more than 5 incoming messages within one second closes the connection (ping/pong frames,
  which Binance counts too, are not counted here);
- data only for subscribed streams: `trade` events with strictly increasing trade ids and
  `bookTicker` updates with strictly increasing update ids;
- `server_shutdown()` sends `serverShutdown` and closes the connections shortly after;
- `restricted=True` refuses every handshake with HTTP 451 and Binance's restricted-location
  body, as Binance does for some regions.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections import deque
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from ..simulator import Session, SimulatorServer, serve_until_stopped, simulator_arguments

STREAM = re.compile(r"^[a-z0-9]+@(trade|aggTrade|bookTicker|ticker|miniTicker|depth\d*(@100ms)?)$")
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
VALID_ID = re.compile(r"^[A-Za-z0-9]{1,36}$")
RESTRICTED = (
    "Service unavailable from a restricted location according to 'b. Eligibility' in "
    "https://www.binance.com/en/terms. Please contact customer service if you believe you "
    "received this message in error."
)


class BinanceSimulator(SimulatorServer):
    """Binance spot streams. `rate_limited` counts connections closed for sending too fast."""

    def __init__(
        self,
        *,
        max_streams: int = 1024,
        max_messages_per_second: int = 5,
        restricted: bool = False,
        shutdown_grace: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_streams = max_streams
        self.max_messages_per_second = max_messages_per_second
        self.restricted = restricted
        self.shutdown_grace = shutdown_grace
        self.rate_limited = 0
        self._combined: dict[int, bool] = {}
        self._trade_id = 0
        self._update_id = 0
        self._closing: set[asyncio.Task[None]] = set()

    async def _open(self) -> None:
        # As the base class, plus a handshake hook for Binance's HTTP 451 refusal.
        self._server = await serve(
            self._handle, self.host, self.port, max_size=None, process_request=self._handshake
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        if not self.restricted:
            return None
        body = orjson.dumps({"code": 0, "msg": RESTRICTED})
        headers = Headers([("Content-Type", "application/json")])
        status = HTTPStatus.UNAVAILABLE_FOR_LEGAL_REASONS
        return Response(status.value, status.phrase, headers, body)

    # -- one connection ---------------------------------------------------------------------------

    async def session(self, session: Session) -> None:
        request = session.connection.request
        path = urlsplit(request.path if request is not None else "/")
        combined = not path.path.startswith("/ws")
        self._combined[id(session)] = combined
        initial = path.path.removeprefix("/ws").strip("/").split("/") if not combined else []
        initial += "/".join(parse_qs(path.query).get("streams", [])).split("/")
        session.symbols |= {s for s in initial if STREAM.match(s)}
        self.start_streaming(session)
        recent: deque[float] = deque()
        try:
            async for message in self.messages(session):
                recent.append(time.monotonic())
                while recent and recent[0] < recent[-1] - 1.0:
                    recent.popleft()
                if len(recent) > self.max_messages_per_second:
                    self.rate_limited += 1
                    await session.connection.close(1008, "Too many messages")
                    return
                await self._on_message(session, message)
        finally:
            self._combined.pop(id(session), None)

    async def _on_message(self, session: Session, message: Any) -> None:
        if isinstance(message, str | bytes):
            await self._error(session, None, 3, "Invalid JSON: expected value at line 1 column 1")
            return
        if not isinstance(message, dict) or "method" not in message:
            await self._error(session, None, 2, "Invalid request: missing field `method`")
            return
        request_id = message.get("id")
        if not (
            request_id is None
            or (isinstance(request_id, int) and not isinstance(request_id, bool))
            or (isinstance(request_id, str) and VALID_ID.match(request_id))
        ):
            await self._error(
                session, None, 2, "Invalid request: request ID must be an unsigned integer"
            )
            return
        method, params = message["method"], message.get("params", [])
        if method not in METHODS:
            expected = ", ".join(f"`{m}`" for m in METHODS)
            await self._error(
                session,
                request_id,
                2,
                f"Invalid request: unknown variant `{method}`, expected one of {expected}",
            )
        elif method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            await self._change(session, request_id, method, params)
        elif method == "LIST_SUBSCRIPTIONS":
            await self.send_json(session, {"result": sorted(session.symbols), "id": request_id})
        else:
            await self._property(session, request_id, method, params)

    async def _change(self, session: Session, request_id: Any, method: str, params: Any) -> None:
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            await self._error(
                session, request_id, 2, "Invalid request: params must be a list of stream names"
            )
            return
        bad = [p for p in params if not STREAM.match(p)]
        if bad:  # assumed wording: the docs list no error for an unknown stream name
            await self._error(
                session, request_id, 2, f"Invalid request: invalid stream name `{bad[0]}`"
            )
            return
        if method == "SUBSCRIBE":
            if len(session.symbols | set(params)) > self.max_streams:
                await self._error(session, request_id, 4, "Too many subscriptions")
                return
            session.symbols |= set(params)
        else:
            session.symbols -= set(params)
        await self.send_json(session, {"result": None, "id": request_id})
        self._notify()

    async def _property(self, session: Session, request_id: Any, method: str, params: Any) -> None:
        if not isinstance(params, list) or not params or params[0] != "combined":
            await self._error(session, request_id, 0, "Unknown property")
        elif method == "GET_PROPERTY":
            await self.send_json(session, {"result": self._combined[id(session)], "id": request_id})
        elif len(params) != 2 or not isinstance(params[1], bool):
            await self._error(session, request_id, 1, "Invalid value type: expected Boolean")
        else:
            self._combined[id(session)] = params[1]
            await self.send_json(session, {"result": None, "id": request_id})

    async def _error(self, session: Session, request_id: Any, code: int, msg: str) -> None:
        await self.send_json(session, {"error": {"code": code, "msg": msg}, "id": request_id})

    # -- server-side actions ----------------------------------------------------------------------

    def server_shutdown(self) -> None:
        """Announce `serverShutdown` to every connection, then close each one shortly after."""

        async def announce() -> None:
            event = {"e": "serverShutdown", "E": int(time.time() * 1000)}
            loop = asyncio.get_running_loop()
            for session in list(self.sessions):
                await self._send_event(session, "!serverShutdown", event)
                # A timer, not a sleeping task: stopping the simulator simply drops it.
                loop.call_later(self.shutdown_grace, self._close, session)

        self.call(announce)

    def _close(self, session: Session) -> None:
        task = asyncio.get_running_loop().create_task(session.connection.close(1001, "shutdown"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # -- data -------------------------------------------------------------------------------------

    def start_streaming(self, session: Session) -> None:
        # Own loop instead of the base one: the frame's form depends on the connection (raw or
        # combined), which `data_frame(symbol, ...)` cannot see.
        if session.streamer is None and self.rate > 0:
            session.streamer = asyncio.get_running_loop().create_task(self._pump(session))

    async def _pump(self, session: Session) -> None:
        interval = 1.0 / self.rate
        next_tick = time.monotonic()
        while True:
            next_tick += interval
            streams = sorted(session.symbols)
            if streams:
                stream = streams[self.next_sequence() % len(streams)]
                await self._send_event(session, stream, self.event(stream, time.time_ns()))
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))

    async def _send_event(self, session: Session, stream: str, event: dict[str, Any]) -> None:
        combined = self._combined.get(id(session), True)
        await self.send_json(session, {"stream": stream, "data": event} if combined else event)

    def event(self, stream: str, timestamp_ns: int) -> dict[str, Any]:
        """A `trade` or `bookTicker` payload for a stream name such as `btcusdt@trade`."""
        symbol, kind = stream.split("@", 1)
        millis = timestamp_ns // 1_000_000
        step = (self._trade_id + self._update_id) % 1000
        price = 100.0 + step / 100
        if kind == "bookTicker":
            self._update_id += 1
            return {
                "u": self._update_id,
                "s": symbol.upper(),
                "b": f"{price - 0.01:.8f}",
                "B": f"{1 + step % 7:.8f}",
                "a": f"{price + 0.01:.8f}",
                "A": f"{2 + step % 5:.8f}",
            }
        self._trade_id += 1
        return {
            "e": "trade",
            "E": millis,
            "s": symbol.upper(),
            "t": self._trade_id,
            "p": f"{price:.8f}",
            "q": f"{0.001 * (1 + step % 9):.8f}",
            "T": millis,
            "m": self._trade_id % 2 == 0,
            "M": True,
        }

    @property
    def last_trade_id(self) -> int:
        return self._trade_id

    def data_frame(self, symbol: str, timestamp_ns: int) -> str | None:
        """One combined-stream frame for stream name `symbol` (e.g. `btcusdt@trade`)."""
        return orjson.dumps({"stream": symbol, "data": self.event(symbol, timestamp_ns)}).decode()


def main(argv: list[str] | None = None) -> int:
    parser = simulator_arguments("Serve a simulated Binance spot stream on loopback.", 8767)
    parser.add_argument("--restricted", action="store_true", help="refuse with HTTP 451")
    args = parser.parse_args(argv)
    simulator = BinanceSimulator(
        host=args.host, port=args.port, rate=args.rate, restricted=args.restricted
    )
    return serve_until_stopped(simulator, exit_on_stdin_eof=args.exit_on_stdin_eof)


if __name__ == "__main__":
    sys.exit(main())
