"""Every container's attach stream, served by one thread.

A container's attach connection carries its stdin one way and its stdout and stderr the other
(no tty: each chunk of output is a frame with an 8-byte header, `>BxxxL`: stream, size). One
`StreamMux` thread waits on all of a runtime's attach sockets at once (`selectors`) and turns
frames into lines for each stream's `on_line`; an ended connection calls its `on_end` once.
An idle container costs nothing here: no thread of its own, no timer, no wakeup.

Callbacks run on the mux thread and must return quickly: a container whose output is not read
blocks on its stdout once the engine has buffered about 1 MB of it. Writes (`send`) come from
callers' threads; a per-stream lock keeps a TLS connection from being read and written at once.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

HEADER = 8
READ_SIZE = 65536
SEND_SECONDS = 10.0
WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
LOG = logging.getLogger("feeddock.docker")


class FrameDecoder:
    """Multiplexed attach frames -> text lines (stdout and stderr each keep their own partial
    line, so a fragment of one is never glued to the other)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._partial: dict[int, bytes] = {1: b"", 2: b""}

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        lines: list[str] = []
        while len(self._buffer) >= HEADER:
            kind = self._buffer[0]
            size = int.from_bytes(self._buffer[4:HEADER], "big")
            if len(self._buffer) < HEADER + size:
                break
            payload = bytes(self._buffer[HEADER : HEADER + size])
            del self._buffer[: HEADER + size]
            key = 2 if kind == 2 else 1
            *complete, self._partial[key] = (self._partial[key] + payload).split(b"\n")
            lines += [_text(raw) for raw in complete]
        return lines

    def flush(self) -> list[str]:
        """What is left of unfinished lines when the stream ends."""
        rest = [_text(raw) for raw in self._partial.values() if raw.strip()]
        self._partial = {1: b"", 2: b""}
        return rest


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r")


class AttachStream:
    """One container's attach connection: lines out through `on_line`, `send` in."""

    def __init__(
        self,
        sock: Any,
        leftover: bytes,
        *,
        name: str,
        on_line: Callable[[str], None],
        on_end: Callable[[], None],
    ) -> None:
        self.sock = sock
        self.name = name
        self._leftover = leftover
        self._on_line = on_line
        self._on_end = on_end
        self._decoder = FrameDecoder()
        self._lock = threading.Lock()
        self._tls = isinstance(sock, ssl.SSLSocket)
        self.closed = False
        sock.setblocking(False)

    def send(self, data: bytes, timeout: float = SEND_SECONDS) -> None:
        """Write all of `data` to the container's stdin (OSError when it cannot)."""
        view = memoryview(data)
        with self._lock:
            while view:
                if self.closed:
                    raise BrokenPipeError(f"the attach connection to {self.name} is closed")
                try:
                    sent = self.sock.send(view)
                except WOULD_BLOCK:
                    _wait(self.sock, selectors.EVENT_WRITE, timeout)
                    continue
                view = view[sent:]

    def read(self) -> bool:
        """Read what is there and deliver whole lines; False once the connection has ended."""
        lines: list[str] = []
        alive = True
        with self._lock:
            if self._leftover:
                lines += self._decoder.feed(self._leftover)
                self._leftover = b""
            while True:
                try:
                    data = self.sock.recv(READ_SIZE)
                except WOULD_BLOCK:
                    break
                except OSError:
                    alive = False
                    break
                if not data:
                    alive = False
                    break
                lines += self._decoder.feed(data)
                if len(data) < READ_SIZE and not (self._tls and self.sock.pending()):
                    break
            if not alive:
                lines += self._decoder.flush()
        for line in lines:
            _call(self._on_line, line)
        return alive

    def ended(self) -> None:
        self.close()
        _call(self._on_end)

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()


def _wait(sock: Any, event: int, timeout: float) -> None:
    with selectors.DefaultSelector() as selector:
        selector.register(sock, event)
        if not selector.select(timeout):
            raise TimeoutError(f"no progress writing for {timeout:g} s")


def _call(callback: Callable[..., None], *args: Any) -> None:
    try:
        callback(*args)
    except Exception:  # a failing sink must not stop every other container's output
        LOG.exception("a worker sink failed")


class StreamMux:
    """One thread reading many attach streams (see the module docstring)."""

    def __init__(self, name: str = "docker-streams") -> None:
        self._name = name
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._adds: list[AttachStream] = []
        self._removes: list[AttachStream] = []
        self._thread: threading.Thread | None = None
        self._closing = False

    def add(self, stream: AttachStream) -> None:
        """Start reading `stream` (its first lines are delivered on the mux thread)."""
        with self._lock:
            if self._closing:
                raise RuntimeError("the stream mux is closed")
            self._adds.append(stream)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._wake()

    def remove(self, stream: AttachStream) -> None:
        """Stop reading `stream` and close it, without calling its `on_end`."""
        stream.closed = True
        with self._lock:
            self._removes.append(stream)
        self._wake()

    def close(self) -> None:
        with self._lock:
            self._closing = True
            thread = self._thread
        self._wake()
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _run(self) -> None:
        streams: set[AttachStream] = set()
        while True:
            with self._lock:
                adds, self._adds = self._adds, []
                removes, self._removes = self._removes, []
                closing = self._closing
            for stream in removes:
                if stream in streams:
                    streams.discard(stream)
                    self._selector.unregister(stream.sock)
                stream.close()
            for stream in adds:
                if stream.closed:
                    continue
                streams.add(stream)
                self._selector.register(stream.sock, selectors.EVENT_READ, stream)
                self._read(stream, streams)  # bytes that came with the headers
            if closing:
                break
            for key, _ in self._selector.select():
                stream = key.data
                if stream is None:
                    with contextlib.suppress(OSError):
                        while self._wake_r.recv(4096):
                            pass
                elif stream in streams:
                    self._read(stream, streams)
        for stream in streams:
            stream.close()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _read(self, stream: AttachStream, streams: set[AttachStream]) -> None:
        if stream.read() or stream.closed:
            return
        streams.discard(stream)
        self._selector.unregister(stream.sock)
        stream.ended()


__all__ = ["AttachStream", "FrameDecoder", "StreamMux"]
