"""Simulator of Kraken's Spot WebSocket v2 public feed, built from the pages cited in `protocol.py`.

Run it alone with `python -m providers.kraken.simulator --port 0`; it prints
`listening on ws://127.0.0.1:<port>` once it accepts connections.

What it does (assumed where Kraken publishes nothing, as marked):
- greets every connection with a `status` update (`system` "online");
- answers `subscribe`/`unsubscribe` with one reply per pair, `success` true or false with
  Kraken's error text ("Currency pair not supported XYZ/USD"; "Subscription Not Found" and the
  wording for an unknown channel or method are assumed);
- sends `{"channel":"heartbeat"}` every `heartbeat_seconds` once anything is subscribed;
- answers `{"method":"ping"}` with `pong`;
- streams `trade` and `ticker` updates only for subscribed pairs and channels; timestamps
  strictly increase across the simulator and `trade_id` is a global sequence, so tests can use
  them as unique keys.

`markets` lists the pairs the simulated exchange lists; None lists every well-formed symbol
(`BTC/USD`, or a plain `AAPL`: the contract suite streams `aapl` from every simulator).
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

WELL_FORMED = re.compile(r"^[A-Z0-9]{1,16}(/[A-Z0-9]{1,16})?$")
CHANNELS = ("trade", "ticker")
HEARTBEAT_SECONDS = 1.0


def rfc3339(timestamp_us: int) -> str:
    return datetime.fromtimestamp(timestamp_us / 1e6, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class KrakenSimulator(SimulatorServer):
    def __init__(
        self,
        *,
        markets: Iterable[str] | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.markets = set(markets) if markets is not None else None
        self.heartbeat_seconds = heartbeat_seconds
        self._last_us = 0

    @property
    def last_timestamp(self) -> datetime:
        """The time of the newest data message generated so far (the epoch before the first)."""
        return datetime.fromtimestamp(self._last_us / 1e6, tz=UTC)

    def listed(self, pair: str) -> bool:
        if self.markets is not None:
            return pair in self.markets
        return bool(WELL_FORMED.match(pair))

    async def session(self, session: Session) -> None:
        await self.send_json(
            session,
            {
                "channel": "status",
                "type": "update",
                "data": [
                    {
                        "api_version": "v2",
                        "connection_id": 1000 + self.connections_opened,
                        "system": "online",
                        "version": "2.0.0",
                    }
                ],
            },
        )
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(session))
        try:
            async for message in self.messages(session):
                await self._on_message(session, message)
        finally:
            heartbeat.cancel()

    async def _on_message(self, session: Session, message: Any) -> None:
        method = message.get("method") if isinstance(message, dict) else None
        stamp = rfc3339(time.time_ns() // 1000)
        times = {"time_in": stamp, "time_out": stamp}
        if method == "ping":
            await self.send_json(
                session, {"method": "pong", "req_id": message.get("req_id"), **times}
            )
        elif method in ("subscribe", "unsubscribe"):
            await self._change(session, method, message.get("params"), times)
        else:  # wording assumed
            await self.send_json(
                session,
                {"error": f"Unsupported method {method!r}", "success": False, **times},
            )

    async def _change(
        self, session: Session, method: str, params: object, times: dict[str, str]
    ) -> None:
        channel = params.get("channel") if isinstance(params, dict) else None
        pairs = params.get("symbol") if isinstance(params, dict) else None
        if channel not in CHANNELS or not isinstance(pairs, list) or not pairs:
            reason = (
                f"Channel not supported {channel}"
                if channel not in CHANNELS
                else ("symbol must be a non-empty list of currency pairs")
            )
            await self.send_json(
                session, {"error": reason, "method": method, "success": False, **times}
            )
            return
        assert isinstance(params, dict)
        for pair in pairs:
            key = f"{channel}|{pair}"
            error = None
            if not isinstance(pair, str) or not self.listed(pair):
                error = f"Currency pair not supported {pair}"
            elif method == "unsubscribe" and key not in session.symbols:
                error = "Subscription Not Found"
            if error is not None:
                reply = {"error": error, "method": method, "success": False, "symbol": pair}
                await self.send_json(session, {**reply, **times})
                continue
            result: dict[str, Any] = {"channel": channel, "symbol": pair}
            if method == "subscribe":
                session.symbols.add(key)
                result["snapshot"] = bool(params.get("snapshot", channel == "ticker"))
                if channel == "ticker":
                    result["event_trigger"] = params.get("event_trigger", "trades")
            else:
                session.symbols.discard(key)
            await self.send_json(
                session, {"method": method, "result": result, "success": True, **times}
            )
        if method == "subscribe":
            self.start_streaming(session)

    async def _heartbeat(self, session: Session) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            if session.symbols:
                await self.send_json(session, {"channel": "heartbeat"})

    def _timestamp(self, timestamp_ns: int) -> str:
        self._last_us = max(timestamp_ns // 1000, self._last_us + 1)
        return rfc3339(self._last_us)

    def event(self, key: str, timestamp_ns: int) -> dict[str, Any]:
        channel, pair = key.split("|", 1)
        sequence = self.next_sequence()
        price = round(100.0 + (sequence % 1000) / 10, 1)
        stamp = self._timestamp(timestamp_ns)
        if channel == "trade":
            data: dict[str, Any] = {
                "symbol": pair,
                "side": "buy" if sequence % 2 else "sell",
                "price": price,
                "qty": round(0.001 * (1 + sequence % 50), 8),
                "ord_type": "limit" if sequence % 3 else "market",
                "trade_id": sequence,
                "timestamp": stamp,
            }
        else:
            data = {
                "symbol": pair,
                "bid": round(price - 0.1, 1),
                "bid_qty": 1.5,
                "ask": round(price + 0.1, 1),
                "ask_qty": 0.75,
                "last": price,
                "volume": 1234.5,
                "vwap": 150.2,
                "low": 100.0,
                "high": 200.0,
                "change": 1.2,
                "change_pct": 0.8,
                "timestamp": stamp,
            }
        return {"channel": channel, "type": "update", "data": [data]}

    def data_frame(self, symbol: str, timestamp_ns: int) -> str | None:
        return orjson.dumps(self.event(symbol, timestamp_ns)).decode()


def main(argv: list[str] | None = None) -> int:
    parser = simulator_arguments("Serve a simulated Kraken v2 public websocket on loopback.", 8770)
    parser.add_argument("--market", action="append", help="list only these pairs (BTC/USD)")
    parser.add_argument("--heartbeat-seconds", type=float, default=HEARTBEAT_SECONDS)
    args = parser.parse_args(argv)
    simulator = KrakenSimulator(
        host=args.host,
        port=args.port,
        rate=args.rate,
        markets=args.market,
        heartbeat_seconds=args.heartbeat_seconds,
    )
    return serve_until_stopped(simulator, exit_on_stdin_eof=args.exit_on_stdin_eof)


if __name__ == "__main__":
    sys.exit(main())
