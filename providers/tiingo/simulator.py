"""Simulator of Tiingo's firehose WebSockets on loopback: `/iex`, `/fx` and `/crypto`.

Run it alone with `python -m providers.tiingo.simulator --port 0`; it prints
`listening on ws://127.0.0.1:<port>`. Behaviour, as documented by Tiingo unless marked:

- nothing is sent until the client's first `subscribe`, whose `authorization` is checked:
  a bad token gets `{"messageType":"E","response":{"code":401,"message":"Not authorized"}}` and a
  close (the code and text are unverified; Tiingo's documented 403 text is
  "Not authorized for service: boats");
- a valid first subscribe gets `I` with `data.subscriptionId`; later requests naming that id
  add or remove tickers and get `I` with the remaining `tickers` and `thresholdLevel`;
- a bad `thresholdLevel` gets `E` 400 "thresholdLevel not valid"; a malformed ticker, an unknown
  subscriptionId or eventName get `E` 400 (constructed texts);
- `H` heartbeats every `heartbeat_seconds` (Tiingo's period is undocumented; 30 s by default);
- data at `rate` for the subscribed tickers only (`*` or no tickers: the whole universe),
  shaped by the service and the thresholdLevel. Every message has a distinct time: IEX's
  epoch-nanosecond field and the ISO dates strictly increase, so duplicates are detectable.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from ..simulator import Session, SimulatorServer, serve_until_stopped, simulator_arguments

SERVICES = {"/iex": "iex", "/fx": "fx", "/crypto": "crypto_data"}
LEVELS = {"iex": (0, 5, 6), "fx": (5,), "crypto_data": (2, 5)}
UNIVERSE = {
    "iex": ("aapl", "msft", "spy", "uso", "vym"),
    "fx": ("eurusd", "gbpusd", "usdjpy"),
    "crypto_data": ("btcusd", "ethusd", "solusd"),
}
VALID_TICKER = re.compile(r"^[a-z0-9][a-z0-9.\-]{0,19}$")
NEW_YORK = ZoneInfo("America/New_York")
FIRST_SUBSCRIPTION_ID = 13706


@dataclass
class Subscription:
    service: str
    level: int
    id: int
    everything: bool = False
    tickers: set[str] = field(default_factory=set)


def _reply(kind: str, code: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"messageType": kind, **extra, "response": {"code": code, "message": message}}


class TiingoSimulator(SimulatorServer):
    def __init__(self, *, heartbeat_seconds: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.heartbeat_seconds = heartbeat_seconds
        self.subscriptions: dict[int, Subscription] = {}
        self._ids = count(FIRST_SUBSCRIPTION_ID)
        self._last_ns = 0

    async def session(self, session: Session) -> None:
        request = session.connection.request
        service = SERVICES.get(request.path if request is not None else "")
        if service is None:
            await self.send_json(session, _reply("E", 404, "Unknown service"))
            await session.connection.close(1008, "unknown service")
            return
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(session))
        try:
            async for message in self.messages(session):
                reply = self._on_message(session, service, message)
                await self.send_json(session, reply)
                if reply["response"]["code"] == 401:
                    await session.connection.close(1008, "not authorized")
                elif id(session) in self.subscriptions:
                    self.start_streaming(session)
        finally:
            heartbeat.cancel()
            self.subscriptions.pop(id(session), None)

    def _on_message(self, session: Session, service: str, message: Any) -> dict[str, Any]:
        if not isinstance(message, dict) or message.get("eventName") not in (
            "subscribe",
            "unsubscribe",
        ):
            return _reply("E", 400, "eventName not valid")
        if not self.key_is_valid(message.get("authorization")):
            return _reply("E", 401, "Not authorized")
        data = message.get("eventData")
        if not isinstance(data, dict):
            return _reply("E", 400, "eventData not valid")
        tickers = data.get("tickers", ["*"])
        if not isinstance(tickers, list) or not all(
            t == "*" or (isinstance(t, str) and VALID_TICKER.match(t.lower())) for t in tickers
        ):
            return _reply("E", 400, f"tickers not valid: {tickers!r}"[:200])
        wanted = {t.lower() for t in tickers if t != "*"}
        everything = "*" in tickers or not tickers
        current = self.subscriptions.get(id(session))
        if "subscriptionId" not in data:
            if message["eventName"] != "subscribe":
                return _reply("E", 400, "subscriptionId required")
            level = str(data.get("thresholdLevel", ""))
            if not level.isdigit() or int(level) not in LEVELS[service]:
                return _reply("E", 400, "thresholdLevel not valid")
            subscription = Subscription(service, int(level), next(self._ids), everything, wanted)
            self.subscriptions[id(session)] = subscription
            session.authorized = True
            return _reply("I", 200, "Success", data={"subscriptionId": subscription.id})
        if current is None or data["subscriptionId"] != current.id:
            return _reply("E", 400, "subscriptionId not valid")
        if message["eventName"] == "subscribe":
            current.tickers |= wanted
            current.everything = current.everything or everything
        else:
            current.tickers -= wanted
            current.everything = current.everything and not everything
        shown = ["*"] if current.everything else sorted(current.tickers)
        return _reply(
            "I", 200, "Success", data={"tickers": shown, "thresholdLevel": str(current.level)}
        )

    async def _heartbeat(self, session: Session) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            if session.authorized:
                await self.send_json(session, _reply("H", 200, "HeartBeat"))

    # -- data -------------------------------------------------------------------------------

    def start_streaming(self, session: Session) -> None:
        if session.streamer is None and self.rate > 0:
            session.streamer = asyncio.get_running_loop().create_task(self._ticks(session))

    async def _ticks(self, session: Session) -> None:
        interval, next_tick = 1.0 / self.rate, time.monotonic()
        while True:
            next_tick += interval
            subscription = self.subscriptions.get(id(session))
            if subscription is not None:
                universe = UNIVERSE[subscription.service] if subscription.everything else ()
                tickers = sorted({*universe, *subscription.tickers})
                if tickers:
                    sequence = self.next_sequence()
                    ticker = tickers[sequence % len(tickers)]
                    payload = self.data(subscription, ticker, sequence, self._unique_ns())
                    await self.send_json(session, payload)
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))

    def _unique_ns(self) -> int:
        """Now in epoch ns, at least 1 µs after the previous value (ISO dates keep µs)."""
        self._last_ns = max(time.time_ns(), self._last_ns + 1000)
        return self._last_ns

    def data(self, sub: Subscription, ticker: str, sequence: int, ns: int) -> dict[str, Any]:
        """One `A` message in the service's positional format."""
        price = round(100.0 + (sequence % 1000) / 100, 2)
        bid, ask = round(price - 0.01, 2), round(price + 0.01, 2)
        quote = sequence % 2 == 1
        when = datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC)
        if sub.service == "iex":
            local = when.astimezone(NEW_YORK)
            iso = f"{local:%Y-%m-%dT%H:%M:%S}.{ns % 1_000_000_000:09d}{local:%z}"
            iso = f"{iso[:-2]}:{iso[-2:]}"
            if sub.level == 6:
                row: list[Any] = [iso, ticker, price]
            elif quote:
                row = ["Q", iso, ns, ticker, 100, bid, price, ask, 200]
                row += [None, None, 0, 0, None, None, None]
            else:
                row = ["T", iso, ns, ticker, None, None, None, None, None, price, 100]
                row += [None, 0, 0, 0, 0]
        else:
            iso = f"{when:%Y-%m-%dT%H:%M:%S}.{ns // 1000 % 1_000_000:06d}+00:00"
            if sub.service == "fx":
                row = ["Q", ticker, iso, 1e6, bid, price, 1e6, ask]
            elif quote and sub.level == 2:
                row = ["Q", ticker, iso, "simex", 1.5, bid, price, 2.5, ask]
            else:
                row = ["T", ticker, iso, "simex", 0.25, price]
        return {"service": sub.service, "messageType": "A", "data": row}

    def data_frame(self, symbol: str, timestamp_ns: int) -> str | None:
        subscription = Subscription("iex", 5, 0)
        payload = self.data(subscription, symbol, self.next_sequence(), timestamp_ns)
        return orjson.dumps(payload).decode()


def main(argv: list[str] | None = None) -> int:
    parser = simulator_arguments("Serve a Tiingo firehose simulator on loopback.", 8766)
    parser.add_argument("--heartbeat", type=float, default=30.0, help="seconds between H")
    args = parser.parse_args(argv)
    simulator = TiingoSimulator(
        host=args.host,
        port=args.port,
        rate=args.rate,
        api_keys=args.api_key,
        heartbeat_seconds=args.heartbeat,
    )
    return serve_until_stopped(simulator, exit_on_stdin_eof=args.exit_on_stdin_eof)


if __name__ == "__main__":
    sys.exit(main())
