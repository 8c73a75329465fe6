"""Listen to a broadcast server: print each record as it arrives, or iterate over them.

    from orchestrator import listen
    listen("ws://127.0.0.1:6666", auth_token="...", symbol="aapl,msft")

The server sends newline-delimited JSON (one record per line, see `broadcast_image`). The token
goes in an `Authorization: Bearer` header, never in the URL. When the server restarts or drops
the listener, the connection is re-opened (with the websockets library's backoff); a refused
token raises `AuthTokenError` with the server's reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
from collections.abc import AsyncGenerator
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from .errors import AuthTokenError, ParameterError

AUTH_CLOSE_CODE = 1008
BAD_REQUEST_CLOSE_CODE = 4400
MAX_FRAME_BYTES = 2**24
_TOKEN_IN_URL = re.compile(r"(auth_token=)[^&#]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """The URL with any `auth_token` query value replaced by ***."""
    return _TOKEN_IN_URL.sub(r"\1***", url)


def listener_url(url: str, symbol: str | None = None, replay: int | None = None) -> str:
    """`url` (http(s) accepted as ws(s)) with the `symbol` and `replay` query parameters."""
    parts = urlsplit(url if "://" in url else f"ws://{url}")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ParameterError(f"Not a WebSocket URL: {mask_url(url)}", field="url")
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("symbol", "replay")]
    if symbol:
        query.append(("symbol", symbol))
    if replay:
        if replay < 0:
            raise ParameterError("replay must be a non-negative integer", field="replay")
        query.append(("replay", str(replay)))
    return urlunsplit((scheme, parts.netloc, parts.path or "/", urlencode(query), ""))


async def _frames(
    url: str, auth_token: str | None, symbol: str | None, replay: int | None
) -> AsyncGenerator[str, None]:
    """Yield each frame's text; reconnect after a server restart or a dropped connection."""
    headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else None
    connector = connect(
        listener_url(url, symbol, replay),
        additional_headers=headers,
        max_size=MAX_FRAME_BYTES,
        compression=None,
        logger=_retry_logger(url),
    )
    async for websocket in connector:
        # Replay once: after a reconnect it would repeat records already delivered.
        connector.uri = listener_url(url, symbol, None)
        try:
            async for frame in websocket:
                yield frame if isinstance(frame, str) else frame.decode()
        except ConnectionClosedError as exc:
            _raise_if_refused(exc)
        close = websocket.close_code, websocket.close_reason
        print(
            f"Connection to {mask_url(url)} closed ({close[0]} {close[1]}); reconnecting.",
            file=sys.stderr,
        )


class _RetryNotice(logging.Handler):
    """Shows the websockets library's "connect failed; reconnecting in N s" notices."""

    def __init__(self, url: str) -> None:
        super().__init__(logging.INFO)
        self.url = mask_url(url)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("connect failed"):
            detail = message.removeprefix("connect failed; ")
            print(f"Cannot reach {self.url}; {detail}", file=sys.stderr, flush=True)


def _retry_logger(url: str) -> logging.Logger:
    # One logger per address (loggers live for the process; addresses are few).
    logger = logging.getLogger("feeddock.listen").getChild(mask_url(url).replace(".", "_"))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(_RetryNotice(url))
    return logger


def _raise_if_refused(exc: ConnectionClosed) -> None:
    frame = exc.rcvd
    if frame is None:
        return
    if frame.code == AUTH_CLOSE_CODE:
        raise AuthTokenError(frame.reason or "the broadcast server refused the auth_token")
    if frame.code == BAD_REQUEST_CLOSE_CODE:
        raise ParameterError(frame.reason)


async def _lines(
    url: str, auth_token: str | None, symbol: str | None, replay: int | None
) -> AsyncGenerator[str, None]:
    async with contextlib.aclosing(_frames(url, auth_token, symbol, replay)) as frames:
        async for frame in frames:
            for line in frame.split("\n"):
                if line:
                    yield line


async def alisten(
    url: str,
    auth_token: str | None = None,
    symbol: str | None = None,
    replay: int | None = None,
    *,
    max_records: int | None = None,
) -> AsyncGenerator[dict[str, Any], None]:
    """Yield each record (parsed) as it arrives; stop after `max_records` if given."""
    count = 0
    async with contextlib.aclosing(_lines(url, auth_token, symbol, replay)) as lines:
        async for line in lines:
            yield orjson.loads(line)
            count += 1
            if max_records is not None and count >= max_records:
                return


def listen(
    url: str,
    auth_token: str | None = None,
    symbol: str | None = None,
    replay: int | None = None,
    *,
    file: TextIO = sys.stdout,
    max_records: int | None = None,
) -> int:
    """Print each record as one JSON line on `file` until Ctrl-C; returns how many arrived."""
    print(f"Listening for messages from {mask_url(url)}", file=sys.stderr, flush=True)
    count = 0

    async def run() -> None:
        nonlocal count
        async with contextlib.aclosing(_frames(url, auth_token, symbol, replay)) as frames:
            async for frame in frames:
                lines = [line for line in frame.split("\n") if line]
                if max_records is not None:
                    lines = lines[: max_records - count]
                file.write("\n".join(lines) + "\n")
                file.flush()
                count += len(lines)
                if max_records is not None and count >= max_records:
                    return

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        print("Stopped listening.", file=sys.stderr, flush=True)
    return count


__all__ = ["alisten", "listen", "listener_url", "mask_url"]
