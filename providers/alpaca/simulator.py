"""Simulator of Alpaca's real-time market data stream, built from the docs cited in
`protocol.py`.

Run it alone with `python -m providers.alpaca.simulator --port 0`; it prints
`listening on ws://127.0.0.1:<port>` once it accepts connections.

One instance serves every endpoint by path: `/v2/iex`, `/v2/sip`, `/v2/delayed_sip`,
`/v2/test`, `/v1beta3/crypto/{us,us-1,eu-1}`; the bare URL plays `/v2/iex`; any other path is
refused at the handshake with HTTP 404. What it does (documented unless marked "assumed"):
- greets with `[{"T":"success","msg":"connected"}]`; expects `{"action":"auth",...}` within
  `auth_timeout` seconds, else `404 auth timeout` and a close;
- credentials: `api_keys` lists accepted credentials in feeddock's one-string form
  `KEY_ID:SECRET` (an entry without ':' is a key id with an empty secret); None accepts any
  non-empty key id and secret. A refusal is `402 auth failed`, then a close (the close is
  assumed); `403 already authenticated`; `401 not authenticated` for a subscribe before auth;
  `400 invalid syntax` for anything unreadable;
- one authenticated connection per key id and endpoint: a second gets
  `406 connection limit exceeded`, then a close;
- `plan="basic"`: SIP is refused with `409 insufficient subscription`, and trades + quotes
  are limited to 30 symbols (`405 symbol limit exceeded`, subscriptions unchanged);
- `subscription` replies list the whole current subscription; data only for subscribed
  symbols (for `*`, a small universe); on `/v2/test` only FAKEPACA has data. Trade ids and
  timestamps (RFC 3339, nanoseconds) strictly increase. Corrections, cancels, statuses and
  order books are not generated.
"""

from __future__ import annotations

import asyncio
import sys
import time
from http import HTTPStatus
from typing import Any, Literal

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from ..simulator import Session, SimulatorServer, serve_until_stopped, simulator_arguments
from .models import TEST_SYMBOL

PATHS = (
    "v2/iex", "v2/sip", "v2/delayed_sip", "v2/test",
    "v1beta3/crypto/us", "v1beta3/crypto/us-1", "v1beta3/crypto/eu-1",
)  # fmt: skip
LISTS = ("trades", "quotes", "bars")
UNIVERSE = {"stock": ("AAPL", "MSFT", "SPY"), "crypto": ("BTC/USD", "ETH/USD")}
BASIC_SYMBOL_LIMIT = 30


def rfc3339(timestamp_ns: int) -> str:
    seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


class AlpacaSimulator(SimulatorServer):
    """Alpaca's stream endpoints. `refused` counts connections refused with 406."""

    def __init__(
        self,
        *,
        plan: Literal["basic", "algo_trader_plus"] = "algo_trader_plus",
        auth_timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.auth_timeout = auth_timeout
        self.refused = 0
        self._paths: dict[int, str] = {}
        self._keys: dict[int, str] = {}
        self._lists: dict[int, dict[str, list[str]]] = {}
        self._last_ns = 0
        self._trade_id = 0

    async def _open(self) -> None:
        # As the base class, plus a handshake hook: unknown paths get HTTP 404.
        self._server = await serve(
            self._handle, self.host, self.port, max_size=None, process_request=self._handshake
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        if self._path(request.path) is not None:
            return None
        return connection.respond(HTTPStatus.NOT_FOUND, "no such stream\n")

    @staticmethod
    def _path(raw: str) -> str | None:
        path = raw.split("?", 1)[0].strip("/")
        if not path:
            return "v2/iex"
        return path if path in PATHS else None

    # -- one connection ---------------------------------------------------------------------------

    async def session(self, session: Session) -> None:
        request = session.connection.request
        key = id(session)
        self._paths[key] = self._path(request.path if request else "/") or "v2/iex"
        self._lists[key] = {name: [] for name in LISTS}
        timeout = asyncio.get_running_loop().create_task(self._auth_timeout(session))
        try:
            await self._send(session, {"T": "success", "msg": "connected"})
            async for message in self.messages(session):
                await self._on_message(session, message)
        finally:
            timeout.cancel()
            for table in (self._paths, self._keys, self._lists):
                table.pop(key, None)

    async def _on_message(self, session: Session, message: Any) -> None:
        action = message.get("action") if isinstance(message, dict) else None
        if action == "auth":
            await self._auth(session, message.get("key"), message.get("secret"))
        elif action in ("subscribe", "unsubscribe"):
            if not session.authorized:
                await self._error(session, 401, "not authenticated")
            else:
                await self._change(session, action, message)
        else:
            await self._error(session, 400, "invalid syntax")

    async def _auth(self, session: Session, key: Any, secret: Any) -> None:
        if session.authorized:
            await self._error(session, 403, "already authenticated")
            return
        if not self._accepts(key, secret):
            await self._error(session, 402, "auth failed")
            await session.connection.close(1008, "auth failed")
            return
        path = self._paths[id(session)]
        if self.plan == "basic" and path == "v2/sip":
            await self._error(session, 409, "insufficient subscription")
            await session.connection.close(1008, "insufficient subscription")
            return
        for other in self.sessions:
            same = self._keys.get(id(other)) == key and self._paths.get(id(other)) == path
            if other is not session and other.authorized and same:
                self.refused += 1
                await self._error(session, 406, "connection limit exceeded")
                await session.connection.close(1008, "connection limit exceeded")
                return
        self._keys[id(session)] = str(key)
        session.authorized = True
        await self._send(session, {"T": "success", "msg": "authenticated"})
        self._notify()

    def _accepts(self, key: Any, secret: Any) -> bool:
        if not isinstance(key, str) or not isinstance(secret, str) or not key:
            return False
        if self.api_keys is None:
            return bool(secret)
        return (f"{key}:{secret}" if secret else key) in self.api_keys

    async def _change(self, session: Session, action: str, message: dict[str, Any]) -> None:
        lists = self._lists[id(session)]
        asked = {name: message.get(name, []) for name in LISTS}
        if not all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in asked.values()
        ):
            await self._error(session, 400, "invalid syntax")
            return
        updated = {name: list(values) for name, values in lists.items()}
        for name, symbols in asked.items():
            if action == "subscribe":
                updated[name] += [s for s in symbols if s not in updated[name]]
            else:
                updated[name] = [s for s in updated[name] if s not in symbols]
        counted = set(updated["trades"]) | set(updated["quotes"])
        if (
            self.plan == "basic"
            and self._paths[id(session)] == "v2/iex"
            and len(counted) > BASIC_SYMBOL_LIMIT
        ):
            await self._error(session, 405, "symbol limit exceeded")
            return
        lists.update(updated)
        # Entries name the endpoint too: `data_frame` sees only the entry, not the session.
        path = self._paths[id(session)]
        session.symbols = {f"{path} {name} {s}" for name, values in lists.items() for s in values}
        await self._send(session, {"T": "subscription", **lists})
        self.start_streaming(session)
        self._notify()

    async def _auth_timeout(self, session: Session) -> None:
        await asyncio.sleep(self.auth_timeout)
        if not session.authorized:
            await self._error(session, 404, "auth timeout")
            await session.connection.close(1008, "auth timeout")

    async def _error(self, session: Session, code: int, msg: str) -> None:
        await self._send(session, {"T": "error", "code": code, "msg": msg})

    async def _send(self, session: Session, message: dict[str, Any]) -> None:
        await self.send_json(session, [message])

    # -- data -------------------------------------------------------------------------------------

    @property
    def last_trade_id(self) -> int:
        return self._trade_id

    def data_frame(self, symbol: str, timestamp_ns: int) -> str | None:
        """One message for a subscription entry `v2/iex trades AAPL` (the session's symbols)."""
        sequence = self.next_sequence()
        path, channel, name = symbol.split(" ", 2)
        crypto = path.startswith("v1beta3")
        if name == "*":
            universe = (
                (TEST_SYMBOL,) if path == "v2/test" else UNIVERSE["crypto" if crypto else "stock"]
            )
            name = universe[sequence % len(universe)]
        if path == "v2/test" and name != TEST_SYMBOL:
            return None  # the test stream only has FAKEPACA
        return orjson.dumps([self.message(channel, name, timestamp_ns, crypto=crypto)]).decode()

    def message(
        self, channel: str, symbol: str, timestamp_ns: int, *, crypto: bool
    ) -> dict[str, Any]:
        self._last_ns = max(timestamp_ns, self._last_ns + 1)
        stamp = rfc3339(self._last_ns)
        price = round(100.0 + (self._last_ns // 1000 % 1000) / 100, 2)
        if channel == "trades":
            self._trade_id += 1
            trade = {
                "T": "t",
                "S": symbol,
                "i": self._trade_id,
                "p": price,
                "s": 1 + self._trade_id % 9,
                "t": stamp,
            }
            extra = (
                {"tks": "B" if self._trade_id % 2 else "S"}
                if crypto
                else {"x": "V", "c": ["@"], "z": "C"}
            )
            return trade | extra
        if channel == "quotes":
            quote = {
                "T": "q",
                "S": symbol,
                "bp": price - 0.01,
                "bs": 3,
                "ap": price + 0.01,
                "as": 2,
                "t": stamp,
            }
            return quote if crypto else quote | {"bx": "V", "ax": "V", "c": ["R"], "z": "C"}
        minute = self._last_ns // 60_000_000_000 * 60_000_000_000
        return {
            "T": "b", "S": symbol, "o": price, "h": price + 0.05, "l": price - 0.05, "c": price,
            "v": 100, "t": rfc3339(minute).replace(".000000000Z", "Z"), "n": 10, "vw": price,
        }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = simulator_arguments("Serve a simulated Alpaca market data stream on loopback.", 8769)
    parser.add_argument("--plan", choices=["basic", "algo_trader_plus"], default="algo_trader_plus")
    args = parser.parse_args(argv)
    simulator = AlpacaSimulator(
        host=args.host, port=args.port, rate=args.rate, api_keys=args.api_key, plan=args.plan
    )
    return serve_until_stopped(simulator, exit_on_stdin_eof=args.exit_on_stdin_eof)


if __name__ == "__main__":
    sys.exit(main())
