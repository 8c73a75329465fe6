"""`WebSocketClient`: one named connection, its provider worker and its results file."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from contract.config import API_KEY_ENV, WorkerConfig
from contract.results import prepare
from providers import Provider, WebSocketData, WebSocketQueryParams

from . import console, results
from .adopt import LabelledRuntime, record_labels
from .broadcast import Broadcast
from .errors import StateError, UnauthorizedError, WorkerError
from .models import WebSocketConnectionStatus
from .monitor import WorkerMonitor
from .runtime import LaunchSpec, Runtime, WorkerHandle

CONNECT_TIMEOUT_ENV = "FEEDDOCK_CONNECT_TIMEOUT"
ACK_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
EXIT_READ_SECONDS = 2.0


def connect_timeout() -> float:
    return float(os.environ.get(CONNECT_TIMEOUT_ENV, "30"))


@dataclass
class ResultsLocation:
    path: str
    # A directory feeddock created for a temp results file; removed with the file.
    temp_dir: str | None = None
    # False when the file existed before the connection: feeddock never deletes such a file.
    created: bool = True

    @property
    def directory(self) -> str:
        return str(Path(self.path).parent)


class WebSocketClient:
    """Controls one provider connection. Returned by `obb.websockets.get_client(name).results`.

    `connect()` starts the provider worker and returns once it is streaming; `disconnect()`
    stops it after it has flushed every record. Subscriptions survive both.
    """

    def __init__(
        self,
        *,
        provider: Provider,
        params: WebSocketQueryParams,
        api_key: str | None,
        runtime: Runtime,
        location: ResultsLocation,
    ) -> None:
        self.provider = provider
        self.params = params
        self.runtime = runtime
        self.location = location
        self._api_key = api_key
        protocol = provider.protocol(params, None)
        self._canonical = protocol.canonical_symbol
        self._symbols: dict[str, None] = {self._canonical(s): None for s in params.symbols()}
        self._handle: WorkerHandle | None = None
        self._monitor: WorkerMonitor | None = None
        self._broadcast: Broadcast | None = None
        self._command_ids = itertools.count(1)
        self._lock = threading.RLock()
        self._last_error: str | None = None
        # Re-adoption: a salted SHA-256 of auth_token, stored in container labels (adopt.py).
        self.auth_token_hash: str | None = None
        prepare(location.path, params.table_name)

    # -- identity -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.params.name

    @property
    def symbol(self) -> str:
        return ",".join(self._symbols)

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    @property
    def results_file(self) -> str:
        return self.location.path

    @property
    def table_name(self) -> str:
        return self.params.table_name

    @property
    def save_results(self) -> bool:
        return self.params.save_results

    @property
    def auth_required(self) -> bool:
        return self.params.auth_token is not None or self.auth_token_hash is not None

    @property
    def is_running(self) -> bool:
        return self._handle is not None and self._handle.is_running()

    @property
    def provider_pid(self) -> int | str | None:
        return self._handle.id if self.is_running and self._handle is not None else None

    @property
    def data_model(self) -> type[WebSocketData]:
        return self.provider.data

    # -- provider worker ------------------------------------------------------------------

    def _launch_spec(self) -> LaunchSpec:
        params = self.params.model_dump(mode="json", exclude={"api_key", "auth_token"})
        config = WorkerConfig(
            provider=self.provider.name,
            params=params,
            symbols=self.symbols,
            results_file=self.results_file,
            table_name=self.table_name,
            limit=self.params.limit,
            exit_on_stdin_eof=self.runtime.name == "process",
        )
        env = config.environment()
        if self._api_key:
            env[API_KEY_ENV] = self._api_key
        return LaunchSpec(
            role="provider",
            connection=self.name,
            env=env,
            results_dir=self.location.directory,
            labels=record_labels(self),
        )

    def connect(self, timeout: float | None = None) -> None:
        """Start the provider worker; return once it streams, or raise why it cannot."""
        with self._lock:
            if self.is_running:
                raise StateError(f"Connection {self.name!r} is already running.")
            handle = self.runtime.start(self._launch_spec())
            monitor = WorkerMonitor(handle).start()
            self._handle, self._monitor = handle, monitor
            wait = connect_timeout() if timeout is None else timeout
            if monitor.wait_ready(wait) and monitor.ready and monitor.fatal_event is None:
                self._last_error = None
                return
            reason = monitor.last_error or monitor.last_message(
                "reconnecting", "disconnected", "provider_error"
            )
            handle.stop(STOP_TIMEOUT_SECONDS)
            monitor.join()
            self._last_error = reason or "the worker stopped before it was ready"
            if monitor.fatal_event is not None and monitor.fatal_event.event == "unauthorized":
                raise UnauthorizedError(
                    f"{self.provider.name} refused the credentials for {self.name!r}: "
                    f"{monitor.fatal_event.get('message')}"
                )
            if not monitor.exited or monitor.exit_code in (0, None):
                raise WorkerError(
                    f"Connection {self.name!r} was not ready within {wait:g} s"
                    + (f": {reason}" if reason else ".")
                )
            raise WorkerError(f"Connection {self.name!r} failed: {self._last_error}")

    def disconnect(self) -> None:
        """Stop the provider worker after it has written every record it received."""
        with self._lock:
            handle, monitor = self._handle, self._monitor
            if handle is None:
                return
            handle.stop(STOP_TIMEOUT_SECONDS)
            if monitor is not None:
                monitor.join()
                self._last_error = monitor.last_error
            self._handle = None

    @property
    def last_error(self) -> str | None:
        """The worker's last error (kept after it stopped), or None."""
        self.refresh()
        return self._last_error

    def refresh(self) -> None:
        """Notice a worker that died on its own and keep its last error."""
        monitor, handle = self._monitor, self._handle
        # A container's last log lines can trail its exit (a process pipe's do not): once the
        # worker is gone, give the monitor a moment to read them.
        exiting = monitor is not None and not monitor.exited
        if exiting and monitor is not None and handle is not None and not handle.is_running():
            monitor.wait_for(lambda: monitor.exited, EXIT_READ_SECONDS)
        if monitor is not None and monitor.exited and monitor.last_error:
            self._last_error = monitor.last_error

    # -- subscriptions --------------------------------------------------------------------

    def _change(self, action: str, symbol: str | list[str]) -> list[str]:
        from providers import split_symbols

        wanted = [self._canonical(s) for s in split_symbols(symbol)]
        with self._lock:
            if action == "subscribe":
                changed = [s for s in wanted if s not in self._symbols]
            else:
                changed = [s for s in wanted if s in self._symbols]
            unchanged = [s for s in wanted if s not in changed]
            verb = "already subscribed to" if action == "subscribe" else "not subscribed to"
            warnings = [f"{self.name} was {verb}: {','.join(unchanged)}"] if unchanged else []
            if not changed:
                return warnings
            if self.is_running and self._handle is not None and self._monitor is not None:
                command_id = f"{next(self._command_ids)}"
                line = orjson.dumps({"event": action, "symbol": changed, "id": command_id})
                self._handle.send(line.decode())
                ack = self._monitor.wait_event(
                    lambda e: e.get("id") == command_id, ACK_TIMEOUT_SECONDS
                )
                if ack is None:
                    raise WorkerError(
                        f"Connection {self.name!r} did not acknowledge the {action} "
                        f"of {','.join(changed)}: {self._monitor.last_error or 'no answer'}"
                    )
            else:
                warnings.append(
                    f"{self.name} is not running: the change applies when it is restarted."
                )
            if action == "subscribe":
                self._symbols.update(dict.fromkeys(changed))
            else:
                for item in changed:
                    del self._symbols[item]
            return warnings

    def subscribe(self, symbol: str | list[str]) -> list[str]:
        """Add symbols (comma-separated); returns warnings about symbols already subscribed."""
        return self._change("subscribe", symbol)

    def unsubscribe(self, symbol: str | list[str]) -> list[str]:
        """Remove symbols (comma-separated); returns warnings about symbols not subscribed."""
        return self._change("unsubscribe", symbol)

    # -- results --------------------------------------------------------------------------

    @property
    def results(self) -> list[WebSocketData]:
        return results.read_records(self.results_file, self.table_name, self.data_model)

    def raw_results(self) -> list[str]:
        """The stored JSON text of every record, oldest first."""
        return results.read_messages(self.results_file, self.table_name)

    def clear_results(self) -> int:
        count = results.clear(self.results_file, self.table_name)
        console.show(f"Results cleared from table {self.table_name} in {self.results_file}")
        return count

    # -- status and teardown --------------------------------------------------------------

    # -- broadcast server -----------------------------------------------------------------

    @property
    def is_broadcasting(self) -> bool:
        return self._broadcast is not None and self._broadcast.is_running

    @property
    def broadcast_address(self) -> str | None:
        return self._broadcast.address if self.is_broadcasting and self._broadcast else None

    @property
    def broadcast_pid(self) -> int | str | None:
        return self._broadcast.handle.id if self.is_broadcasting and self._broadcast else None

    def start_broadcasting(
        self,
        host: str | None = None,
        port: int | None = None,
        uvicorn_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Serve the results to listeners at ws://host:port (defaults: the connection's)."""
        with self._lock:
            if self.is_broadcasting:
                raise StateError(
                    f"Connection {self.name!r} is already broadcasting to {self.broadcast_address}."
                )
            token = self.params.auth_token
            self._broadcast = Broadcast.start(
                LabelledRuntime(self.runtime, record_labels(self)),
                connection=self.name,
                results_file=self.results_file,
                results_dir=self.location.directory,
                table_name=self.table_name,
                host=self.params.broadcast_host if host is None else host,
                port=self.params.broadcast_port if port is None else port,
                sleep_time=self.params.sleep_time,
                auth_token=token.get_secret_value() if token else None,
                uvicorn_kwargs=uvicorn_kwargs,
                exit_on_stdin_eof=self.runtime.name == "process",
            )

    def stop_broadcasting(self) -> str | None:
        """Stop the broadcast server (the provider keeps streaming); returns its address."""
        with self._lock:
            broadcast, self._broadcast = self._broadcast, None
            if broadcast is None:
                return None
            broadcast.stop()
            return broadcast.address

    # -- status and teardown --------------------------------------------------------------

    def status(self) -> WebSocketConnectionStatus:
        self.refresh()
        return WebSocketConnectionStatus(
            name=self.name,
            auth_required=self.auth_required,
            subscribed_symbols=self.symbol,
            is_running=self.is_running,
            provider_pid=self.provider_pid,
            is_broadcasting=self.is_broadcasting,
            broadcast_address=self.broadcast_address,
            broadcast_pid=self.broadcast_pid,
            results_file=self.results_file,
            table_name=self.table_name,
            save_results=self.save_results,
        )

    def discard_results(self) -> None:
        """Remove the results file unless `save_results`; say where it was kept otherwise."""
        if self.save_results or not self.location.created:
            console.show(f"Websocket results saved to: {self.results_file}")
            return
        results.remove_files(self.results_file)
        if self.location.temp_dir:
            shutil.rmtree(self.location.temp_dir, ignore_errors=True)

    # -- re-adoption (adopt.py) -------------------------------------------------------------

    def adopt_workers(
        self,
        *,
        symbols: list[str],
        handle: WorkerHandle | None,
        monitor: WorkerMonitor | None,
        broadcast: Broadcast | None,
    ) -> None:
        """Take over workers another orchestrator process started for this connection."""
        with self._lock:
            self._symbols = {self._canonical(s): None for s in symbols}
            self._handle, self._monitor, self._broadcast = handle, monitor, broadcast
            if monitor is not None:
                self._last_error = monitor.last_error

    def detach(self) -> None:
        """Let go of the workers without stopping them (their runtime outlives this process)."""
        with self._lock:
            handles = [self._handle, self._broadcast.handle if self._broadcast else None]
            for handle in handles:
                close = getattr(handle, "close", None)
                if close is not None:
                    close()

    def __repr__(self) -> str:
        return (
            f"WebSocketClient(provider={self.provider.name}, runtime={self.runtime.name}, "
            f"name={self.name}, symbol={self.symbol}, is_running={self.is_running}, "
            f"provider_pid: {self.provider_pid}, is_broadcasting={self.is_broadcasting}, "
            f"broadcast_address={self.broadcast_address}, broadcast_pid: {self.broadcast_pid}, "
            f"results_file={self.results_file}, "
            f"table_name={self.table_name}, save_results={self.save_results})"
        )
