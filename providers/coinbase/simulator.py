"""Simulator of the Coinbase Exchange WebSocket feed, built from the pages cited in `protocol.py`.

Run it alone with `python -m providers.coinbase.simulator --port 0`; it prints
`listening on ws://127.0.0.1:<port>` once it accepts connections.

What it does (assumed where Coinbase publishes nothing, as marked):
- closes a connection that has not subscribed within `subscribe_timeout` seconds (5 s, the
  documented rule; close code 1000 and reason assumed); `closed_without_subscribe` counts them;
- answers every subscribe/unsubscribe with the full `subscriptions` list; a request naming an
  unknown product fails whole with `{"type":"error","message":"Failed to subscribe",
  "reason":"XYZ-USD is not a valid product"}`; channels that need a key (full, level2, level3,
  user, rfq_matches) are refused (reason wording assumed);
- accepts channels as names (applied to `product_ids`) or as `{"name", "product_ids"}` objects;
- after a `matches` subscribe sends `last_match` restating the product's newest trade, and after
  a `ticker` subscribe a ticker for it, as Coinbase does (so clients see repeats to drop);
- streams `match` and `ticker` messages only for subscribed products and channels (each tick is
  one new trade, reported on the channel being served); `trade_id` increases per product;
- sends `heartbeat` messages every `heartbeat_seconds` for products subscribed to `heartbeat`.

`markets` lists the products the simulated exchange lists; None lists every well-formed id.
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

WELL_FORMED = re.compile(r"^[A-Z0-9]{1,16}(-[A-Z0-9]{1,16})?$")
PUBLIC_CHANNELS = ("matches", "ticker", "heartbeat")
KEYED_CHANNELS = ("full", "level2", "level3", "user", "rfq_matches")
SUBSCRIBE_TIMEOUT = 5.0
HEARTBEAT_SECONDS = 1.0


def iso(timestamp_us: int) -> str:
    return datetime.fromtimestamp(timestamp_us / 1e6, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CoinbaseSimulator(SimulatorServer):
    def __init__(
        self,
        *,
        markets: Iterable[str] | None = None,
        subscribe_timeout: float = SUBSCRIBE_TIMEOUT,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.markets = set(markets) if markets is not None else None
        self.subscribe_timeout = subscribe_timeout
        self.heartbeat_seconds = heartbeat_seconds
        self.closed_without_subscribe = 0
        # Seconds from each connection's open to its first subscribe message.
        self.subscribe_delays: list[float] = []
        self.trades: dict[str, dict[str, Any]] = {}  # product -> newest trade
        self._heartbeats: dict[int, set[str]] = {}
        self._last_us = 0

    @property
    def last_timestamp(self) -> datetime:
        """The time of the newest data message generated so far (the epoch before the first)."""
        return datetime.fromtimestamp(self._last_us / 1e6, tz=UTC)

    def listed(self, product: object) -> bool:
        if not isinstance(product, str):
            return False
        if self.markets is not None:
            return product in self.markets
        return bool(WELL_FORMED.match(product))

    async def session(self, session: Session) -> None:
        opened = time.monotonic()
        loop = asyncio.get_running_loop()
        watchdog = loop.create_task(self._close_unless_subscribed(session))
        heartbeat = loop.create_task(self._heartbeat(session))
        try:
            async for message in self.messages(session):
                kind = message.get("type") if isinstance(message, dict) else None
                if kind == "subscribe" and not watchdog.done():
                    watchdog.cancel()
                    self.subscribe_delays.append(time.monotonic() - opened)
                await self._on_message(session, message)
        finally:
            watchdog.cancel()
            heartbeat.cancel()
            self._heartbeats.pop(id(session), None)

    async def _close_unless_subscribed(self, session: Session) -> None:
        await asyncio.sleep(self.subscribe_timeout)
        self.closed_without_subscribe += 1
        await session.connection.close(1000, "no subscribe within 5 seconds")

    async def _on_message(self, session: Session, message: Any) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind not in ("subscribe", "unsubscribe"):
            await self._error(session, f"Unexpected message type {kind!r}", "malformed request")
            return
        assert isinstance(message, dict)
        wanted = self._wanted(message)
        if isinstance(wanted, str):
            failed = "Failed to subscribe" if kind == "subscribe" else "Failed to unsubscribe"
            await self._error(session, failed, wanted)
            return
        heartbeats = self._heartbeats.setdefault(id(session), set())
        restated: list[dict[str, Any]] = []
        for channel, product in wanted:
            key = f"{channel}|{product}"
            if kind == "unsubscribe":
                session.symbols.discard(key)
                heartbeats.discard(product)
            elif channel == "heartbeat":
                heartbeats.add(product)
            elif key not in session.symbols:
                session.symbols.add(key)
                if product in self.trades:
                    restated.append(self._restate(channel, self.trades[product]))
        await self.send_json(session, self._subscriptions(session))
        for frame in restated:
            await self.send_json(session, frame)
        if kind == "subscribe":
            self.start_streaming(session)

    def _wanted(self, message: dict[str, Any]) -> list[tuple[str, str]] | str:
        """(channel, product) pairs, or the reason the whole request fails."""
        products = message.get("product_ids") or []
        channels = message.get("channels")
        if not isinstance(products, list) or not isinstance(channels, list) or not channels:
            return "product_ids and channels must be lists"
        wanted: list[tuple[str, str]] = []
        for channel in channels:
            name = channel.get("name") if isinstance(channel, dict) else channel
            ids = channel.get("product_ids", products) if isinstance(channel, dict) else products
            if name in KEYED_CHANNELS:
                return f"{name} channel requires authentication"
            if name not in PUBLIC_CHANNELS:
                return f"{name} is not a valid channel"
            if not ids:
                return f"You need to specify at least one product ID for channel {name}"
            for product in ids:
                if not self.listed(product):
                    return f"{product} is not a valid product"
                wanted.append((str(name), str(product)))
        return wanted

    def _subscriptions(self, session: Session) -> dict[str, Any]:
        by_channel: dict[str, list[str]] = {}
        for key in sorted(session.symbols):
            channel, product = key.split("|", 1)
            by_channel.setdefault(channel, []).append(product)
        heartbeats = sorted(self._heartbeats.get(id(session), ()))
        if heartbeats:
            by_channel["heartbeat"] = heartbeats
        channels = [{"name": name, "product_ids": ids} for name, ids in by_channel.items()]
        return {"type": "subscriptions", "channels": channels}

    async def _error(self, session: Session, message: str, reason: str) -> None:
        await self.send_json(session, {"type": "error", "message": message, "reason": reason})

    async def _heartbeat(self, session: Session) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            for product in sorted(self._heartbeats.get(id(session), ())):
                trade = self.trades.get(product, {})
                await self.send_json(
                    session,
                    {
                        "type": "heartbeat",
                        "sequence": trade.get("sequence", 0),
                        "last_trade_id": trade.get("trade_id", 0),
                        "product_id": product,
                        "time": iso(time.time_ns() // 1000),
                    },
                )

    @staticmethod
    def _restate(channel: str, trade: dict[str, Any]) -> dict[str, Any]:
        if channel == "matches":
            return {**trade, "type": "last_match"}
        return CoinbaseSimulator._ticker(trade)

    @staticmethod
    def _ticker(trade: dict[str, Any]) -> dict[str, Any]:
        price = float(trade["price"])
        return {
            "type": "ticker",
            "sequence": trade["sequence"],
            "product_id": trade["product_id"],
            "price": trade["price"],
            "open_24h": "100.00",
            "volume_24h": "1234.56789",
            "low_24h": "99.50",
            "high_24h": "210.00",
            "volume_30d": "98765.4321",
            "best_bid": f"{price - 0.01:.2f}",
            "best_bid_size": "0.50000000",
            "best_ask": f"{price + 0.01:.2f}",
            "best_ask_size": "0.25000000",
            "side": "buy" if trade["side"] == "sell" else "sell",  # ticker: taker side
            "time": trade["time"],
            "trade_id": trade["trade_id"],
            "last_size": trade["size"],
        }

    def new_trade(self, product: str, timestamp_ns: int) -> dict[str, Any]:
        """The next trade on `product`: trade_id and time strictly increase."""
        sequence = self.next_sequence()
        previous = self.trades.get(product, {})
        self._last_us = max(timestamp_ns // 1000, self._last_us + 1)
        trade = {
            "type": "match",
            "trade_id": int(previous.get("trade_id", 0)) + 1,
            "sequence": sequence,
            "maker_order_id": f"maker-{sequence}",
            "taker_order_id": f"taker-{sequence}",
            "time": iso(self._last_us),
            "product_id": product,
            "size": f"{0.001 * (1 + sequence % 50):.8f}",
            "price": f"{100.0 + (sequence % 1000) / 10:.2f}",
            "side": "buy" if sequence % 2 else "sell",  # the maker's side
        }
        self.trades[product] = trade
        return trade

    def data_frame(self, symbol: str, timestamp_ns: int) -> str | None:
        channel, product = symbol.split("|", 1)
        trade = self.new_trade(product, timestamp_ns)
        frame = trade if channel == "matches" else self._ticker(trade)
        return orjson.dumps(frame).decode()


def main(argv: list[str] | None = None) -> int:
    parser = simulator_arguments("Serve a simulated Coinbase Exchange feed on loopback.", 8771)
    parser.add_argument("--market", action="append", help="list only these products (BTC-USD)")
    parser.add_argument("--subscribe-timeout", type=float, default=SUBSCRIBE_TIMEOUT)
    parser.add_argument("--heartbeat-seconds", type=float, default=HEARTBEAT_SECONDS)
    args = parser.parse_args(argv)
    simulator = CoinbaseSimulator(
        host=args.host,
        port=args.port,
        rate=args.rate,
        markets=args.market,
        subscribe_timeout=args.subscribe_timeout,
        heartbeat_seconds=args.heartbeat_seconds,
    )
    return serve_until_stopped(simulator, exit_on_stdin_eof=args.exit_on_stdin_eof)


if __name__ == "__main__":
    sys.exit(main())
