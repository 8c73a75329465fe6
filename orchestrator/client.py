"""`WebSocketClient`: one connection, its provider worker, its broadcast server, its results.

Returned by `obb.websockets.get_client(name).results`. `connect()` starts the provider worker
and returns once it streams; `disconnect()` stops it after it has written every record.
Subscriptions survive both: the worker's acknowledgements are the only source of the
subscribed set, and changes made while it is stopped are handed to the next start.

Both workers are supervised (supervision.py): one that ends without being asked to is started
again with the same results file and subscriptions, unless `restart_policy="no"`. `health`
says how the connection is doing right now:

    ok          running, nothing wrong reported
    degraded    running, but something is wrong now (`last_error` says what): commits failing,
                the provider disconnected or reporting errors, the broadcast server down, the
                engine not answering; back to ok when the worker reports recovery
    restarting  the provider worker stopped unexpectedly and will be started again
    stopped     stopped on purpose (stop_connection, or never started)
    failed      stopped unexpectedly and not restarted (a final refusal, restart_policy="no",
                or a crash loop); `last_error` says why
"""

from __future__ import annotations

import os
import threading
from typing import Any

from pydantic import SecretStr

from contract.commands import Action
from contract.config import API_KEY_ENV, BroadcastConfig, SymbolChange, WorkerConfig
from providers import Provider, WebSocketData, WebSocketQueryParams, split_symbols

from . import console
from .broadcast import BroadcastLaunch, BroadcastServer, broadcast_config
from .errors import ParameterError, StateError
from .models import WebSocketConnectionStatus
from .monitor import WorkerMonitor
from .provider_worker import ProviderWorker
from .record import ConnectionRecord
from .results import ResultsLocation
from .runtime import LaunchSpec, Role, Runtime, WorkerState
from .stats import ConnectionMetrics, connection_metrics
from .supervision import Supervisor
from .tokens import hash_token, secure_equal, token_hash_matches

CONNECT_TIMEOUT_ENV = "FEEDDOCK_CONNECT_TIMEOUT"


def connect_timeout() -> float:
    return float(os.environ.get(CONNECT_TIMEOUT_ENV, "30"))


class WebSocketClient:
    """Controls one provider connection (see the module docstring)."""

    def __init__(
        self,
        *,
        provider: Provider,
        params: WebSocketQueryParams,
        api_key: str | None,
        runtime: Runtime,
        location: ResultsLocation,
        token_hash: str | None = None,
        symbols: list[str] | None = None,
        worker: ProviderWorker | None = None,
        broadcast: BroadcastServer | None = None,
        last_error: str | None = None,
        describe_failures: bool = True,
        credential_lost: bool = False,
    ) -> None:
        self.provider = provider
        self.params = params
        self.runtime = runtime
        self.location = location
        self._api_key = api_key
        # Adopted with a credential nobody kept (the Docker runtime keeps none): ask for it.
        self._credential_lost = credential_lost and api_key is None
        token = params.auth_token.get_secret_value() if params.auth_token else None
        # What travels in labels instead of the token (record.py).
        self.token_hash = token_hash or (hash_token(token) if token else None)
        self._symbols = params.symbols() if symbols is None else symbols
        self._pending: list[SymbolChange] = []
        self._worker = worker
        self._broadcast = broadcast
        self._last_error = last_error
        # False: a failed connect is reported without what the target answered (REST + url).
        self.describe_failures = describe_failures
        self._lock = threading.RLock()
        self.supervisor = Supervisor(self.name, params.restart_policy, self._lock)
        # Bumped by every start or stop a caller asks for: a pending automatic restart only
        # goes ahead if nobody changed the part's state meanwhile.
        self._intent = {"provider": 0, "broadcast": 0}
        self._broadcast_token: str | None = None
        if worker is not None:
            self._watch_provider(worker)
        if broadcast is not None:
            self._watch_broadcast(broadcast)

    # -- identity -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.params.name

    @property
    def symbols(self) -> list[str]:
        """The subscribed symbols, as the worker last reported them."""
        worker = self._worker
        latest = worker.monitor.latest_symbols() if worker is not None else None
        return self._symbols if latest is None else latest

    @property
    def symbol(self) -> str:
        return ",".join(self.symbols)

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
    def data_model(self) -> type[WebSocketData]:
        return self.provider.data

    @property
    def auth_required(self) -> bool:
        return self.token_hash is not None

    def accepts_token(self, token: str | None) -> bool:
        """Whether `token` opens this connection (constant time)."""
        if self.token_hash is None:
            return True
        expected = self.params.auth_token
        if expected is not None:
            return secure_equal(expected.get_secret_value(), token)
        if not token_hash_matches(self.token_hash, token):
            return False
        # Adopted: only the hash was known. Keep the token for the broadcast's restarts.
        self.params = self.params.model_copy(update={"auth_token": SecretStr(str(token))})
        return True

    def record(self) -> ConnectionRecord:
        return ConnectionRecord(
            name=self.name,
            provider=self.provider.name,
            params=self.params.model_dump(mode="json", exclude={"api_key", "auth_token"}),
            symbols=tuple(self.symbols),
            results_file=self.results_file,
            temp_dir=self.location.temp_dir,
            token_hash=self.token_hash,
            results_created=self.location.created,
            has_credential=self._api_key is not None or self._credential_lost,
        )

    # -- provider worker ------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._worker is not None and self._worker.is_running

    @property
    def provider_pid(self) -> int | str | None:
        worker = self._worker
        return worker.id if worker is not None and worker.is_running else None

    @property
    def last_error(self) -> str | None:
        """The worker's last error (kept after it stopped), or None."""
        worker = self._worker
        return worker.last_error if worker is not None else self._last_error

    def problems(self) -> list[str]:
        """What is wrong right now with the running parts, oldest first."""
        found: list[str] = []
        worker, broadcast = self._worker, self._broadcast
        if worker is not None and worker.is_running:
            found += worker.monitor.problems()
        if broadcast is not None:
            if broadcast.is_running:
                found += [f"broadcast server: {p}" for p in broadcast.monitor.problems()]
            else:
                why = self.supervisor.failure("broadcast") or broadcast.monitor.last_error
                state = "restarting" if self.supervisor.restarting("broadcast") else "down"
                found.append(f"broadcast server {state}: {why or 'it stopped'}")
        return found

    @property
    def health(self) -> str:
        if self.supervisor.restarting("provider"):
            return "restarting"
        if not self.is_running:
            failed = self.supervisor.failure("provider") is not None
            return "failed" if failed else "stopped"
        return "degraded" if self.problems() else "ok"

    def _status_error(self) -> str | None:
        """`last_error` as the status shows it: what is wrong now, or why it stopped."""
        if self.is_running:
            problems = self.problems()
            return problems[-1] if problems else None
        return self.supervisor.failure("provider") or self.last_error

    def _launch_spec(self) -> LaunchSpec:
        config = WorkerConfig(
            provider=self.provider.name,
            params=self.params.model_dump(mode="json", exclude={"api_key", "auth_token"}),
            symbols=self._symbols,
            changes=self._pending,
            results_file=self.results_file,
            table_name=self.table_name,
            limit=self.params.limit,
            exit_on_stdin_eof=not self.runtime.survives_exit,
        )
        return LaunchSpec(
            role="provider",
            connection=self.name,
            env=config.environment(),
            results_dir=self.location.directory,
            labels=self.record().labels(),
            secrets={API_KEY_ENV: self._api_key} if self._api_key else {},
        )

    def use_api_key(self, api_key: str) -> None:
        """The provider credential for the next start."""
        with self._lock:
            self._api_key, self._credential_lost = api_key, False

    @property
    def credential_lost(self) -> bool:
        return self._credential_lost

    def require_credential(self) -> None:
        """Refuse to start a worker whose credential was lost (adopted, kept nowhere)."""
        if self._credential_lost:
            raise ParameterError(
                f"Connection {self.name!r} was taken over from an earlier orchestrator and "
                "its provider credential was kept nowhere. Give api_key to "
                "restart_connection, or configure the tenant's credential for "
                f"{self.provider.name} (tenants file, or ${self.provider.credential_env}).",
                field="api_key",
            )

    def connect(self, timeout: float | None = None, *, broadcast: bool = False) -> None:
        """Start the provider worker; return once it streams, or raise why it cannot.

        `broadcast`: also start the broadcast server (the connection's host and port), while
        the provider starts rather than after it: each takes about half a second to start.
        """
        with self._lock:
            if self.is_running:
                raise StateError(f"Connection {self.name!r} is already running.")
            launch = None
            if broadcast:
                self._intent["broadcast"] += 1
                self.supervisor.reset("broadcast")
                launch = self._launch_broadcast(self._broadcast_config())
            self._intent["provider"] += 1
            self.supervisor.reset("provider")
            try:
                self._start_provider(timeout)
            except BaseException:
                if launch is not None:
                    launch.abandon()
                raise
            if launch is not None:
                self._broadcast_ready(launch)

    def _start_provider(self, timeout: float | None = None) -> None:
        self.require_credential()
        self._forget_worker()
        wait = connect_timeout() if timeout is None else timeout
        try:
            worker = ProviderWorker.start(
                self.runtime,
                self._launch_spec(),
                provider=self.provider.name,
                timeout=wait,
                describe_failures=self.describe_failures,
            )
        except Exception as exc:
            self._last_error = str(exc)
            raise
        self._worker, self._pending, self._last_error = worker, [], None
        self._watch_provider(worker)

    def _watch_provider(self, worker: ProviderWorker) -> None:
        intent = self._intent["provider"]

        def exited(state: WorkerState) -> None:
            monitor = worker.monitor
            reason = monitor.last_error or state.describe() or "the worker stopped on its own"
            self.supervisor.exited(
                "provider",
                still_current=lambda: self._intent["provider"] == intent,
                reason=reason,
                final=monitor.fatal_event is not None,
                restart=self._start_provider,
            )

        worker.monitor.add_exit_listener(exited)

    def recover(self, reason: str, *, final: bool) -> None:
        """Treat a provider worker found dead (at adoption) like one that just died."""
        intent = self._intent["provider"]
        self.supervisor.exited(
            "provider",
            still_current=lambda: self._intent["provider"] == intent and not self.is_running,
            reason=reason,
            final=final,
            restart=self._start_provider,
        )

    def disconnect(self) -> None:
        """Stop the provider worker after it has written every record it received."""
        with self._lock:
            self._intent["provider"] += 1
            self.supervisor.reset("provider")
            worker = self._worker
            if worker is not None:
                worker.stop()
                self._forget_worker()

    def _forget_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            self._symbols = worker.monitor.latest_symbols() or self._symbols
            self._last_error = worker.last_error
            self._save_subscriptions()

    def _save_subscriptions(self) -> None:
        pending = [change.model_dump() for change in self._pending]
        self.location.save_subscriptions(self._symbols, pending)

    def restore_subscriptions(self) -> None:
        """Take the subscriptions a stopped connection had (adoption; see results.py)."""
        saved = self.location.load_subscriptions()
        if saved is not None:
            self._symbols = saved[0]
            self._pending = [SymbolChange.model_validate(change) for change in saved[1]]

    # -- subscriptions --------------------------------------------------------------------

    def _change(self, action: Action, symbol: str | list[str]) -> list[str]:
        wanted = split_symbols(symbol)
        with self._lock:
            worker = self._worker
            if worker is None or not worker.is_running:
                self._pending.append(SymbolChange(action=action, symbols=wanted))
                self._save_subscriptions()
                return [f"{self.name} is not running: the change applies when it is restarted."]
            ack = worker.change(action, wanted)
            unchanged = [str(s) for s in ack.get("unchanged") or []]
            if not unchanged:
                return []
            verb = "already subscribed to" if action == "subscribe" else "not subscribed to"
            return [f"{self.name} was {verb}: {','.join(unchanged)}"]

    def subscribe(self, symbol: str | list[str]) -> list[str]:
        """Add symbols (comma-separated); returns warnings about symbols already subscribed."""
        return self._change("subscribe", symbol)

    def unsubscribe(self, symbol: str | list[str]) -> list[str]:
        """Remove symbols (comma-separated); returns warnings about symbols not subscribed."""
        return self._change("unsubscribe", symbol)

    # -- results --------------------------------------------------------------------------

    @property
    def results(self) -> list[WebSocketData]:
        return self.location.records(self.data_model)

    def raw_results(self) -> list[str]:
        """The stored JSON text of every record, oldest first."""
        return self.location.messages()

    def clear_results(self) -> int:
        count = self.location.clear()
        console.show(f"Results cleared from table {self.table_name} in {self.results_file}")
        return count

    # -- broadcast server -----------------------------------------------------------------

    @property
    def is_broadcasting(self) -> bool:
        return self._broadcast is not None and self._broadcast.is_running

    @property
    def broadcast_address(self) -> str | None:
        broadcast = self._broadcast
        return broadcast.address if broadcast is not None and broadcast.is_running else None

    @property
    def broadcast_pid(self) -> int | str | None:
        broadcast = self._broadcast
        return broadcast.id if broadcast is not None and broadcast.is_running else None

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
            config = self._broadcast_config(host, port, uvicorn_kwargs)
            self._intent["broadcast"] += 1
            self.supervisor.reset("broadcast")
            self._start_broadcast(config)

    def _broadcast_config(
        self,
        host: str | None = None,
        port: int | None = None,
        uvicorn_kwargs: dict[str, Any] | None = None,
    ) -> BroadcastConfig:
        return broadcast_config(
            results_file=self.results_file,
            table_name=self.table_name,
            host=self.params.broadcast_host if host is None else host,
            port=self.params.broadcast_port if port is None else port,
            sleep_time=self.params.sleep_time,
            uvicorn_kwargs=uvicorn_kwargs or {},
            exit_on_stdin_eof=not self.runtime.survives_exit,
        )

    def _start_broadcast(self, config: BroadcastConfig) -> None:
        self._broadcast_ready(self._launch_broadcast(config))

    def _launch_broadcast(self, config: BroadcastConfig) -> BroadcastLaunch:
        token = self.params.auth_token
        return BroadcastLaunch(
            self.runtime,
            config,
            connection=self.name,
            results_dir=self.location.directory,
            auth_token=token.get_secret_value() if token else None,
            labels=self.record().labels(),
        )

    def _broadcast_ready(self, launch: BroadcastLaunch) -> None:
        self._broadcast = launch.ready()
        self._watch_broadcast(self._broadcast)

    def _watch_broadcast(self, broadcast: BroadcastServer) -> None:
        intent = self._intent["broadcast"]

        def exited(state: WorkerState) -> None:
            config = broadcast.config
            reason = broadcast.monitor.last_error or state.describe() or "it stopped on its own"
            self.supervisor.exited(
                "broadcast",
                still_current=lambda: self._intent["broadcast"] == intent,
                reason=reason,
                final=config is None,  # adopted from an old record: nothing to restart with
                restart=lambda: self._start_broadcast(config) if config else None,
            )

        broadcast.monitor.add_exit_listener(exited)

    def stop_broadcasting(self) -> str | None:
        """Stop the broadcast server (the provider keeps streaming); returns its address."""
        with self._lock:
            self._intent["broadcast"] += 1
            self.supervisor.reset("broadcast")
            broadcast, self._broadcast = self._broadcast, None
            if broadcast is None:
                return None
            if broadcast.is_running:
                broadcast.stop()
            return broadcast.address

    # -- status and teardown --------------------------------------------------------------

    def monitors(self) -> dict[Role, WorkerMonitor]:
        """The monitors of the running workers, by role: their counters and their last lines."""
        found: dict[Role, WorkerMonitor] = {}
        if self._worker is not None and self._worker.is_running:
            found["provider"] = self._worker.monitor
        if self._broadcast is not None and self._broadcast.is_running:
            found["broadcast"] = self._broadcast.monitor
        return found

    def metrics(self) -> ConnectionMetrics:
        """The counters the running workers last reported (stats.py), with their labels."""
        # The labels of this connection's series in GET /metrics.
        labels = {
            "tenant": self.runtime.tenant,
            "connection": self.name,
            "provider": self.provider.name,
        }
        monitors = self.monitors()
        provider, broadcast = monitors.get("provider"), monitors.get("broadcast")
        return connection_metrics(
            labels,
            provider.stats if provider is not None else None,
            broadcast.stats if broadcast is not None else None,
        )

    def status(self) -> WebSocketConnectionStatus:
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
            health=self.health,
            last_error=self._status_error(),
            restarts=self.supervisor.restarts,
            metrics=self.metrics(),
        )

    def discard_results(self) -> None:
        """Remove the results file unless `save_results`; say where it was kept otherwise."""
        if self.save_results or not self.location.discard():
            console.show(f"Websocket results saved to: {self.results_file}")

    def teardown(self) -> None:
        """Stop everything the connection runs and discard its results unless saved."""
        self.supervisor.close()
        self.stop_broadcasting()
        self.disconnect()
        self.discard_results()

    def release(self) -> None:
        """Let go of the workers without stopping them (their runtime outlives this process)."""
        self.supervisor.close()
        with self._lock:
            for part in (self._worker, self._broadcast):
                if part is not None:
                    part.release()

    def __repr__(self) -> str:
        return (
            f"WebSocketClient(provider={self.provider.name}, runtime={self.runtime.name}, "
            f"name={self.name}, symbol={self.symbol}, is_running={self.is_running}, "
            f"provider_pid: {self.provider_pid}, is_broadcasting={self.is_broadcasting}, "
            f"broadcast_address={self.broadcast_address}, broadcast_pid: {self.broadcast_pid}, "
            f"results_file={self.results_file}, "
            f"table_name={self.table_name}, save_results={self.save_results})"
        )


__all__ = ["WebSocketClient", "connect_timeout"]
