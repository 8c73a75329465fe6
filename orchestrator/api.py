"""The Python API: `obb.websockets.<endpoint>(...)`, as the spec describes it.

REST routes and CLI commands are thin wrappers over these methods.
"""

from __future__ import annotations

import hmac
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from providers import Provider, UnknownProvider, WebSocketData, WebSocketQueryParams, get_provider

from .adopt import adopt, adopted_token_matches
from .client import ResultsLocation, WebSocketClient
from .errors import AuthTokenError, ParameterError, StateError, UnknownProviderError
from .models import OBBject, WebSocketConnectionStatus
from .registry import Registry
from .runtime import Runtime, select_runtime
from .simulators import simulator_url

T = TypeVar("T")
SECRET_PARAMS = frozenset({"auth_token", "api_key"})
STANDARD_PARAMS = frozenset(WebSocketQueryParams.model_fields)


def parameter_error(exc: ValidationError, model: type[WebSocketQueryParams]) -> ParameterError:
    """Turn pydantic's report into one message naming each bad field and what it accepts."""
    problems: list[str] = []
    first_field: str | None = None
    allowed: list[str] | None = None
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        first_field = first_field or field or None
        context = error.get("ctx") or {}
        if error["type"] == "extra_forbidden":
            names = ", ".join(sorted(model.model_fields))
            problems.append(f"unknown parameter {field!r}. Allowed parameters: {names}")
            continue
        if error["type"] == "missing":
            problems.append(f"{field!r} is required")
            continue
        message = error["msg"].removeprefix("Value error, ")
        if allowed is None and context.get("allowed"):
            allowed = [str(item) for item in context["allowed"]]
        elif allowed is None and context.get("expected"):
            expected = str(context["expected"]).replace(" or ", ",")
            allowed = [item.strip(" '") for item in expected.split(",")]
        shown = error.get("input")
        shown_text = "" if shown is None or isinstance(shown, dict) else f" (got {shown!r})"
        if field:
            problems.append(f"{field!r} {message[0].lower() + message[1:]}{shown_text}")
        else:  # a check across several parameters: its message names them
            problems.append(message)
    return ParameterError(
        "Invalid parameters: " + "; ".join(problems) + ".", field=first_field, allowed=allowed
    )


def teardown(client: WebSocketClient) -> None:
    """Stop everything a connection runs and discard its results unless saved."""
    client.stop_broadcasting()
    client.disconnect()
    client.discard_results()


class WebSocketsAPI:
    """Manage provider WebSocket connections: `obb.websockets`."""

    def __init__(self, registry: Registry | None = None, runtime: Runtime | None = None) -> None:
        self.registry = registry or Registry()
        self._runtime = runtime
        self._adopted = False

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = select_runtime()
        if not self._adopted:
            # Re-adoption: take over the containers an earlier orchestrator process left
            # running (Docker runtime only; see adopt.py). Once per API object.
            self._adopted = True
            adopt(self.registry, self._runtime)
        return self._runtime

    # -- helpers ------------------------------------------------------------------------------

    def _client(self, name: str, auth_token: str | None) -> WebSocketClient:
        self.runtime  # noqa: B018 -- adopts running containers first (adopt.py)
        client = self.registry.get(name)
        check_token(client, auth_token)
        return client

    @staticmethod
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
            results=results,
            provider=provider,
            warnings=warnings or None,
            extra={"metadata": metadata},
        )

    @staticmethod
    def _now() -> float:
        return time.perf_counter_ns() / 1e9

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
        started = self._now()
        spec = self._load_provider(provider)
        self.runtime  # noqa: B018 -- adopts running containers first (adopt.py)
        self.registry.reserve(name)
        params = self._validate(spec, {"name": name, **kwargs})
        api_key = params.api_key.get_secret_value() if params.api_key else None
        api_key = api_key or spec.credential_from_env()
        if params.url is None and spec.simulated_by_default:
            params = params.model_copy(update={"url": simulator_url(spec)})
        client = WebSocketClient(
            provider=spec,
            params=params,
            api_key=api_key,
            runtime=self.runtime,
            location=self._results_location(params),
        )
        try:
            client.connect()
            if params.start_broadcast:
                client.start_broadcasting()
        except Exception:
            teardown(client)
            raise
        self.registry.add(client)
        return self._respond(
            "create_connection",
            started,
            client.status(),
            provider=spec.name,
            arguments={"name": name, **kwargs},
        )

    def get_client(self, name: str, auth_token: str | None = None) -> OBBject[WebSocketClient]:
        """The `WebSocketClient` object itself (Python only, not in the REST API)."""
        started = self._now()
        client = self._client(name, auth_token)
        return self._respond("get_client", started, client, provider=client.provider.name)

    def get_client_status(
        self, name: str = "all", auth_token: str | None = None
    ) -> OBBject[list[WebSocketConnectionStatus]]:
        """Status of one connection, or of every connection the token may see (`"all"`)."""
        started = self._now()
        self.runtime  # noqa: B018 -- adopts running containers first (adopt.py)
        if name == "all":
            clients = [c for c in self.registry.all() if token_matches(c, auth_token)]
        else:
            clients = [self._client(name, auth_token)]
        return self._respond(
            "get_client_status",
            started,
            [c.status() for c in clients],
            arguments={"name": name},
        )

    def get_results(
        self, name: str, auth_token: str | None = None, *, raw: bool = False
    ) -> OBBject[list[WebSocketData]] | OBBject[list[str]]:
        """Every record currently stored for the connection, oldest first.

        `raw=True` returns the stored JSON texts unparsed (what the REST API serves).
        """
        started = self._now()
        client = self._client(name, auth_token)
        records: list[Any] = client.raw_results() if raw else client.results
        warnings = None if records else [f"No results recorded yet for {name}."]
        return self._respond(
            "get_results",
            started,
            records,
            provider=client.provider.name,
            warnings=warnings,
            arguments={"name": name},
        )

    def clear_results(self, name: str, auth_token: str | None = None) -> OBBject[str]:
        """Delete the stored records; streaming goes on."""
        started = self._now()
        count = self._client(name, auth_token).clear_results()
        return self._respond(
            "clear_results",
            started,
            f"{count} results cleared from {name}.",
            arguments={"name": name},
        )

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
        started = self._now()
        client = self._client(name, auth_token)
        if not isinstance(symbol, str) or not symbol.strip(" ,"):
            raise ParameterError(
                "Invalid parameters: 'symbol' must name at least one symbol, e.g. 'aapl,msft'.",
                field="symbol",
            )
        change = client.subscribe if action == "subscribe" else client.unsubscribe
        warnings = change(symbol)
        return self._respond(
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
        started = self._now()
        client = self._client(name, auth_token)
        warnings = None if client.is_running else [f"{name} was not running."]
        client.disconnect()
        return self._respond(
            "stop_connection",
            started,
            client.status(),
            warnings=warnings,
            arguments={"name": name},
        )

    def restart_connection(
        self, name: str, auth_token: str | None = None
    ) -> OBBject[WebSocketConnectionStatus]:
        """Start the provider connection again with its current subscriptions.

        A running connection is stopped first: providers allow one connection per key.
        """
        started = self._now()
        client = self._client(name, auth_token)
        client.disconnect()
        client.connect()
        return self._respond(
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
        started = self._now()
        client = self._client(name, auth_token)
        if port is not None and (not isinstance(port, int) or not 1 <= port <= 65535):
            raise ParameterError(
                "Invalid parameters: 'port' must be an integer from 1 to 65535.", field="port"
            )
        client.start_broadcasting(host, port, parse_json_object("uvicorn_kwargs", uvicorn_kwargs))
        return self._respond(
            "start_broadcasting",
            started,
            client.status(),
            arguments={"name": name, "host": host, "port": port},
        )

    def stop_broadcasting(
        self, name: str, auth_token: str | None = None
    ) -> OBBject[WebSocketConnectionStatus]:
        """Stop the broadcast server; the provider connection keeps streaming."""
        started = self._now()
        client = self._client(name, auth_token)
        if client.stop_broadcasting() is None:
            raise StateError(f"Connection {name!r} is not broadcasting.")
        return self._respond(
            "stop_broadcasting", started, client.status(), arguments={"name": name}
        )

    def kill(self, name: str, auth_token: str | None = None) -> OBBject[str]:
        """Stop everything the connection runs, forget it, and delete its temp results."""
        started = self._now()
        client = self._client(name, auth_token)
        teardown(client)
        self.registry.remove(name)
        # Docker: also remove any container of the connection that no handle tracked.
        sweep = getattr(client.runtime, "remove_connection", None)
        if sweep is not None:
            sweep(name)
        return self._respond("kill", started, f"Clients {name} killed.", arguments={"name": name})

    # -- creation helpers ---------------------------------------------------------------------

    @staticmethod
    def _load_provider(name: str) -> Provider:
        if not isinstance(name, str):
            raise ParameterError("'provider' must be a string.", field="provider")
        try:
            return get_provider(name)
        except UnknownProvider as exc:
            raise UnknownProviderError(name, exc.available) from None

    @staticmethod
    def _validate(spec: Provider, arguments: dict[str, Any]) -> WebSocketQueryParams:
        try:
            return spec.params.model_validate(arguments)
        except ValidationError as exc:
            raise parameter_error(exc, spec.params) from None

    @staticmethod
    def _results_location(params: WebSocketQueryParams) -> ResultsLocation:
        if params.results_file:
            path = Path(params.results_file)
            if path.is_dir():
                raise ParameterError(
                    f"Invalid parameters: 'results_file' {str(path)!r} is a directory; "
                    "give a file path.",
                    field="results_file",
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            return ResultsLocation(str(path), created=not path.exists())
        temp_dir = tempfile.mkdtemp(prefix=f"feeddock-{params.name}-")
        return ResultsLocation(str(Path(temp_dir) / "results.db"), temp_dir=temp_dir)


def parse_json_object(field: str, value: dict[str, Any] | str | None) -> dict[str, Any] | None:
    """Accept a dict or a JSON object string (as the REST API and CLI pass them)."""
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value) if value.strip() else None
        except orjson.JSONDecodeError as exc:
            raise ParameterError(
                f"Invalid parameters: {field!r} is not valid JSON: {exc}.", field=field
            ) from None
        if parsed is None or isinstance(parsed, dict):
            return parsed
    raise ParameterError(
        f"Invalid parameters: {field!r} must be a dict or a JSON object string.", field=field
    )


def token_matches(client: WebSocketClient, auth_token: str | None) -> bool:
    expected = client.params.auth_token
    if expected is None:
        return adopted_token_matches(client, auth_token)  # adopted: only a hash is known
    if not isinstance(auth_token, str):
        return False
    return hmac.compare_digest(expected.get_secret_value().encode(), auth_token.encode())


def check_token(client: WebSocketClient, auth_token: str | None) -> None:
    if token_matches(client, auth_token):
        return
    reason = "requires its auth_token" if auth_token is None else "was given a wrong auth_token"
    raise AuthTokenError(f"Connection {client.name!r} {reason}.")


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

__all__ = ["WebSocketsAPI", "check_token", "obb", "teardown", "token_matches"]
