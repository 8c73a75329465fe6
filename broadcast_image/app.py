"""The ASGI app: one WebSocket endpoint at `/` that registers listeners with the hub."""

from __future__ import annotations

import asyncio
import contextlib
import hmac

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from contract.status import Reporter

from .hub import SLOW_CLOSE_CODE, Hub, Listener, SymbolFilter, build_frames, parse_symbols
from .tailer import Tailer

AUTH_CLOSE_CODE = 1008
AUTH_REASON = "invalid or missing auth_token"
BAD_REQUEST_CLOSE_CODE = 4400


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


def parse_replay(value: str | None, limit: int) -> int:
    if value is None or value == "":
        return 0
    count = int(value)  # ValueError for anything else
    if count < 0:
        raise ValueError(value)
    return min(count, limit)


class BroadcastApp:
    def __init__(self, hub: Hub, tailer: Tailer, token: str | None, reporter: Reporter) -> None:
        self.hub = hub
        self.tailer = tailer
        self.token = token
        self.reporter = reporter

    def asgi(self) -> Starlette:
        return Starlette(routes=[WebSocketRoute("/", self.endpoint)])

    async def endpoint(self, websocket: WebSocket) -> None:
        client = websocket.client
        peer = (client.host, client.port) if client else ("unknown", 0)
        if not token_matches(self.token, presented_token(websocket)):
            await websocket.accept()  # then close, so the listener can read the reason
            self.reporter.warning("refused", f"{peer!r} refused: {AUTH_REASON}", reason=AUTH_REASON)
            await websocket.close(AUTH_CLOSE_CODE, AUTH_REASON)
            return
        try:
            symbols = parse_symbols(websocket.query_params.get("symbol"))
            replay = parse_replay(websocket.query_params.get("replay"), self.hub.max_pending)
        except ValueError:
            reason = "invalid query parameter: replay must be a non-negative integer"
            await websocket.accept()
            self.reporter.warning("refused", f"{peer!r} refused: {reason}", reason=reason)
            await websocket.close(BAD_REQUEST_CLOSE_CODE, reason)
            return
        listener = self.hub.listener(f"{peer[0]}:{peer[1]}", symbols)
        # Registered before accepting: once the client's handshake returns, nothing is missed.
        up_to_id = self.hub.register(listener)
        try:
            await websocket.accept()
            self.reporter.info(
                "accepted", f'{peer!r} - "WebSocket /" [accepted]', client=listener.client
            )
            self.reporter.info(
                "open", "connection open", client=listener.client, listeners=self.hub.listener_count
            )
            await self._serve(websocket, listener, up_to_id, replay, symbols)
        finally:
            self.hub.unregister(listener)
            self.reporter.info(
                "closed",
                "connection closed",
                client=listener.client,
                sent=listener.sent,
                listeners=self.hub.listener_count,
            )

    async def _serve(
        self,
        websocket: WebSocket,
        listener: Listener,
        up_to_id: int,
        replay: int,
        symbols: SymbolFilter,
    ) -> None:
        sender = asyncio.create_task(self._send(websocket, listener, up_to_id, replay, symbols))
        receiver = asyncio.create_task(_drain(websocket))
        dropped = asyncio.create_task(listener.dropped.wait())
        tasks = {sender, receiver, dropped}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if sender.done() and not sender.cancelled():
            error = sender.exception()
            if error is not None and not isinstance(error, WebSocketDisconnect | OSError):
                self.reporter.error(
                    "send_failed", f"Sending to {listener.client} failed: {error!r}"
                )
        if listener.too_slow is not None:
            # Waits until the socket drains (or is lost); the queue is already gone.
            with contextlib.suppress(Exception):
                await websocket.close(SLOW_CLOSE_CODE, listener.too_slow)
        elif not receiver.done():
            with contextlib.suppress(Exception):
                await websocket.close()

    async def _send(
        self,
        websocket: WebSocket,
        listener: Listener,
        up_to_id: int,
        replay: int,
        symbols: SymbolFilter,
    ) -> None:
        if replay:
            records = await self.tailer.last_records(up_to_id, replay, symbols)
            for text, _ in build_frames(records):
                await websocket.send_text(text)
        await listener.run(websocket.send_text)


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) whatever the listener sends, until it disconnects."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
