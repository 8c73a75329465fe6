"""Runs the broadcast: binds the port, tails the table, serves listeners until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sys
from collections.abc import Generator
from types import FrameType
from typing import Any

import uvicorn

from contract.config import BroadcastConfig
from contract.status import Reporter

from .app import BroadcastApp
from .channel import BroadcastProtocol
from .hub import Hub, Limits, Listener
from .reader import TableReader
from .tailer import Tailer

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_PORT_IN_USE = 5
EXIT_BIND_FAILED = 6

# Defaults the caller's uvicorn_kwargs may override. Compression would cost one zlib stream
# per listener per frame, the dominant cost at high rates; a stalled listener must not block
# shutdown forever.
UVICORN_DEFAULTS: dict[str, Any] = {
    "ws_per_message_deflate": False,
    "timeout_graceful_shutdown": 5,
    "access_log": False,
    "server_header": False,
}


class PortInUse(OSError):
    pass


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, so a taken port is reported clearly."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so, and
    # accepted sockets inherit it. Without it Nagle + delayed ACKs add ~40 ms stalls.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(exc.errno, f"Port {port} on {host} is already in use") from exc
        raise
    sock.set_inheritable(True)
    return sock


class _UvicornLog(logging.Handler):
    """uvicorn's own warnings and errors, as status lines (its info lines could hold tokens)."""

    def __init__(self, reporter: Reporter) -> None:
        super().__init__(logging.WARNING)
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().splitlines()[0][:300] if record.getMessage() else ""
        if record.levelno >= logging.ERROR:
            self.reporter.error("server_error", message)
        else:
            self.reporter.warning("server_warning", message)


def silence_uvicorn(reporter: Reporter) -> None:
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = False
    logging.getLogger("uvicorn").addHandler(_UvicornLog(reporter))
    logging.getLogger("uvicorn.error").propagate = True


class Server(uvicorn.Server):
    """uvicorn's server, reporting `listening` once it accepts, with plain signal handling."""

    def __init__(self, config: uvicorn.Config, reporter: Reporter, address: str) -> None:
        super().__init__(config)
        self.reporter = reporter
        self.address = address

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self.reporter.info(
                "listening", f"Stream results from {self.address}", address=self.address
            )

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn re-raises the signal after shutdown, which would kill us with a signal exit
        # status; SIGTERM/SIGINT here mean "stop gracefully and exit 0".
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_exit, sig)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def request_exit(self, sig: int, frame: FrameType | None = None) -> None:
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True

    # uvicorn wakes ten times a second to look at `should_exit` (and refresh its Date header
    # once a second): about 0.3 % of a core per idle server, a core for every few hundred on a
    # host. Here the loop wakes once a second (the Date header keeps its resolution), and at
    # once when an exit is asked for.
    _exit_event: asyncio.Event | None = None

    @property
    def should_exit(self) -> bool:
        return self._exit_event is not None and self._exit_event.is_set()

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        if self._exit_event is None:
            self._exit_event = asyncio.Event()
        if value:
            self._exit_event.set()
        else:
            self._exit_event.clear()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # on_tick's once-a-second work runs every tick
            assert self._exit_event is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_event.wait(), 1.0)


async def _watch_stdin(server: Server, reporter: Reporter) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass
    reporter.info("parent_gone", "stdin closed: the orchestrator has gone; stopping.")
    server.should_exit = True


async def run(config: BroadcastConfig, token: str | None, reporter: Reporter) -> int:
    try:
        sock = bind(config.listen_host, config.port)
    except PortInUse as exc:
        reporter.error("port_in_use", exc.strerror or str(exc), host=config.host, port=config.port)
        return EXIT_PORT_IN_USE
    except OSError as exc:
        reporter.error(
            "bind_failed",
            f"Cannot bind {config.host}:{config.port}: {exc}",
            host=config.host,
            port=config.port,
        )
        return EXIT_BIND_FAILED

    hub = Hub(
        Limits(
            max_pending_records=config.max_pending_records,
            max_buffer_bytes=config.max_buffer_bytes,
            max_listeners=config.max_listeners,
            max_filters=config.max_filters,
        )
    )

    def on_slow(listener: Listener) -> None:
        reporter.warning(
            "slow_listener",
            f"{listener.client} closed: {listener.close_reason}",
            client=listener.client,
            reason=listener.close_reason,
            max_pending_records=config.max_pending_records,
            max_buffer_bytes=config.max_buffer_bytes,
            slow_disconnects=hub.stats.slow_closes,
        )

    hub.on_slow = on_slow
    reader = TableReader(config.results_file, config.table_name)
    tailer = Tailer(config, reader, hub, reporter)
    app = BroadcastApp(hub, reader, token, reporter)
    silence_uvicorn(reporter)
    uv_config = uvicorn.Config(
        app.asgi(),
        host=config.listen_host,
        port=config.port,
        log_config=None,
        lifespan="off",
        ws=BroadcastProtocol,
        **{**UVICORN_DEFAULTS, **config.uvicorn_kwargs},
    )
    server = Server(uv_config, reporter, config.address)
    tasks: list[asyncio.Task[None]] = []
    try:
        await tailer.start()
        tasks.append(asyncio.create_task(tailer.run(), name="tailer"))
        if config.exit_on_stdin_eof:
            tasks.append(asyncio.create_task(_watch_stdin(server, reporter), name="stdin"))
        await server.serve(sockets=[sock])
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        sock.close()
        await tailer.close()
    reporter.info(
        "stopped",
        f"Stopped broadcasting to: {config.address}",
        address=config.address,
        records=hub.stats.records_read,
        slow_disconnects=hub.stats.slow_closes,
        **tailer.snapshot(),
    )
    return EXIT_OK
