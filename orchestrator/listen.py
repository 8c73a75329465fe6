"""Listen to a broadcast server: print each record as it arrives, or iterate over them.

    from orchestrator import listen
    listen("ws://127.0.0.1:6666", auth_token="...", symbol="aapl,msft")

We ask the server for batched frames (`format=ndjson`: one record per line, see
`broadcast_image`), which costs it and us less than one frame per record, and still hand out one
record at a time. The token goes in an `Authorization: Bearer` header, never in the URL.
Progress goes to stderr as it happens: "connecting to ...", each failed attempt with the delay
before the next one, and each retry. When the server restarts or closes the listener (too slow,
records lost), the connection is re-opened (with the websockets library's backoff); a refused
token raises `AuthTokenError` and a refused option `ParameterError`, with the server's reason.
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
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from .errors import AuthTokenError, ParameterError

# Servers before feeddock 0.2 refused with these close codes after accepting; newer ones
# answer the handshake with HTTP 401 / 400 and the reason as the body.
AUTH_CLOSE_CODE = 1008
BAD_REQUEST_CLOSE_CODE = 4400
AUTH_STATUSES = (401, 403)
BAD_REQUEST_STATUS = 400
MAX_FRAME_BYTES = 2**24
BATCHED = ("format", "ndjson")
_OWN_PARAMETERS = ("symbol", "replay", "format")
_TOKEN_IN_URL = re.compile(r"(auth_token=)[^&#]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """The URL with any `auth_token` query value replaced by ***."""
    return _TOKEN_IN_URL.sub(r"\1***", url)


def listener_url(
    url: str, symbol: str | None = None, replay: int | None = None, *, batched: bool = False
) -> str:
    """`url` (http(s) accepted as ws(s)) with the `symbol`, `replay` and `format` parameters."""
    parts = urlsplit(url if "://" in url else f"ws://{url}")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ParameterError(f"Not a WebSocket URL: {mask_url(url)}", field="url")
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in _OWN_PARAMETERS]
    if symbol:
        query.append(("symbol", symbol))
    if replay:
        if replay < 0:
            raise ParameterError("replay must be a non-negative integer", field="replay")
        query.append(("replay", str(replay)))
    if batched:
        query.append(BATCHED)
    return urlunsplit((scheme, parts.netloc, parts.path or "/", urlencode(query), ""))


def _notice(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class _Connect(connect):
    """websockets' reconnecting `connect` that says when each attempt starts."""

    def __init__(self, uri: str, shown: str, **kwargs: Any) -> None:
        super().__init__(uri, **kwargs)
        self.shown = shown
        self.attempt = 0

    async def __aenter__(self) -> ClientConnection:
        self.attempt += 1
        retry = f" (attempt {self.attempt})" if self.attempt > 1 else ""
        _notice(f"connecting to {self.shown}{retry} ...")
        connection = await super().__aenter__()
        self.attempt = 0
        return connection


async def _frames(
    url: str, auth_token: str | None, symbol: str | None, replay: int | None
) -> AsyncGenerator[str, None]:
    """Yield each frame's text; reconnect after a server restart or a dropped connection."""
    headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else None
    connector = _Connect(
        listener_url(url, symbol, replay, batched=True),
        mask_url(url),
        additional_headers=headers,
        max_size=MAX_FRAME_BYTES,
        compression=None,
        logger=_retry_logger(url),
    )
    try:
        async for websocket in connector:
            # Replay once: after a reconnect it would repeat records already delivered.
            connector.uri = listener_url(url, symbol, None, batched=True)
            try:
                async for frame in websocket:
                    yield frame if isinstance(frame, str) else frame.decode()
            except ConnectionClosedError as exc:
                _raise_if_refused(exc)
            close = websocket.close_code, websocket.close_reason
            _notice(f"Connection to {mask_url(url)} closed ({close[0]} {close[1]}); reconnecting.")
    except InvalidStatus as exc:
        _raise_refusal(exc)
        raise


class _RetryNotice(logging.Handler):
    """Shows the websockets library's "connect failed; reconnecting in N s" notices."""

    def __init__(self, url: str) -> None:
        super().__init__(logging.INFO)
        self.url = mask_url(url)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("connect failed"):
            detail = message.removeprefix("connect failed; ")
            _notice(f"Cannot reach {self.url}; {detail}")


def _retry_logger(url: str) -> logging.Logger:
    # One logger per address (loggers live for the process; addresses are few).
    logger = logging.getLogger("feeddock.listen").getChild(mask_url(url).replace(".", "_"))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(_RetryNotice(url))
    return logger


def _raise_refusal(exc: InvalidStatus) -> None:
    """The server refused the handshake: a token or an option it will never accept."""
    response = exc.response
    reason = bytes(response.body or b"").decode(errors="replace").strip()
    if response.status_code in AUTH_STATUSES:
        raise AuthTokenError(reason or "the broadcast server refused the auth_token") from None
    if response.status_code == BAD_REQUEST_STATUS:
        raise ParameterError(reason or "the broadcast server refused the request") from None


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
    _notice(f"Listening for messages from {mask_url(url)}")
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
        _notice("Stopped listening.")
    return count


__all__ = ["alisten", "listen", "listener_url", "mask_url"]
