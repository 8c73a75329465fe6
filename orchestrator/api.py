"""The Python API: `obb.websockets.<endpoint>(...)`, as the spec describes it.

REST routes and CLI commands are thin wrappers over these methods.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from providers import Provider, WebSocketData, WebSocketQueryParams

from . import lifecycle, simulators
from .adopt import adopt
from .client import WebSocketClient
from .errors import AuthTokenError, ParameterError, StateError, WrongAuthTokenError
from .models import OBBject, WebSocketConnectionStatus
from .registry import Registry
from .results import HOLDS, RESULTS_ROOT_ENV, ResultsLocation
from .runtime import Runtime, select_runtime
from .simulators import simulator_url
from .tenant import check_tenant, tenant_from_env
from .validation import (
    check_port,
    check_symbol,
    load_provider,
    parse_json_object,
    validate_params,
)

T = TypeVar("T")
SECRET_PARAMS = frozenset({"auth_token", "api_key"})
STANDARD_PARAMS = frozenset(WebSocketQueryParams.model_fields)


def check_token(client: WebSocketClient, auth_token: str | None) -> None:
    if client.accepts_token(auth_token):
        return
    if auth_token is None:
        raise AuthTokenError(f"Connection {client.name!r} requires its auth_token.")
    raise WrongAuthTokenError(f"Connection {client.name!r} was given a wrong auth_token.")


def _now() -> float:
    return time.perf_counter_ns() / 1e9


def _respond(
    route: str,
    started: float,
    results: T,
    *,
    provider: str | None = None,
    warnings: list[str] | None = None,
    arguments: dict[str, Any] | None = None,
) -> OBBject[T]:
    arguments = {k: v for k, v in (arguments or {}).items() if k not in SECRET_PARAMS}
    metadata = {
        "arguments": {
            "provider_choices": {"provider": provider} if provider else {},
            "standard_params": {k: v for k, v in arguments.items() if k in STANDARD_PARAMS},
            "extra_params": {k: v for k, v in arguments.items() if k not in STANDARD_PARAMS},
        },
        "duration": time.perf_counter_ns() - int(started * 1e9),
        "route": f"/websockets/{route}",
        "timestamp": datetime.now(UTC).isoformat(),
    }
    return OBBject[T](
        results=results, provider=provider, warnings=warnings or None, extra={"metadata": metadata}
    )


Credentials = Callable[[Provider], str | None]


class WebSocketsAPI:
    """Manage provider WebSocket connections: `obb.websockets`.

    `max_connections` caps how many connections this API holds (None: no cap); creates past
    it raise `CapacityError`, counted atomically with the names being created.

    Tenancy: one API serves one tenant (`tenant`, default FEEDDOCK_TENANT, else the runtime's,
    else `default`), with its own names, runtime (the tenant's containers only), results root
    (`results_root`, default FEEDDOCK_RESULTS_ROOT: results files must be inside it) and
    provider credentials (`credentials(provider)`, default the <PROVIDER>_API_KEY variable)
    for connections created without `api_key` and for restarts after adoption.
    """

    def __init__(
        self,
        registry: Registry[WebSocketClient] | None = None,
        runtime: Runtime | None = None,
        *,
        max_connections: int | None = None,
        tenant: str | None = None,
        results_root: str | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        if tenant is not None:
            self.tenant = check_tenant(tenant)
        else:
            self.tenant = runtime.tenant if runtime is not None else tenant_from_env()
        if runtime is not None and runtime.tenant != self.tenant:
            raise ParameterError(
                f"The runtime serves tenant {runtime.tenant!r}, not {self.tenant!r}.",
                field="tenant",
            )
        self.registry: Registry[WebSocketClient] = registry or Registry()
        self.max_connections = max_connections
        # When False, a connection to a caller's own `url` that fails says only that it
        # failed, not what the target answered (a server must not become a port scanner).
        self.reveal_url_failures = True
        self.results_root = results_root or os.environ.get(RESULTS_ROOT_ENV) or None
        # Each provider's own lookup (Alpaca joins a key id and a secret from two variables).
        self.credentials: Credentials = credentials or (
            lambda provider: provider.credential_from_env()
        )
        self._runtime = runtime
        self._adopted = False
        self._adopt_lock = threading.Lock()
        lifecycle.on_exit(self.close_at_exit)

    @property
    def runtime(self) -> Runtime:
        """The runtime, chosen on first use; its surviving workers are adopted then, once."""
        with self._adopt_lock:
            if self._runtime is None:
                self._runtime = select_runtime(tenant=self.tenant)
            if not self._adopted:
                self._adopted = True
                known = {client.name: client for client in self.registry.all()}
                for client in adopt(self._runtime, known, self.credentials):
                    self.registry.add(client)
                    HOLDS.keep(client.results_file)
            return self._runtime

    def _client(
        self, name: str, auth_token: str | None, *, as_admin: bool = False
    ) -> WebSocketClient:
        self.runtime  # noqa: B018 -- adopts surviving workers first
        client = self.registry.get(name)
        if not as_admin:
            check_token(client, auth_token)
        return client

    # -- endpoints ----------------------------------------------------------------------------

    def create_connection(
        self, provider: str, name: str, **kwargs: Any
    ) -> OBBject[WebSocketConnectionStatus]:
        """Start a provider connection in the background and return its status.

        Standard parameters: name, auth_token, results_file, save_results, table_name, limit,
        sleep_time, broadcast_host, broadcast_port, start_broadcast, connect_kwargs, url,
        api_key. Provider parameters (symbol, asset_type, feed, ...): see docs/providers.md.
        Returns once the provider confirmed the connection; raises the provider's refusal.
        """
        started = _now()
        spec = load_provider(provider)
        params = validate_params(spec, {"name": name, **kwargs})
        runtime = self.runtime
        with self.registry.reserve(params.name, capacity=self.max_connections) as slot:
            api_key = params.api_key.get_secret_value() if params.api_key else None
            if params.url is None and spec.simulated_by_default:
                params = params.model_copy(update={"url": simulator_url(spec)})
            location = ResultsLocation.allocate(
                name, params.results_file, params.table_name, root=self.results_root
            )
            try:
                HOLDS.claim(location.path)
            except BaseException:
                if location.temp_dir:  # ours alone; a file in use is someone else's
                    location.discard()
                raise
            client = WebSocketClient(
                provider=spec,
                params=params,
                api_key=api_key or self.credentials(spec),
                runtime=runtime,
                location=location,
                describe_failures=self.reveal_url_failures or "url" not in kwargs,
            )
            try:
                location.prepare()
                client.connect(broadcast=params.start_broadcast)
            except BaseException:
                client.teardown()
                HOLDS.release(location.path)
                raise
            slot.fill(client)
        return _respond(
            "create_connection",
            started,
            client.status(),
            provider=spec.name,
            arguments={"name": name, **kwargs},
        )

    def get_client(self, name: str, auth_token: str | None = None) -> OBBject[WebSocketClient]:
        """The `WebSocketClient` object itself (Python only, not in the REST API)."""
        started = _now()
        client = self._client(name, auth_token)
        return _respond("get_client", started, client, provider=client.provider.name)

    def get_client_status(
        self, name: str = "all", auth_token: str | None = None, *, as_admin: bool = False
    ) -> OBBject[list[WebSocketConnectionStatus]]:
        """Status of one connection, or of every connection the token may see (`"all"`).

        `as_admin` (the REST admin key) sees every connection, whatever its token.
        """
        started = _now()
        self.runtime  # noqa: B018 -- adopts surviving workers first
        if name == "all":
            clients = [c for c in self.registry.all() if as_admin or c.accepts_token(auth_token)]
        else:
            clients = [self._client(name, auth_token, as_admin=as_admin)]
        return _respond(
            "get_client_status", started, [c.status() for c in clients], arguments={"name": name}
        )

    @staticmethod
    def status_response(name: str, rows: list[Any]) -> OBBject[list[Any]]:
        """A `get_client_status` response around rows built elsewhere (the REST admin's)."""
        return _respond("get_client_status", _now(), rows, arguments={"name": name})

    def results_location(self, name: str, auth_token: str | None = None) -> ResultsLocation:
        """Where a connection's records are (for readers on an event loop, e.g. REST)."""
        return self._client(name, auth_token).location

    def get_results(
        self, name: str, auth_token: str | None = None, *, raw: bool = False
    ) -> OBBject[list[WebSocketData]] | OBBject[list[str]]:
        """Every record currently stored for the connection, oldest first.

        `raw=True` returns the stored JSON texts unparsed.
        """
        started = _now()
        client = self._client(name, auth_token)
        records: list[Any] = client.raw_results() if raw else client.results
        return self.results_response(name, client.provider.name, records, started)

    @staticmethod
    def results_response(
        name: str, provider: str, records: list[Any], started: float | None = None
    ) -> OBBject[list[Any]]:
        warnings = None if records else [f"No results recorded yet for {name}."]
        return _respond(
            "get_results",
            _now() if started is None else started,
            records,
            provider=provider,
            warnings=warnings,
            arguments={"name": name},
        )

    def clear_results(self, name: str, auth_token: str | None = None) -> OBBject[str]:
        """Delete the stored records; streaming goes on."""
        started = _now()
        count = self._client(name, auth_token).clear_results()
        message = f"{count} results cleared from {name}."
        return _respond("clear_results", started, message, arguments={"name": name})

    def subscribe(
        self, name: str, symbol: str, auth_token: str | None = None
    ) -> OBBject[WebSocketConnectionStatus]:
        """Subscribe to more symbols (comma-separated) while streaming."""
        return self._change("subscribe", name, symbol, auth_token)

    def unsubscribe(
        self, name: str, symbol: str, auth_token: str | None = None
    ) -> OBBject[WebSocketConnectionStatus]:
        """Unsubscribe from symbols (comma-separated) while streaming."""
        return self._change("unsubscribe", name, symbol, auth_token)

    def _change(
        self, action: str, name: str, symbol: str, auth_token: str | None
    ) -> OBBject[WebSocketConnectionStatus]:
        started = _now()
        client = self._client(name, auth_token)
        check_symbol(symbol)
        change = client.subscribe if action == "subscribe" else client.unsubscribe
        warnings = change(symbol)
        return _respond(
            action,
            started,
            client.status(),
            warnings=warnings,
            arguments={"name": name, "symbol": symbol},
        )

    def stop_connection(
        self, name: str, auth_token: str | None = None
    ) -> OBBject[WebSocketConnectionStatus]:
        """Stop the provider connection; results and subscriptions are kept."""
        started = _now()
        client = self._client(name, auth_token)
        warnings = None if client.is_running else [f"{name} was not running."]
        client.disconnect()
        return _respond(
            "stop_connection",
            started,
            client.status(),
            warnings=warnings,
            arguments={"name": name},
        )

    def restart_connection(
        self, name: str, auth_token: str | None = None, api_key: str | None = None
    ) -> OBBject[WebSocketConnectionStatus]:
        """Start the provider connection again with its current subscriptions.

        A running connection is stopped first: providers allow one connection per key.
        `api_key` replaces the provider credential (needed after an orchestrator that kept no
        credential took the connection over, unless the tenant's configuration has it).
        """
        started = _now()
        client = self._client(name, auth_token)
        if not api_key and client.credential_lost:  # the tenant's configuration may have it
            api_key = self.credentials(client.provider)
        if api_key:
            client.use_api_key(api_key)
        client.require_credential()  # before stopping what runs
        client.disconnect()
        client.connect()
        return _respond(
            "restart_connection",
            started,
            client.status(),
            provider=client.provider.name,
            arguments={"name": name},
        )

    def start_broadcasting(
        self,
        name: str,
        auth_token: str | None = None,
        host: str | None = None,
        port: int | None = None,
        uvicorn_kwargs: dict[str, Any] | str | None = None,
    ) -> OBBject[WebSocketConnectionStatus]:
        """Start the connection's broadcast server at ws://host:port.

        `host` and `port` default to the connection's `broadcast_host` and `broadcast_port`
        (themselves "127.0.0.1" and 6666 by default). `uvicorn_kwargs` (a dict or a JSON
        object string) pass through to uvicorn.
        """
        started = _now()
        client = self._client(name, auth_token)
        check_port(port)
        client.start_broadcasting(host, port, parse_json_object("uvicorn_kwargs", uvicorn_kwargs))
        return _respond(
            "start_broadcasting",
            started,
            client.status(),
            arguments={"name": name, "host": host, "port": port},
        )

    def stop_broadcasting(
        self, name: str, auth_token: str | None = None
    ) -> OBBject[WebSocketConnectionStatus]:
        """Stop the broadcast server; the provider connection keeps streaming."""
        started = _now()
        client = self._client(name, auth_token)
        if client.stop_broadcasting() is None:
            raise StateError(f"Connection {name!r} is not broadcasting.")
        return _respond("stop_broadcasting", started, client.status(), arguments={"name": name})

    def kill(
        self, name: str, auth_token: str | None = None, *, as_admin: bool = False
    ) -> OBBject[str]:
        """Stop everything the connection runs, forget it, and delete its temp results.

        `as_admin` (the REST admin key) kills without the connection's token.
        """
        started = _now()
        client = self._client(name, auth_token, as_admin=as_admin)
        client.teardown()
        self.registry.remove(name)
        HOLDS.release(client.results_file)
        # Workers of the connection that no handle tracked (left by a crash) go too.
        self.runtime.remove_connection(name)
        return _respond("kill", started, f"Clients {name} killed.", arguments={"name": name})

    # -- shutdown -----------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Tear every connection down (workers stopped, temp files removed)."""
        lifecycle.cancel(self.close_at_exit)
        self._close(release_survivors=False)

    def close_at_exit(self) -> None:
        """At exit: stop process workers, but only let go of workers that outlive us.

        Docker connections outlive the orchestrator process; the next one re-adopts them
        (adopt.py). Their temp results stay, since the containers keep writing there.
        """
        self._close(release_survivors=True)

    def _close(self, *, release_survivors: bool) -> None:
        for client in self.registry.all():
            with contextlib.suppress(Exception):
                if release_survivors and client.runtime.survives_exit:
                    client.release()
                else:
                    client.teardown()
            self.registry.remove(client.name)
            HOLDS.release(client.results_file)
        simulators.stop_all()


class _Namespace:
    """`obb`: the root object, with the `websockets` router as in OpenBB."""

    def __init__(self, factory: Callable[[], WebSocketsAPI]) -> None:
        self._factory = factory
        self._websockets: WebSocketsAPI | None = None

    @property
    def websockets(self) -> WebSocketsAPI:
        if self._websockets is None:
            self._websockets = self._factory()
        return self._websockets


obb = _Namespace(WebSocketsAPI)

__all__ = ["WebSocketsAPI", "check_token", "obb"]
