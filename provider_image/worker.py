"""The provider worker: one provider connection, streamed into the results file.

It owns the socket; the provider's protocol object owns the wire format. Frames are turned
into records and handed to the writer thread without waiting on the disk. Subscription
changes arrive on stdin and are applied live, and replayed after every reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from http.client import HTTPException
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from websockets.asyncio.client import ClientConnection, connect
from websockets.client import backoff
from websockets.exceptions import ConnectionClosed, InvalidStatus

from contract.commands import Command, CommandError, parse_command
from contract.config import WorkerConfig
from contract.status import Reporter
from providers import (
    Authorized,
    Event,
    Info,
    ProviderError,
    Reconnect,
    Records,
    Unauthorized,
    get_provider,
)
from providers.protocol import Message, TokenRequest

from .control import open_stdin
from .health import beat
from .writer import RecordWriter

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_UNAUTHORIZED = 3
EXIT_PROVIDER = 4
WARNING_INTERVAL_SECONDS = 1.0
DEFAULT_CONNECT_KWARGS: dict[str, Any] = {"max_size": 2**24, "open_timeout": 10, "close_timeout": 1}


def http_get(request: TokenRequest, timeout: float = 10.0) -> tuple[int, bytes]:
    """GET with the stdlib (called in a thread): the status and body, error statuses included."""
    try:
        with urlopen(Request(request.url, headers=dict(request.headers)), timeout=timeout) as reply:
            return int(reply.status), reply.read(65536)
    except HTTPError as exc:
        with exc:
            return exc.code, exc.read(65536)


def public_url(url: str) -> str:
    """The URL without credentials or query string (some providers put tokens there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _ReconnectLog(logging.Handler):
    """Forwards the websockets library's reconnect notices as worker status lines."""

    def __init__(self, reporter: Reporter) -> None:
        super().__init__(logging.INFO)
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("connect failed"):
            self.reporter.warning("reconnecting", message[:300])


class Worker:
    def __init__(self, config: WorkerConfig, api_key: str | None, reporter: Reporter) -> None:
        provider = get_provider(config.provider)
        self.config = config
        self.reporter = reporter
        self.params = provider.params.model_validate(config.params)
        self.protocol = provider.protocol(self.params, api_key)
        initial = self.params.symbols() if config.symbols is None else config.symbols
        self.symbols: dict[str, None] = {self.protocol.canonical_symbol(s): None for s in initial}
        for change in config.changes:  # made while the worker was stopped
            self._change_symbols(change.action, change.symbols)
        self.writer = RecordWriter(
            config.results_file,
            config.table_name,
            limit=config.limit,
            capacity=config.queue_size,
            batch_size=config.batch_size,
            reporter=reporter,
        )
        self.connection: ClientConnection | None = None
        self.authorized = False
        self.was_ready = False
        self.exit_code = EXIT_OK
        self.stopping = asyncio.Event()
        self.invalid_count = 0
        self._reported = (0, 0)
        self._last_warning = 0.0
        self._token_request = self.protocol.token_request()
        self._token_at: float | None = None  # monotonic time of the last token
        self._token_fresh = False  # no connection has opened with it yet

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        self.writer.start()
        tasks = [
            asyncio.create_task(self._stream(), name="stream"),
            asyncio.create_task(self._control(), name="control"),
            asyncio.create_task(beat(lambda: self.authorized), name="heartbeat"),
        ]
        await self.stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(self.writer.close)
        stats = self.writer.stats
        self.reporter.info(
            "stopped",
            "Disconnected from the provider WebSocket.",
            received=stats.received,
            written=stats.written,
            dropped=stats.dropped,
            invalid=self.invalid_count,
            exit_code=self.exit_code,
        )
        return self.exit_code

    def _fail(self, code: int) -> None:
        self.exit_code = code
        self.stopping.set()

    # -- provider connection ----------------------------------------------------------------

    async def _stream(self) -> None:
        logger = logging.getLogger("feeddock.websockets")
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger.addHandler(_ReconnectLog(self.reporter))
        kwargs = {**DEFAULT_CONNECT_KWARGS, **(self.params.connect_kwargs or {}), "logger": logger}
        # The outer loop only turns for providers with an access token in the URL (Intrinio):
        # a new token before reconnecting once it is old, or once the server refused it.
        while await self._token_ready():
            url = self.protocol.url()
            self.reporter.info("connecting", f"Connecting to {public_url(url)}")
            try:
                async for connection in connect(url, **kwargs):
                    self.connection, self.authorized = connection, False
                    self._token_fresh = False
                    try:
                        await self._session(connection)
                    except ConnectionClosed as exc:
                        self._disconnected(exc)
                    else:
                        if not self.stopping.is_set():
                            self._disconnected(None)
                    finally:
                        self.connection, self.authorized = None, False
                    if self.stopping.is_set():
                        return
                    if self._token_due():
                        break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a fatal connect error (bad URL, HTTP 401/403, ...)
                if self._token_refused(exc):
                    continue
                self.reporter.error("fatal", f"Cannot connect to {public_url(url)}: {exc}")
                self._fail(EXIT_PROVIDER)
                return

    # -- access tokens (providers whose `token_request()` is not None) ----------------------

    def _token_due(self) -> bool:
        if self._token_request is None:
            return False
        max_age = self.protocol.token_max_age
        age = time.monotonic() - (self._token_at or 0.0)
        return self._token_at is None or (max_age is not None and age >= max_age)

    def _token_refused(self, exc: Exception) -> bool:
        """True when the handshake refused our access token: an old one is forgotten (the next
        turn fetches another); a refused new one is the provider's refusal."""
        refused = isinstance(exc, InvalidStatus) and exc.response.status_code in (401, 403)
        if not refused or self._token_request is None:
            return False
        if self._token_fresh:
            message = f"UnauthorizedError -> the server refused a new access token: {exc}"
            self.reporter.error("unauthorized", message)
            self._fail(EXIT_UNAUTHORIZED)
        else:
            self.reporter.warning("reconnecting", f"Access token refused ({exc}); getting another")
            self._token_at = None
        return True

    async def _token_ready(self) -> bool:
        """Fetch a token when one is due (retrying network errors with backoff); False: stop."""
        request, delays = self._token_request, backoff()
        if request is None or not self._token_due():
            return not self.stopping.is_set()
        while not self.stopping.is_set():
            try:
                status, body = await asyncio.to_thread(http_get, request)
            except (OSError, ValueError, HTTPException) as exc:  # network errors (URLError too)
                event: Event = ProviderError(f"token request failed: {exc}")
            else:
                event = self.protocol.token_reply(status, body)
            if isinstance(event, Unauthorized):
                self.reporter.error("unauthorized", f"UnauthorizedError -> {event.message}")
                self._fail(EXIT_UNAUTHORIZED)
            elif isinstance(event, ProviderError) and event.fatal:
                self.reporter.error("provider_error", event.message, fatal=True)
                self._fail(EXIT_PROVIDER)
            elif isinstance(event, ProviderError):
                delay = next(delays)
                self.reporter.warning("reconnecting", f"{event.message}; retrying in {delay:.1f} s")
                await asyncio.sleep(delay)
            else:
                self.reporter.info("token", getattr(event, "message", "Access token received"))
                self._token_at, self._token_fresh = time.monotonic(), True
                return True
        return False

    def _disconnected(self, exc: ConnectionClosed | None) -> None:
        detail = "closed by the server" if exc is None else f"closed: {exc}"
        self.reporter.warning("disconnected", f"Connection {detail}; reconnecting.")

    async def _session(self, connection: ClientConnection) -> None:
        self.reporter.info("connected", "WebSocket connection established.")
        await self._send(connection, self.protocol.on_open(list(self.symbols)))
        if self.protocol.ready_on_open:
            await self._on_event(connection, Authorized(self.protocol.ready_message))
        keepalive = asyncio.create_task(self._keepalive(connection), name="keepalive")
        try:
            async for frame in connection:
                for event in self.protocol.receive(frame):
                    await self._on_event(connection, event)
                    if self.stopping.is_set():
                        return
                if self.protocol.invalid:
                    self._count_invalid()
        finally:
            keepalive.cancel()

    async def _keepalive(self, connection: ClientConnection) -> None:
        """Send the provider's own keep-alive messages (OKX's `ping`, Bitstamp's heartbeat)."""
        interval = self.protocol.keepalive_interval
        if interval is None:
            return
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(ConnectionClosed):
                await self._send(connection, self.protocol.keepalive())

    async def _send(self, connection: ClientConnection, messages: list[Message]) -> None:
        for message in messages:
            await connection.send(message)

    async def _on_event(self, connection: ClientConnection, event: Event) -> None:
        if isinstance(event, Records):
            if self.writer.put(event.items):
                self._warn_counts()
        elif isinstance(event, Authorized):
            self.authorized = True
            self.reporter.info("authorized", event.message)
            await self._send(connection, self.protocol.on_authorized(list(self.symbols)))
            symbols = ",".join(self.symbols)
            if self.was_ready:
                self.reporter.info("resubscribed", f"Resubscribed to: {symbols}", symbols=symbols)
            else:
                self.was_ready = True
                self.reporter.info("ready", f"Streaming: {symbols}", symbols=symbols)
        elif isinstance(event, Unauthorized):
            self.reporter.error("unauthorized", f"UnauthorizedError -> {event.message}")
            self._fail(EXIT_UNAUTHORIZED)
        elif isinstance(event, ProviderError):
            self.reporter.error("provider_error", event.message, fatal=event.fatal)
            if event.fatal:
                self._fail(EXIT_PROVIDER)
        elif isinstance(event, Info):
            self.reporter.info("info", event.message)
        elif isinstance(event, Reconnect):
            self.reporter.info("reconnect_requested", f"{event.message}; reconnecting.")
            await connection.close()

    def _count_invalid(self) -> None:
        invalid = self.protocol.take_invalid()
        self.invalid_count += len(invalid)
        self._warn_counts(reason=invalid[-1].reason)

    def _warn_counts(self, reason: str | None = None) -> None:
        """Report drops and invalid records, at most once a second, with running totals."""
        now = time.monotonic()
        counts = (self.writer.stats.dropped, self.invalid_count)
        if counts == self._reported or now - self._last_warning < WARNING_INTERVAL_SECONDS:
            return
        self._reported, self._last_warning = counts, now
        self.reporter.warning(
            "dropped",
            f"{counts[0]} records dropped (buffer full), {counts[1]} failed validation"
            + (f": {reason}" if reason else ""),
            dropped=counts[0],
            invalid=counts[1],
        )

    # -- stdin commands ---------------------------------------------------------------------

    async def _control(self) -> None:
        try:
            reader = await open_stdin()
        except (OSError, ValueError) as exc:
            self.reporter.warning("no_stdin", f"stdin unavailable, live changes disabled: {exc}")
            return
        while line := await reader.readline():
            if not line.strip():
                continue
            try:
                command = parse_command(line)
            except CommandError as exc:
                self.reporter.error("bad_command", f"Ignored command: {exc}")
                continue
            await self._apply(command)
        if self.config.exit_on_stdin_eof:
            self.stopping.set()
            self.reporter.info("parent_gone", "stdin closed: the orchestrator has gone; stopping.")

    def _change_symbols(self, action: str, symbols: list[str]) -> tuple[list[str], list[str]]:
        """Apply a change to the subscribed set; returns (changed, wanted) in canonical form."""
        wanted = list(dict.fromkeys(self.protocol.canonical_symbol(s) for s in symbols))
        if action == "subscribe":
            changed = [s for s in wanted if s not in self.symbols]
            self.symbols.update(dict.fromkeys(changed))
        else:
            changed = [s for s in wanted if s in self.symbols]
            for symbol in changed:
                del self.symbols[symbol]
        return changed, wanted

    async def _apply(self, command: Command) -> None:
        changed, wanted = self._change_symbols(command.action, command.symbols)
        build = (
            self.protocol.subscribe if command.action == "subscribe" else self.protocol.unsubscribe
        )
        messages = build(changed) if changed else []
        connection = self.connection
        may_send = self.authorized or self.protocol.subscribes_before_authorized
        if connection is not None and may_send and messages:
            with contextlib.suppress(ConnectionClosed):  # replayed after the reconnect
                await self._send(connection, messages)
        verb = "Subscribed to" if command.action == "subscribe" else "Unsubscribed from"
        self.reporter.info(
            command.action,
            f"{verb}: {','.join(changed) or '(no change)'}",
            id=command.id,
            changed=changed,
            unchanged=[s for s in wanted if s not in changed],
            symbols=",".join(self.symbols),
        )
