"""The ASGI app: one WebSocket endpoint at `/` that admits listeners and runs their streams.

A listener that cannot be served is refused before the WebSocket is accepted, with an HTTP
status and the reason as a plain-text body: nothing is registered or buffered for it, and
uvicorn closes the socket as soon as the answer is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from contract.status import Reporter

from .channel import CHANNEL_EXTENSION, Channel
from .framing import Framing, SymbolFilter, make_entry, parse_symbols, segments
from .hub import Hub, Listener
from .reader import REPLAY_PAGE_ROWS, TableReader

AUTH_STATUS = 401
AUTH_REASON = "invalid or missing auth_token"
BAD_REQUEST_STATUS = 400
FULL_STATUS = 503
REFUSAL_HEADERS = {AUTH_STATUS: {"WWW-Authenticate": "Bearer"}, FULL_STATUS: {"Retry-After": "5"}}
REFUSAL_REPORT_SECONDS = 1.0  # refusals are reported at most this often (with a count)
# How long a closed listener has to read what is queued for it and answer the close.
CLOSE_SECONDS = 10.0


@dataclass(frozen=True)
class Options:
    framing: Framing
    symbols: SymbolFilter
    replay: int


def parse_options(query: Mapping[str, str], replay_cap: int) -> Options:
    """The listener's query parameters; ValueError with the reason for a bad one."""
    raw_format = query.get("format") or Framing.RECORD.value
    if raw_format not in Framing.__members__.values():
        choices = " or ".join(f"'{f.value}'" for f in Framing)
        raise ValueError(f"invalid query parameter: format must be {choices}")
    raw_replay = query.get("replay") or "0"
    if not raw_replay.isdecimal():
        raise ValueError("invalid query parameter: replay must be a non-negative integer")
    return Options(
        Framing(raw_format), parse_symbols(query.get("symbol")), min(int(raw_replay), replay_cap)
    )


def presented_token(websocket: WebSocket) -> str | None:
    """The token from `?auth_token=` or `Authorization: Bearer <token>`."""
    token = websocket.query_params.get("auth_token")
    if token:
        return token
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def token_matches(expected: str | None, presented: str | None) -> bool:
    if expected is None:
        return True  # an open server accepts anyone, with or without a token
    if presented is None:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


class BroadcastApp:
    def __init__(
        self, hub: Hub, reader: TableReader, token: str | None, reporter: Reporter
    ) -> None:
        self.hub = hub
        self.reader = reader
        self.token = token
        self.reporter = reporter
        self._refusals_reported_at = 0.0
        self._refusals_unreported = 0

    def asgi(self) -> Starlette:
        return Starlette(routes=[WebSocketRoute("/", self.endpoint)])

    async def endpoint(self, websocket: WebSocket) -> None:
        client = websocket.client
        peer = f"{client.host}:{client.port}" if client else "unknown"
        if not token_matches(self.token, presented_token(websocket)):
            await self._refuse(websocket, peer, AUTH_STATUS, AUTH_REASON)
            return
        try:
            options = parse_options(websocket.query_params, self.hub.limits.max_pending_records)
        except ValueError as exc:
            await self._refuse(websocket, peer, BAD_REQUEST_STATUS, str(exc))
            return
        full = self.hub.refusal(options.framing, options.symbols)
        if full is not None:
            await self._refuse(websocket, peer, FULL_STATUS, full)
            return
        channel: Channel = websocket.scope["extensions"][CHANNEL_EXTENSION]["channel"]
        # Registered before accepting: once the client's handshake returns, nothing is missed.
        listener = self.hub.register(peer, options.framing, options.symbols, channel)
        up_to_id = self.hub.last_id
        try:
            await websocket.accept()
            channel.limit()
            address = (client.host, client.port) if client else ("unknown", 0)
            # The spec's wording: ('127.0.0.1', 59197) - "WebSocket /" [accepted]
            self.reporter.info("accepted", f'{address!r} - "WebSocket /" [accepted]', client=peer)
            self.reporter.info(
                "open",
                "connection open",
                client=peer,
                format=options.framing.value,
                filtered=options.symbols is not None,
                listeners=self.hub.listener_count,
            )
            await self._serve(websocket, listener, channel, up_to_id, options.replay)
        finally:
            self.hub.release(listener)
            self.reporter.info(
                "closed",
                "connection closed",
                client=peer,
                sent=listener.records_sent,
                code=listener.close_code,
                listeners=self.hub.listener_count,
            )

    async def _refuse(self, websocket: WebSocket, peer: str, status: int, reason: str) -> None:
        headers = REFUSAL_HEADERS.get(status)
        await websocket.send_denial_response(PlainTextResponse(reason, status, headers))
        self.hub.stats.refused += 1
        self._refusals_unreported += 1
        now = time.monotonic()
        if now - self._refusals_reported_at >= REFUSAL_REPORT_SECONDS:
            self.reporter.warning(
                "refused",
                f"{peer} refused ({status}): {reason}",
                client=peer,
                status=status,
                reason=reason,
                count=self._refusals_unreported,
                refused=self.hub.stats.refused,
            )
            self._refusals_reported_at, self._refusals_unreported = now, 0

    async def _serve(
        self, websocket: WebSocket, listener: Listener, channel: Channel, up_to_id: int, replay: int
    ) -> None:
        pump = asyncio.create_task(self._pump(listener, channel, up_to_id, replay))
        drain = asyncio.create_task(_drain(websocket))
        closed = asyncio.create_task(listener.closed.wait())
        tasks = {pump, drain, closed}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if pump.done() and not pump.cancelled():
            error = pump.exception()
            if error is not None and not isinstance(error, WebSocketDisconnect | OSError):
                self.reporter.error(
                    "send_failed", f"Sending to {listener.client} failed: {error!r}"
                )
        # uvicorn never holds a close back for a full socket (see channel.py): the close frame
        # is queued behind what the listener has not read yet.
        with contextlib.suppress(Exception):
            if listener.close_code is not None:
                await websocket.close(listener.close_code, listener.close_reason)
            elif not drain.done():
                await websocket.close()
        # A listener that never reads again would keep its buffers (and its place) forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_SECONDS):
                await channel.wait_lost()
        if channel.open:
            channel.abort()

    async def _pump(self, listener: Listener, channel: Channel, up_to_id: int, replay: int) -> None:
        """The listener's own task: its replay, then whatever the hub could not write at once."""
        if replay:
            await self._replay(listener, channel, up_to_id, replay)
        listener.live = True
        while listener.close_code is None and channel.open:
            if self.hub.catch_up(listener):
                listener.wake.clear()
                await listener.wake.wait()
            else:
                await channel.wait_writable()

    async def _replay(
        self, listener: Listener, channel: Channel, up_to_id: int, count: int
    ) -> None:
        """The last `count` stored records with id <= up_to_id, page by page."""
        try:
            next_id = await self.reader.replay_start(up_to_id, count, listener.symbols)
            while next_id is not None and listener.close_code is None:
                rows = await self.reader.replay_page(next_id, up_to_id, listener.symbols)
                entries = [make_entry(message) for _, message in rows]
                for segment in segments(entries, 0, 0, len(entries), listener.framing, None):
                    if not segment.data:
                        continue
                    while not channel.writable:
                        if not channel.open:
                            return
                        await channel.wait_writable()
                    listener.count(segment)
                    channel.write(segment.data)
                next_id = rows[-1][0] + 1 if len(rows) == REPLAY_PAGE_ROWS else None
        except sqlite3.Error as exc:
            self.reporter.warning(
                "replay_failed", f"Replay for {listener.client} failed: {exc}; live stream follows"
            )


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) whatever the listener sends, until it disconnects."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
