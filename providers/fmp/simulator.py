"""Simulator of FMP's websockets, built from the docs and the clients cited in `protocol.py`.

Run it alone with `python -m providers.fmp.simulator --port 0 [--asset-type fx]`; it prints
`listening on ws://127.0.0.1:<port>` once it accepts connections. One instance plays one of
FMP's three hosts (stock, fx or crypto), chosen by `asset_type`.

What it does, and what is assumed where FMP publishes nothing:
- login: `{"event":"login","status":200,"message":"Authenticated"}`, or status 401
  "Unauthorized" followed by a close (the close is assumed);
- a second login with the same key kicks the first session with status 401
  "Connected from another location", then closes it;
- subscribe/unsubscribe acks `{"event":"subscribe","status":200,"message":"subscribed to: aapl"}`
  and errors with status 400 / 401 (payloads assumed: FMP does not document them);
- heartbeats `{"event":"heartbeat","timestamp":<ms>}` (payload assumed);
- data for subscribed tickers only: stock `t` in epoch ns, fx and crypto `t` in epoch ms with an
  `e` field (units there unverified). `t` strictly increases across the whole simulator, so
  tests can use it as a unique key.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from typing import Any

import orjson
from websockets.protocol import State

from ..simulator import Session, SimulatorServer, serve_until_stopped, simulator_arguments

VALID_TICKER = re.compile(r"^[a-z0-9][a-z0-9.\-^]{0,19}$")
HEARTBEAT_SECONDS = 10.0
ANOTHER_LOCATION = "Connected from another location"
KINDS = ("T", "Q")


class FmpSimulator(SimulatorServer):
    """One FMP host. `kicked` counts sessions ended by a login elsewhere with the same key."""

    def __init__(
        self,
        *,
        asset_type: str = "stock",
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if asset_type not in ("stock", "fx", "crypto"):
            raise ValueError(f"asset_type must be one of: stock, fx, crypto (got {asset_type!r})")
        self.asset_type = asset_type
        self.heartbeat_seconds = heartbeat_seconds
        self.keys: dict[int, str] = {}
        self.kicked = 0
        self._last_time = 0
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def last_timestamp(self) -> int:
        """The `t` of the newest data frame generated so far (0 before the first)."""
        return self._last_time

    async def session(self, session: Session) -> None:
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(session))
        try:
            async for message in self.messages(session):
                await self._on_message(session, message)
        finally:
            heartbeat.cancel()
            self.keys.pop(id(session), None)

    async def _on_message(self, session: Session, message: Any) -> None:
        event = message.get("event") if isinstance(message, dict) else None
        data = message.get("data") if isinstance(message, dict) else None
        if event == "login":
            await self._login(session, data.get("apiKey") if isinstance(data, dict) else None)
        elif event in ("subscribe", "unsubscribe"):
            if not session.authorized:
                await self._reply(session, event, 401, "You are not authorized, login first")
                return
            await self._change(session, event, data)
        else:
            await self._reply(session, str(event or "error"), 400, f"unknown event: {event!r}")

    async def _login(self, session: Session, key: object) -> None:
        if not self.key_is_valid(key):
            await self._reply(session, "login", 401, "Unauthorized")
            await session.connection.close(1008, "Unauthorized")
            return
        assert isinstance(key, str)
        for other in list(self.sessions):
            if other is session or self.keys.get(id(other)) != key:
                continue
            if other.connection.state is State.OPEN:
                self.kicked += 1
                await self._reply(other, "login", 401, ANOTHER_LOCATION)
                # Closed in the background: the new login must not wait for the old client.
                task = asyncio.create_task(other.connection.close(1000, ANOTHER_LOCATION))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        self.keys[id(session)] = key
        session.authorized = True
        await self._reply(session, "login", 200, "Authenticated")

    async def _change(self, session: Session, event: str, data: object) -> None:
        tickers = data.get("ticker") if isinstance(data, dict) else None
        if isinstance(tickers, str):  # the docs allow a single ticker as a string
            tickers = [tickers]
        if (
            not isinstance(tickers, list)
            or not tickers
            or not all(isinstance(t, str) for t in tickers)
        ):
            await self._reply(session, event, 400, "ticker must be a string or a list of strings")
            return
        wanted = [t.strip().lower() for t in tickers]
        bad = [t for t in wanted if not VALID_TICKER.match(t)]
        if bad:
            await self._reply(session, event, 400, f"invalid ticker: {','.join(bad)}")
            return
        if event == "subscribe":
            session.symbols |= set(wanted)
            await self._reply(session, event, 200, f"subscribed to: {','.join(wanted)}")
            self.start_streaming(session)
        else:
            session.symbols -= set(wanted)
            await self._reply(session, event, 200, f"unsubscribed from: {','.join(wanted)}")

    async def _reply(self, session: Session, event: str, status: int, message: str) -> None:
        await self.send_json(session, {"event": event, "status": status, "message": message})

    async def _heartbeat(self, session: Session) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            await self.send_json(
                session, {"event": "heartbeat", "timestamp": time.time_ns() // 10**6}
            )

    def _timestamp(self, timestamp_ns: int) -> int:
        """Strictly increasing `t`: ns for stocks, ms for fx and crypto."""
        value = timestamp_ns if self.asset_type == "stock" else timestamp_ns // 10**6
        self._last_time = max(value, self._last_time + 1)
        return self._last_time

    def event(self, symbol: str, timestamp_ns: int) -> dict[str, Any]:
        sequence = self.next_sequence()
        kind = "B" if sequence % 25 == 0 else KINDS[sequence % 2]
        price = round(100.0 + (sequence % 1000) / 100, 2)
        quote = kind == "Q"
        frame: dict[str, Any] = {
            "s": symbol,
            "t": self._timestamp(timestamp_ns),
            "type": kind,
            "ap": round(price + 0.01, 2) if quote else None,
            "as": 200 if quote else None,
            "bp": round(price - 0.01, 2) if quote else None,
            "bs": 300 if quote else None,
            "lp": None if quote else price,
            "ls": None if quote else 100,
        }
        if self.asset_type != "stock":
            frame["e"] = "SIM"
        return frame

    def data_frame(self, symbol: str, timestamp_ns: int) -> str | None:
        return orjson.dumps(self.event(symbol, timestamp_ns)).decode()


def main(argv: list[str] | None = None) -> int:
    parser = simulator_arguments("Serve a simulated FMP websocket on loopback.", 8766)
    parser.add_argument("--asset-type", default="stock", choices=["stock", "fx", "crypto"])
    parser.add_argument("--heartbeat-seconds", type=float, default=HEARTBEAT_SECONDS)
    args = parser.parse_args(argv)
    simulator = FmpSimulator(
        host=args.host,
        port=args.port,
        rate=args.rate,
        api_keys=args.api_key,
        asset_type=args.asset_type,
        heartbeat_seconds=args.heartbeat_seconds,
    )
    return serve_until_stopped(simulator, exit_on_stdin_eof=args.exit_on_stdin_eof)


if __name__ == "__main__":
    sys.exit(main())
