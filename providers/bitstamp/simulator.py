"""Simulator of Bitstamp's WebSocket API v2, built from the docs cited in `protocol.py`.

Run it alone with `python -m providers.bitstamp.simulator --port 0`; it prints
`listening on ws://127.0.0.1:<port>` once it accepts connections.

What it does (documented behaviour unless marked "assumed"):
- `bts:subscribe` / `bts:unsubscribe` for public channels `live_trades_`, `live_orders_`,
  `order_book_`, `detail_order_book_`, `diff_order_book_` + pair, answered with
  `bts:subscription_succeeded` / `bts:unsubscription_succeeded`;
- anything else gets `bts:error` (`"Incorrect JSON format."` for unreadable JSON, as a client
  captured; the wording for a well-formed but unknown request is assumed);
- `bts:heartbeat` answered with `{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}`
  (the reply's payload is as a client captured it);
- data only for subscribed channels: `trade` events on `live_trades_` (strictly increasing
  trade ids and microtimestamps) and `data` snapshots on `order_book_` (`book_depth` levels a
  side; Bitstamp sends 100). Other channel kinds are acknowledged but stay silent;
- `request_reconnect()` sends `bts:request_reconnect` to every connection and closes each one
  after `reconnect_grace` seconds unless the client left first ("a few seconds", per the docs).
"""

from __future__ import annotations

import asyncio
import re
import sys
from typing import Any

import orjson

from ..simulator import Session, SimulatorServer, serve_until_stopped, simulator_arguments

CHANNEL = re.compile(
    r"^(live_trades|live_orders|order_book|detail_order_book|diff_order_book)_[a-z0-9]+$"
)
STREAMING = ("live_trades_", "order_book_")


class BitstampSimulator(SimulatorServer):
    """Bitstamp's public channels. `reconnect_requests` counts `request_reconnect()` calls."""

    def __init__(self, *, reconnect_grace: float = 3.0, book_depth: int = 20, **kwargs: Any):
        super().__init__(**kwargs)
        self.reconnect_grace = reconnect_grace
        self.book_depth = book_depth
        self.reconnect_requests = 0
        self.heartbeats = 0
        self._trade_id = 0
        self._micros = 0
        self._closing: set[asyncio.Task[None]] = set()

    async def session(self, session: Session) -> None:
        async for message in self.messages(session):
            await self._on_message(session, message)

    async def _on_message(self, session: Session, message: Any) -> None:
        event = message.get("event") if isinstance(message, dict) else None
        data = message.get("data") if isinstance(message, dict) else None
        channel = data.get("channel") if isinstance(data, dict) else None
        if not isinstance(message, dict):
            await self._reply(
                session, "bts:error", "", {"code": None, "message": "Incorrect JSON format."}
            )
        elif event == "bts:heartbeat":
            self.heartbeats += 1
            await self._reply(session, "bts:heartbeat", "", {"status": "success"})
        elif (
            event in ("bts:subscribe", "bts:unsubscribe")
            and isinstance(channel, str)
            and CHANNEL.match(channel)
        ):
            if event == "bts:subscribe":
                session.symbols.add(channel)
                await self._reply(session, "bts:subscription_succeeded", channel, {})
                self.start_streaming(session)
            else:
                session.symbols.discard(channel)
                await self._reply(session, "bts:unsubscription_succeeded", channel, {})
            self._notify()
        else:  # assumed wording: the docs only say such messages "result in an error response"
            await self._reply(
                session, "bts:error", "", {"code": None, "message": "Bad subscription string."}
            )

    async def _reply(self, session: Session, event: str, channel: str, data: Any) -> None:
        await self.send_json(session, {"event": event, "channel": channel, "data": data})

    # -- server-side actions ----------------------------------------------------------------------

    def request_reconnect(self) -> None:
        """Ask every client to reconnect; close the ones still there after the grace period."""

        async def ask() -> None:
            self.reconnect_requests += 1
            loop = asyncio.get_running_loop()
            for session in list(self.sessions):
                await self._reply(session, "bts:request_reconnect", "", "")
                # A timer, not a sleeping task: stopping the simulator simply drops it.
                loop.call_later(self.reconnect_grace, self._close, session, "reconnect requested")

        self.call(ask)

    def _close(self, session: Session, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(session.connection.close(1001, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # -- data -------------------------------------------------------------------------------------

    @property
    def last_trade_id(self) -> int:
        return self._trade_id

    def _microtimestamp(self, timestamp_ns: int) -> int:
        self._micros = max(timestamp_ns // 1000, self._micros + 1)
        return self._micros

    def data_frame(self, symbol: str, timestamp_ns: int) -> str | None:
        """One frame for channel `symbol` (the session's symbols are channel names)."""
        if not symbol.startswith(STREAMING):
            self.next_sequence()  # move the streaming loop on to the next channel
            return None  # acknowledged, but this simulator streams trades and order books only
        return orjson.dumps(self.event(symbol, timestamp_ns)).decode()

    def event(self, channel: str, timestamp_ns: int) -> dict[str, Any]:
        sequence = self.next_sequence()
        micros = self._microtimestamp(timestamp_ns)
        price = 100.0 + (sequence % 1000) / 100
        stamps = {"timestamp": str(micros // 1_000_000), "microtimestamp": str(micros)}
        if channel.startswith("order_book_"):
            # The top changes every other message, so quotes are made for half of them.
            top = price if sequence % 2 else price - 0.01
            levels = range(self.book_depth)
            book = {
                "bids": [[f"{top - 0.01 * (i + 1):.2f}", f"{0.5 + i:.8f}"] for i in levels],
                "asks": [[f"{top + 0.01 * (i + 1):.2f}", f"{0.25 + i:.8f}"] for i in levels],
            }
            return {"data": stamps | book, "channel": channel, "event": "data"}
        self._trade_id += 1
        amount = 0.001 * (1 + sequence % 9)
        trade = {
            "id": self._trade_id,
            "amount": amount,
            "amount_str": f"{amount:.8f}",
            "price": price,
            "price_str": f"{price:.2f}",
            "type": sequence % 2,
            "buy_order_id": 2 * self._trade_id,
            "sell_order_id": 2 * self._trade_id + 1,
        }
        return {"data": stamps | trade, "channel": channel, "event": "trade"}


def main(argv: list[str] | None = None) -> int:
    parser = simulator_arguments("Serve a simulated Bitstamp websocket on loopback.", 8768)
    parser.add_argument("--reconnect-grace", type=float, default=3.0)
    args = parser.parse_args(argv)
    simulator = BitstampSimulator(
        host=args.host, port=args.port, rate=args.rate, reconnect_grace=args.reconnect_grace
    )
    return serve_until_stopped(simulator, exit_on_stdin_eof=args.exit_on_stdin_eof)


if __name__ == "__main__":
    sys.exit(main())
