"""Simulator of the Polygon (Massive) WebSocket server, built from its public documentation.

Run it alone with `python -m providers.polygon.simulator --port 0`; it prints
`listening on ws://127.0.0.1:<port>` once it accepts connections. Connect to
`ws://127.0.0.1:<port>/<market>` (stocks, options, forex, crypto, indices) to have topics checked
against that market's channels; on `/` every channel of every market is accepted.

Verbatim from the sources (official client, its mock server and spec, third-party logs):
`connected`, `auth_success`/`authenticated`, `auth_failed`/`authentication failed`,
`auth_timeout`/`No authentication request received.`, `success`/`subscribed to: T.AAPL`,
`unsubscribed to: T.AAPL` and `error`/`not authorized` (a topic outside the plan).
Constructed (not documented): the close codes, the `error` reply to a malformed topic or an
action before auth, and the auth timeout length. Polygon sends no application heartbeat
(keep-alive is WebSocket ping/pong, which `websockets` answers itself).
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from ..simulator import Session, SimulatorServer, serve_until_stopped, simulator_arguments

MARKET_CHANNELS = {
    "stocks": {"T", "Q", "A", "AM"},
    "options": {"T", "Q", "A", "AM"},
    "forex": {"C", "CA", "CAS"},
    "crypto": {"XT", "XQ", "XA", "XAS"},
    "indices": {"V", "A", "AM"},
}
ALL_CHANNELS = set().union(*MARKET_CHANNELS.values())
# Ticker syntax per channel family (a wrong one gets an error reply).
TICKERS = {
    "stock": re.compile(r"^[A-Z][A-Z0-9.]{0,9}$"),
    "option": re.compile(r"^O:[A-Z]{1,6}\d{6}[CP]\d{8}$"),
    "index": re.compile(r"^I:[A-Z0-9.]{1,12}$"),
    "forex": re.compile(r"^[A-Z]{3}/[A-Z]{3}$"),
    "crypto": re.compile(r"^[A-Z0-9]{2,10}-[A-Z]{3,4}$"),
}
UNIVERSE = {
    "stock": ("AAPL", "MSFT", "NVDA"),
    "option": ("O:SPY241220P00720000",),
    "index": ("I:SPX", "I:NDX"),
    "forex": ("EUR/USD", "USD/JPY"),
    "crypto": ("BTC-USD", "ETH-USD"),
}
BATCH_EVERY = 4  # every 4th frame batches 3 events (of different topics when there are)


def family(channel: str, ticker: str) -> str:
    if channel in ("C", "CA", "CAS"):
        return "forex"
    if channel.startswith("X"):
        return "crypto"
    if ticker.startswith("O:"):
        return "option"
    if ticker.startswith("I:") or channel == "V":
        return "index"
    return "stock"


class PolygonSimulator(SimulatorServer):
    """Polygon's server. `denied_channels` are outside the key's plan ("not authorized")."""

    def __init__(
        self,
        *,
        denied_channels: Iterable[str] = (),
        auth_timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.denied_channels = set(denied_channels)
        self.auth_timeout = auth_timeout
        self.frames: list[str] = []  # every client frame, verbatim

    async def messages(self, session: Session) -> AsyncIterator[Any]:
        async for raw in session.connection:
            text = raw if isinstance(raw, str) else raw.decode(errors="replace")
            try:
                message: Any = orjson.loads(raw)
            except orjson.JSONDecodeError:
                message = text
            self.frames.append(text)
            self.received.append(message)
            self._notify()
            yield message

    async def session(self, session: Session) -> None:
        path = session.connection.request.path if session.connection.request else "/"
        channels = MARKET_CHANNELS.get(path.strip("/").split("/")[0], ALL_CHANNELS)
        await self._status(session, "connected", "Connected Successfully")
        timer = asyncio.get_running_loop().create_task(self._auth_timer(session))
        try:
            async for message in self.messages(session):
                await self._on_message(session, message, channels)
        finally:
            timer.cancel()

    async def _auth_timer(self, session: Session) -> None:
        await asyncio.sleep(self.auth_timeout)
        if not session.authorized:
            await self._status(session, "auth_timeout", "No authentication request received.")
            await session.connection.close(1008, "authentication timeout")

    async def _on_message(self, session: Session, message: Any, channels: set[str]) -> None:
        action = message.get("action") if isinstance(message, dict) else None
        params = message.get("params") if isinstance(message, dict) else None
        if action == "auth":
            if self.key_is_valid(params):
                session.authorized = True
                await self._status(session, "auth_success", "authenticated")
            else:
                await self._status(session, "auth_failed", "authentication failed")
                await session.connection.close(1008, "authentication failed")
        elif not session.authorized:
            await self._status(session, "error", "not authenticated")
        elif action in ("subscribe", "unsubscribe") and isinstance(params, str):
            await self._change(session, action, params, channels)
        else:
            await self._status(session, "error", f"invalid action or params: {message!r}")

    async def _change(self, session: Session, action: str, params: str, channels: set[str]) -> None:
        # One status frame per topic, as the official client's mock server answers.
        for topic in filter(None, (item.strip() for item in params.split(","))):
            channel, _, ticker = topic.partition(".")
            if channel not in channels or not (
                ticker == "*" or TICKERS[family(channel, ticker)].match(ticker)
            ):
                await self._status(session, "error", f"invalid topic: {topic}")
            elif channel in self.denied_channels:
                await self._status(session, "error", "not authorized")
            elif action == "subscribe":
                session.symbols.add(topic)
                await self._status(session, "success", f"subscribed to: {topic}")
            else:
                session.symbols.discard(topic)
                await self._status(session, "success", f"unsubscribed to: {topic}")
        if action == "subscribe":
            self.start_streaming(session)

    async def _status(self, session: Session, status: str, message: str) -> None:
        await self.send_json(session, [{"ev": "status", "status": status, "message": message}])

    # -- data --------------------------------------------------------------------------------

    def start_streaming(self, session: Session) -> None:
        if session.streamer is None and self.rate > 0:
            session.streamer = asyncio.get_running_loop().create_task(self._stream_all(session))

    async def _stream_all(self, session: Session) -> None:
        interval = 1.0 / self.rate
        next_tick = time.monotonic()
        frames = 0
        while True:
            next_tick += interval
            topics = sorted(session.symbols)
            if topics:
                frames += 1
                size = 3 if frames % BATCH_EVERY == 0 else 1
                start = frames % len(topics)
                picked = [topics[(start + n) % len(topics)] for n in range(size)]
                now_ms = time.time_ns() // 1_000_000
                events = [self.event(topic, now_ms) for topic in picked]
                await session.connection.send(orjson.dumps(events).decode())
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))

    def data_frame(self, symbol: str, timestamp_ns: int) -> str | None:
        return orjson.dumps([self.event(symbol, timestamp_ns // 1_000_000)]).decode()

    def event(self, topic: str, t: int) -> dict[str, Any]:
        """One data event in Polygon's wire format for a topic such as `T.AAPL` or `XQ.*`."""
        channel, _, ticker = topic.partition(".")
        kind = family(channel, ticker)
        seq = self.next_sequence()
        if ticker == "*":
            ticker = UNIVERSE[kind][seq % len(UNIVERSE[kind])]
        price = round(100.0 + (seq % 1000) / 100, 2)
        low, high = round(price - 0.05, 2), round(price + 0.05, 2)
        key = "pair" if kind in ("forex", "crypto") else "sym"
        if channel == "T":
            return {
                "ev": "T", "sym": ticker, "i": str(seq), "x": 10, "p": price, "s": 100,
                "c": [14, 41], "t": t, "q": seq, "z": 3,
            }  # fmt: skip
        if channel == "Q":
            return {
                "ev": "Q", "sym": ticker, "bx": 4, "bp": low, "bs": 100, "ax": 7, "ap": high,
                "as": 160, "c": 0, "i": [604], "t": t, "q": seq, "z": 3,
            }  # fmt: skip
        if channel == "C":
            return {"ev": "C", "p": ticker, "x": 48, "a": high, "b": low, "t": t}
        if channel == "XT":
            return {
                "ev": "XT", "pair": ticker, "p": price, "t": t, "s": 0.5, "c": [2], "i": seq,
                "x": 1, "r": t + 5,
            }  # fmt: skip
        if channel == "XQ":
            return {
                "ev": "XQ", "pair": ticker, "bp": low, "bs": 0.48, "ap": high, "as": 0.601,
                "t": t, "x": 1, "r": t + 5,
            }  # fmt: skip
        if channel == "V":
            return {"ev": "V", "val": price, "T": ticker, "t": t}
        width = 1000 if channel in ("A", "CAS", "XAS") else 60_000
        start = t - t % width
        aggregate: dict[str, Any] = {
            "ev": channel, key: ticker, "v": 4110, "vw": price, "o": price, "c": high, "h": high,
            "l": low, "z": 685, "s": start, "e": start + width,
        }  # fmt: skip
        if kind in ("stock", "option", "index"):
            aggregate.update(av=9_470_157 + seq, op=100.0, a=low)
        return aggregate


def main(argv: list[str] | None = None) -> int:
    parser = simulator_arguments("Serve a Polygon WebSocket simulator on loopback.")
    parser.add_argument("--deny-channel", action="append", default=[], help="e.g. Q")
    parser.add_argument("--auth-timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    simulator = PolygonSimulator(
        host=args.host,
        port=args.port,
        rate=args.rate,
        api_keys=args.api_key,
        denied_channels=args.deny_channel,
        auth_timeout=args.auth_timeout,
    )
    return serve_until_stopped(simulator, exit_on_stdin_eof=args.exit_on_stdin_eof)


if __name__ == "__main__":
    sys.exit(main())
