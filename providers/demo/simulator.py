"""Simulator of the demo market; also the server behind `feeddock demo`.

Run it alone with `python -m providers.demo.simulator --port 0`; it prints
`listening on ws://127.0.0.1:<port>` once it accepts connections.
"""

from __future__ import annotations

import asyncio
import random
import re
import sys
import time
from typing import Any

import orjson

from ..simulator import Session, SimulatorServer, serve_until_stopped, simulator_arguments

UNIVERSE = ("AAPL", "MSFT", "NVDA", "SPY", "BTCUSD", "ETHUSD", "EURUSD", "USDJPY")
VALID_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.:/-]{0,19}$")
HEARTBEAT_SECONDS = 5.0


class DemoSimulator(SimulatorServer):
    """The demo market. `flood()` pushes a burst of trades for benchmarks."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.feeds: dict[int, list[str]] = {}
        self.prices: dict[str, float] = {}
        self.random = random.Random(7)

    async def session(self, session: Session) -> None:
        await self._status(session, "connected", "feeddock demo market")
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(session))
        try:
            async for message in self.messages(session):
                await self._on_message(session, message)
        finally:
            heartbeat.cancel()

    async def _on_message(self, session: Session, message: Any) -> None:
        action = message.get("action") if isinstance(message, dict) else None
        if action == "login":
            if self.key_is_valid(message.get("key")):
                session.authorized = True
                await self._status(session, "authorized", "logged in")
            else:
                await self._status(session, "unauthorized", "invalid key")
                await session.connection.close(1008, "invalid key")
        elif not session.authorized:
            await self._status(session, "error", "not logged in")
        elif action in ("subscribe", "unsubscribe"):
            await self._change(session, action, message)
        else:
            await self._status(session, "error", f"unknown action: {action!r}")

    async def _change(self, session: Session, action: str, message: dict[str, Any]) -> None:
        symbols = message.get("symbols")
        if not isinstance(symbols, list) or not symbols:
            await self._status(session, "error", "symbols must be a non-empty list")
            return
        bad = [s for s in symbols if s != "*" and not VALID_SYMBOL.match(str(s))]
        if bad:
            await self._status(session, "error", f"invalid symbol: {','.join(map(str, bad))}")
            return
        expanded = set(UNIVERSE) if "*" in symbols else set(symbols)
        if action == "subscribe":
            session.symbols |= expanded
            self.feeds[id(session)] = list(message.get("feeds") or ["trade", "quote"])
            await self._status(session, "subscribed", f"subscribed to: {','.join(symbols)}")
            self.start_streaming(session)
        else:
            session.symbols -= expanded
            await self._status(session, "unsubscribed", f"unsubscribed from: {','.join(symbols)}")

    async def _status(self, session: Session, status: str, message: str) -> None:
        await self.send_json(session, [{"ev": "status", "status": status, "message": message}])

    async def _heartbeat(self, session: Session) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self.send_json(session, [{"ev": "heartbeat"}])

    def event(self, symbol: str, timestamp_ns: int, kind: str = "trade") -> dict[str, Any]:
        """One trade or quote; prices follow a random walk per symbol (seeded, repeatable)."""
        sequence = self.next_sequence()
        price = self.prices.get(symbol) or 50.0 + sum(map(ord, symbol)) % 400
        price = max(0.01, price * (1 + self.random.gauss(0, 0.0005)))
        self.prices[symbol] = price
        if kind == "quote":
            spread = max(0.01, round(price * 0.0002, 2))
            return {
                "ev": "quote",
                "sym": symbol,
                "t": timestamp_ns,
                "bp": round(price - spread / 2, 2),
                "bs": self.random.randrange(1, 20) * 100,
                "ap": round(price + spread / 2, 2),
                "as": self.random.randrange(1, 20) * 100,
                "x": "DEMO",
                "q": sequence,
            }
        return {
            "ev": "trade",
            "sym": symbol,
            "t": timestamp_ns,
            "p": round(price, 2),
            "s": self.random.randrange(1, 50) * 10,
            "x": "DEMO",
            "q": sequence,
        }

    def data_frame(self, symbol: str, timestamp_ns: int) -> str | None:
        feeds = next(iter(self.feeds.values()), ["trade", "quote"])
        kind = feeds[self.random.randrange(len(feeds))]
        return orjson.dumps([self.event(symbol, timestamp_ns, kind)]).decode()

    def flood(self, count: int, batch: int = 100, rate: float | None = None) -> float:
        """Send `count` trades in frames of `batch` to every subscribed session.

        With `rate` (messages/s) frames are paced; without it they go as fast as possible.
        Each trade's `t` is the time its frame is sent. Returns the seconds the burst took.
        """

        async def burst() -> float:
            start = time.perf_counter()
            sent = 0
            while sent < count:
                size = min(batch, count - sent)
                now = time.time_ns()
                for session in list(self.sessions):
                    if not session.symbols:
                        continue
                    symbol = next(iter(session.symbols))
                    events = [self.event(symbol, now) for _ in range(size)]
                    await session.connection.send(orjson.dumps(events).decode())
                sent += size
                if rate:
                    delay = start + sent / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                else:
                    await asyncio.sleep(0)
            return time.perf_counter() - start

        return float(self.call(burst, timeout=max(60.0, count / 1000)))


def main(argv: list[str] | None = None) -> int:
    parser = simulator_arguments("Serve the feeddock demo market on loopback.")
    args = parser.parse_args(argv)
    simulator = DemoSimulator(host=args.host, port=args.port, rate=args.rate, api_keys=args.api_key)
    return serve_until_stopped(simulator, exit_on_stdin_eof=args.exit_on_stdin_eof)


if __name__ == "__main__":
    sys.exit(main())
