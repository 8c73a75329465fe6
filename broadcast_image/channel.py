"""Each listener's socket as a `Sink`: pre-built frames written straight to its transport.

uvicorn's websockets-sansio protocol does the handshake, pings, the closing handshake and the
ASGI glue; `BroadcastProtocol` (passed as uvicorn's `ws` class) adds one ASGI extension,
`feeddock.channel`, through which the app writes frames it built once for many listeners
(`framing.py`) without encoding each message again per listener.

Flow control is ours, per listener: a socket whose write buffer passes `HIGH_WATER_BYTES`
stops being `writable`, and the hub keeps that listener's position in its shared buffer
instead of copying more frames into the socket. uvicorn's own pause (which would make an ASGI
`websocket.close` wait for a listener that never reads) is not used, so a close frame always
goes out at once, behind what is already queued. `SEND_BUFFER_BYTES` caps the kernel's buffer
of each socket, which would otherwise grow to megabytes for a listener that stopped reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from asyncio import BaseTransport, Transport
from typing import cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

CHANNEL_EXTENSION = "feeddock.channel"
HIGH_WATER_BYTES = 256 * 1024
LOW_WATER_BYTES = 64 * 1024
SEND_BUFFER_BYTES = 256 * 1024  # the kernel doubles it for its bookkeeping


class Channel:
    """Raw writes to one accepted WebSocket connection, with its own flow control."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._ready = asyncio.Event()
        self._ready.set()
        self._lost = False
        self._gone = asyncio.Event()

    def limit(self) -> None:
        """Bound what this socket can hold (called once the connection is accepted)."""
        self._transport.set_write_buffer_limits(high=HIGH_WATER_BYTES, low=LOW_WATER_BYTES)
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)

    @property
    def open(self) -> bool:
        return not self._lost and not self._transport.is_closing()

    @property
    def writable(self) -> bool:
        return self._ready.is_set() and self.open

    def write(self, data: bytes) -> None:
        if self.open:
            self._transport.write(data)

    def buffered(self) -> int:
        return 0 if self._lost else self._transport.get_write_buffer_size()

    async def wait_writable(self) -> None:
        """Until the socket drains below its low-water mark, or the connection is lost."""
        await self._ready.wait()

    def pause(self) -> None:
        self._ready.clear()

    def resume(self) -> None:
        self._ready.set()

    async def wait_lost(self) -> None:
        await self._gone.wait()

    def abort(self) -> None:
        self._transport.abort()

    def lost(self) -> None:
        self._lost = True
        self._ready.set()  # nothing will drain now: release whoever waits
        self._gone.set()


class BroadcastProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol with a `Channel` in the ASGI scope."""

    channel: Channel

    def connection_made(self, transport: BaseTransport) -> None:
        super().connection_made(transport)
        self.channel = Channel(cast(Transport, transport))

    def connection_lost(self, exc: Exception | None) -> None:
        self.channel.lost()
        super().connection_lost(exc)

    # The transport's pause/resume drive our flow control only (see the module docstring).
    def pause_writing(self) -> None:
        self.channel.pause()

    def resume_writing(self) -> None:
        self.channel.resume()

    def shutdown(self) -> None:
        """Server stopping: close (1012); a listener that stopped reading would hold the
        shutdown until uvicorn's graceful timeout, so its socket is dropped at once."""
        stalled = not self.channel.writable
        super().shutdown()
        if stalled:
            self.channel.abort()

    async def run_asgi(self) -> None:
        extensions = self.scope.get("extensions")
        if extensions is not None:
            extensions[CHANNEL_EXTENSION] = {"channel": self.channel}
        await super().run_asgi()


__all__ = [
    "CHANNEL_EXTENSION",
    "HIGH_WATER_BYTES",
    "SEND_BUFFER_BYTES",
    "BroadcastProtocol",
    "Channel",
]
