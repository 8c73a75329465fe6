"""The provider worker: one provider connection, streamed into the results file.

It owns the socket; the provider's protocol object owns the wire format. Frames are turned
into records, serialised and handed to the writer thread in chunks without waiting on the disk
(`intake.py`); when the writer falls behind, the worker stops reading the socket (`buffer.py`).
Subscription changes arrive on stdin and are applied live, and replayed after every reconnect.
The status lines it prints are listed in the package docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
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
from contract.config import DEFAULT_MAX_SIZE, WorkerConfig
from contract.results import problem_of
from contract.status import Reporter
from providers import (
    Authorized,
    Event,
    Info,
    ProviderError,
    Reconnect,
    Records,
    Unauthorized,
    Unreadable,
    get_provider,
)
from providers.protocol import Message, TokenRequest

from .buffer import RowBuffer
from .control import open_stdin
from .health import beat
from .intake import SPLIT_BYTES, Counters, Intake, slices
from .stats import figures, report_stats, summary
from .writer import RecordWriter

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_UNAUTHORIZED = 3
EXIT_PROVIDER = 4
EXIT_RESULTS = 5
# max_queue=1: websockets stops reading the socket as soon as more than one frame waits for
# us, so at most one socket read's frames (or one frame of up to max_size) sit in memory.
DEFAULT_CONNECT_KWARGS: dict[str, Any] = {
    "max_size": DEFAULT_MAX_SIZE,
    "max_queue": 1,
    "open_timeout": 10,
    "close_timeout": 1,
}
CLOSE_CODE_TOO_BIG = 1009


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
        self.buffer = RowBuffer(config.buffer_bytes, config.max_backlog_seconds)
        for change in config.changes:  # made while the worker was stopped
            self._change_symbols(change.action, change.symbols)
        self.writer = RecordWriter(
            config.results_file,
            config.table_name,
            limit=config.limit,
            buffer=self.buffer,
            batch_size=config.batch_size,
            reporter=reporter,
        )
        self.counters = Counters()
        self.intake = Intake(
            self.buffer, self.counters, reporter, stall_seconds=config.stall_seconds
        )
        self.connection: ClientConnection | None = None
        self.authorized = False
        self.was_ready = False
        self.connection_count = 0
        self.exit_code = EXIT_OK
        self.stopping = asyncio.Event()
        self._token_request = self.protocol.token_request()
        self._token_at: float | None = None  # monotonic time of the last token
        self._token_fresh = False  # no connection has opened with it yet

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            self.writer.start()
        except sqlite3.Error as exc:
            self.reporter.error(
                "fatal",
                f"Cannot open the results file {self.config.results_file}: {exc}",
                problem=problem_of(exc).value,
            )
            return EXIT_RESULTS
        tasks = [
            asyncio.create_task(self._stream(), name="stream"),
            asyncio.create_task(self._control(), name="control"),
            asyncio.create_task(beat(lambda: self.authorized), name="heartbeat"),
            asyncio.create_task(report_stats(self.reporter, self._figures), name="stats"),
        ]
        await self.stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.intake.handoff()  # rows of the last event-loop turn
        await asyncio.to_thread(self.writer.close)
        self.reporter.flush(force=True)
        values = self._figures()
        self.reporter.info(
            "stopped",
            f"Disconnected from the provider WebSocket: {summary(values)}.",
            exit_code=self.exit_code,
            **values,
        )
        return self.exit_code

    def _figures(self) -> dict[str, Any]:
        return figures(self.counters, self.buffer, self.writer)

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
                    if self.connection_count:
                        self.counters.reconnects += 1
                    self.connection_count += 1
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
        if exc is not None and exc.sent is not None and exc.sent.code == CLOSE_CODE_TOO_BIG:
            # A frame over max_size: its records never reached us. Counted as unreadable.
            self.counters.unreadable += 1
            detail = f"closed: a frame was larger than max_size ({exc.sent.reason})"
        self.reporter.warning("disconnected", f"Connection {detail}; reconnecting.")

    async def _session(self, connection: ClientConnection) -> None:
        self.reporter.info("connected", "WebSocket connection established.")
        await self._send(connection, self.protocol.on_open(list(self.symbols)))
        if self.protocol.ready_on_open:
            await self._on_event(connection, Authorized(self.protocol.ready_message))
        keepalive = asyncio.create_task(self._keepalive(connection), name="keepalive")
        protocol, intake = self.protocol, self.intake
        receive, add, batches = protocol.receive, intake.add, protocol.arrays_are_batches
        try:
            # Runs once per frame: the common path (a frame of records) does the least it can.
            async for frame in connection:
                if batches and len(frame) >= SPLIT_BYTES:
                    if await self._receive_large(connection, frame):
                        return
                    continue
                for event in receive(frame):
                    if type(event) is Records:
                        add(event.items)
                    elif await self._on_event(connection, event):
                        return
                if protocol.invalid:
                    self._count_invalid()
                if intake.must_wait:
                    await intake.room()
        finally:
            keepalive.cancel()

    async def _receive_large(self, connection: ClientConnection, frame: Message) -> bool:
        """A very large array frame, slice by slice, waiting for room between slices."""
        for piece in slices(frame):
            for event in self.protocol.receive(piece):
                if await self._on_event(connection, event):
                    return True
            if self.protocol.invalid:
                self._count_invalid()
            if self.intake.must_wait:
                await self.intake.room()
        return False

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

    async def _on_event(self, connection: ClientConnection, event: Event) -> bool:
        """Act on one event; True when the worker is stopping (the session ends)."""
        if isinstance(event, Records):
            self.intake.add(event.items)
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
        elif isinstance(event, Unreadable):
            self.counters.unreadable += 1
            self.reporter.emit("WARNING", "unreadable", event.message, throttle="unreadable frames")
        elif isinstance(event, ProviderError):
            if event.fatal:
                self.reporter.error("provider_error", event.message, fatal=True)
                self._fail(EXIT_PROVIDER)
            else:
                self.reporter.emit(
                    "ERROR", "provider_error", event.message, throttle="provider errors"
                )
        elif isinstance(event, Info):
            self.reporter.info("info", event.message)
        elif isinstance(event, Reconnect):
            self.reporter.info("reconnect_requested", f"{event.message}; reconnecting.")
            await connection.close()
        return self.stopping.is_set()

    def _count_invalid(self) -> None:
        invalid = self.protocol.take_invalid()
        self.counters.invalid += len(invalid)
        self.reporter.emit(
            "WARNING",
            "invalid",
            f"{len(invalid)} records failed validation: {invalid[-1].reason}",
            throttle="invalid records",
            invalid=self.counters.invalid,
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
