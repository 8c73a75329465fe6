"""Simulator of OKX's API v5 public WebSocket, built from the pages cited in `protocol.py`.

Run it alone with `python -m providers.okx.simulator --port 0`; it prints
`listening on ws://127.0.0.1:<port>` once it accepts connections.

What it does (assumed where OKX publishes nothing, as marked):
- answers the text `ping` with the text `pong`;
- answers each `args` entry of a subscribe/unsubscribe with its own `{"event":"subscribe",
  "arg":...,"connId":...}`, or `{"event":"error","code":"60018",...}` for an unknown channel or
  instrument (per-entry replies assumed); a malformed request gets error 60012;
- streams `trades` and `tickers` pushes only for subscribed instruments and channels, and
  restates an instrument's newest ticker right after a `tickers` subscribe (as OKX's first
  push does); `ts` strictly increases across the simulator;
- closes a connection idle for more than `idle_timeout` seconds (30 s, the documented rule):
  idle means no client message (a `ping` counts) and no data pushed (a connection with
  subscriptions on a streaming simulator, `rate` > 0, is never idle). `closed_idle` counts
  them; the close code and reason are assumed;
- `announce_upgrade()` sends notice 64008 to every connection, as OKX does 30 s before an
  upgrade.

`markets` lists the instruments the simulated exchange lists; None lists every well-formed id.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from ..simulator import Session, SimulatorServer, serve_until_stopped, simulator_arguments

WELL_FORMED = re.compile(r"^[A-Z0-9]{1,16}(-[A-Z0-9]{1,16}){0,3}$")
CHANNELS = ("trades", "tickers")
IDLE_TIMEOUT = 30.0
UPGRADE_NOTICE = "The connection will soon be closed for a service upgrade. Please reconnect."


class OkxSimulator(SimulatorServer):
    def __init__(
        self,
        *,
        markets: Iterable[str] | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.markets = set(markets) if markets is not None else None
        self.idle_timeout = idle_timeout
        self.closed_idle = 0
        self.pings = 0
        self.tickers: dict[str, dict[str, Any]] = {}  # instId -> newest ticker
        self._last_ms = 0

    @property
    def last_timestamp(self) -> datetime:
        """The time of the newest data message generated so far (the epoch before the first)."""
        return datetime.fromtimestamp(self._last_ms / 1e3, tz=UTC)

    def listed(self, inst_id: object) -> bool:
        if not isinstance(inst_id, str):
            return False
        if self.markets is not None:
            return inst_id in self.markets
        return bool(WELL_FORMED.match(inst_id))

    async def session(self, session: Session) -> None:
        last_seen = [time.monotonic()]
        watchdog = asyncio.get_running_loop().create_task(self._watch_idle(session, last_seen))
        try:
            async for message in self.messages(session):
                last_seen[0] = time.monotonic()
                await self._on_message(session, message)
        finally:
            watchdog.cancel()

    async def _watch_idle(self, session: Session, last_seen: list[float]) -> None:
        step = min(1.0, self.idle_timeout / 10)
        while True:
            await asyncio.sleep(step)
            if session.symbols and self.rate > 0:
                last_seen[0] = time.monotonic()  # data is being pushed
            if time.monotonic() - last_seen[0] > self.idle_timeout:
                self.closed_idle += 1
                await session.connection.close(1000, "idle: no ping and no data for 30 s")
                return

    async def _on_message(self, session: Session, message: Any) -> None:
        conn_id = f"{id(session) & 0xFFFFFFFF:08x}"
        if message == "ping":
            self.pings += 1
            self._notify()
            await session.connection.send("pong")
            return
        op = message.get("op") if isinstance(message, dict) else None
        args = message.get("args") if isinstance(message, dict) else None
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            raw = message if isinstance(message, str) else orjson.dumps(message).decode()
            await self._error(session, "60012", f"Invalid request: {raw[:200]}", conn_id)
            return
        subscribed = False
        for arg in args:
            channel = arg.get("channel") if isinstance(arg, dict) else None
            inst_id = arg.get("instId") if isinstance(arg, dict) else None
            if channel not in CHANNELS or not self.listed(inst_id):
                await self._error(
                    session,
                    "60018",
                    f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist. Please use "
                    "the correct URL, channel and parameters referring to API document.",
                    conn_id,
                )
                continue
            key = f"{channel}|{inst_id}"
            reply = {"event": op, "arg": {"channel": channel, "instId": inst_id}, "connId": conn_id}
            await self.send_json(session, reply)
            if op == "unsubscribe":
                session.symbols.discard(key)
                continue
            if key not in session.symbols and channel == "tickers" and inst_id in self.tickers:
                await self.send_json(session, self._push("tickers", self.tickers[str(inst_id)]))
            session.symbols.add(key)
            subscribed = True
        if subscribed:
            self.start_streaming(session)

    async def _error(self, session: Session, code: str, message: str, conn_id: str) -> None:
        await self.send_json(
            session, {"event": "error", "code": code, "msg": message, "connId": conn_id}
        )

    def announce_upgrade(self) -> None:
        """Send notice 64008 to every connection (OKX: 30 s before a service upgrade)."""

        async def announce() -> None:
            for session in list(self.sessions):
                notice = {"event": "notice", "code": "64008", "msg": UPGRADE_NOTICE}
                await self.send_json(session, {**notice, "connId": f"{id(session) & 0xFFFF:04x}"})

        self.call(announce)

    @staticmethod
    def _push(channel: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"arg": {"channel": channel, "instId": data["instId"]}, "data": [data]}

    def event(self, key: str, timestamp_ns: int) -> dict[str, Any]:
        channel, inst_id = key.split("|", 1)
        sequence = self.next_sequence()
        self._last_ms = max(timestamp_ns // 10**6, self._last_ms + 1)
        price = 100.0 + (sequence % 1000) / 10
        if channel == "trades":
            data: dict[str, Any] = {
                "instId": inst_id,
                "tradeId": str(sequence),
                "px": f"{price:.1f}",
                "sz": f"{0.001 * (1 + sequence % 50):.8f}",
                "side": "buy" if sequence % 2 else "sell",
                "ts": str(self._last_ms),
                "count": "1",
            }
        else:
            data = {
                "instType": "SPOT",
                "instId": inst_id,
                "last": f"{price:.1f}",
                "lastSz": "0.1",
                "askPx": f"{price + 0.1:.1f}",
                "askSz": "11",
                "bidPx": f"{price - 0.1:.1f}",
                "bidSz": "5",
                "open24h": "100",
                "high24h": "210",
                "low24h": "99.5",
                "volCcy24h": "2222",
                "vol24h": "22.5",
                "sodUtc0": "101",
                "sodUtc8": "102",
                "ts": str(self._last_ms),
            }
            self.tickers[inst_id] = data
        return self._push(channel, data)

    def data_frame(self, symbol: str, timestamp_ns: int) -> str | None:
        return orjson.dumps(self.event(symbol, timestamp_ns)).decode()


def main(argv: list[str] | None = None) -> int:
    parser = simulator_arguments("Serve a simulated OKX v5 public websocket on loopback.", 8772)
    parser.add_argument("--market", action="append", help="list only these instIds (BTC-USDT)")
    parser.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT)
    args = parser.parse_args(argv)
    simulator = OkxSimulator(
        host=args.host,
        port=args.port,
        rate=args.rate,
        markets=args.market,
        idle_timeout=args.idle_timeout,
    )
    return serve_until_stopped(simulator, exit_on_stdin_eof=args.exit_on_stdin_eof)


if __name__ == "__main__":
    sys.exit(main())
