"""REST API: `/api/v1/websockets/<endpoint>` for every endpoint of the spec but `get_client`.

Each route is a thin wrapper over `WebSocketsAPI`; responses are the OBBject as JSON. Reads are
GET, changes are POST. Parameters keep the Python API's names; `create_connection` takes a
JSON body (provider parameters vary by provider), the others query parameters.

Auth, two layers:
- the connection's `auth_token` (query parameter `auth_token` or header `X-Auth-Token`);
- optionally a server API key (env FEEDDOCK_SERVER_API_KEY): every request except
  `/healthz` must then carry it in the `X-API-Key` header. Tokens are compared in constant
  time and never logged or echoed.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from providers import available_providers
from providers.params import CONNECTION_NAME_PATTERN

from .api import WebSocketsAPI, parse_json_object
from .errors import AuthTokenError, FeeddockError, ParameterError
from .models import OBBject, WebSocketConnectionStatus
from .registry import Registry

SERVER_KEY_ENV = "FEEDDOCK_SERVER_API_KEY"
RESULTS_ROOT_ENV = "FEEDDOCK_RESULTS_ROOT"
PROVIDERS_ENV = "FEEDDOCK_PROVIDERS"
MAX_CONNECTIONS_ENV = "FEEDDOCK_MAX_CONNECTIONS"
ALLOW_URL_ENV = "FEEDDOCK_ALLOW_URL"
# websockets.connect() options a remote caller may set; others (host, port, sock, ssl, proxy,
# create_connection, ...) could redirect the server's traffic and stay Python-API only.
SAFE_CONNECT_KWARGS = frozenset(
    {
        "ping_interval",
        "ping_timeout",
        "close_timeout",
        "open_timeout",
        "max_size",
        "max_queue",
        "compression",
        "user_agent_header",
        "additional_headers",
        "write_limit",
    }
)
PREFIX = "/api/v1/websockets"


class ErrorBody(BaseModel):
    error: str = Field(description="Exception class, e.g. ParameterError.")
    detail: str = Field(description="What was wrong and what is allowed.")
    field: str | None = None
    allowed: list[str] | None = None


class Envelope(BaseModel):
    id: str
    provider: str | None = None
    warnings: list[str] | None = None
    chart: None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class StatusResponse(Envelope):
    results: WebSocketConnectionStatus


class StatusListResponse(Envelope):
    results: list[WebSocketConnectionStatus]


class MessageResponse(Envelope):
    results: str


class RecordsResponse(Envelope):
    results: list[dict[str, Any]]


class CreateConnectionBody(BaseModel):
    """`create_connection` parameters; provider-specific ones (symbol, asset_type, ...) too."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{"provider": "demo", "name": "stocks", "symbol": "aapl,msft"}]
        },
    )

    provider: str = Field(description="Provider name, e.g. 'demo', 'polygon', 'fmp', 'tiingo'.")
    name: str = Field(
        description="Name to assign the connection.", pattern=CONNECTION_NAME_PATTERN.pattern
    )
    symbol: str | None = Field(default=None, min_length=1)
    asset_type: str | None = None
    feed: str | None = None
    auth_token: str | None = None
    results_file: str | None = None
    save_results: bool | None = None
    table_name: str | None = None
    limit: int | None = None
    sleep_time: float | None = None
    broadcast_host: str | None = None
    broadcast_port: int | None = None
    start_broadcast: bool | None = None
    connect_kwargs: dict[str, Any] | str | None = None
    url: str | None = None
    api_key: str | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 422, 429, 502, 503)
}


def error_response(status: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    body = ErrorBody(error=error, detail=detail, **extra)
    return JSONResponse(status_code=status, content=body.model_dump(exclude_none=True))


def _envelope(response: OBBject[Any], results: Any) -> dict[str, Any]:
    return {
        "id": response.id,
        "results": results,
        "provider": response.provider,
        "warnings": response.warnings,
        "chart": None,
        "extra": response.extra,
    }


def render(response: OBBject[Any]) -> Response:
    """The OBBject as JSON (serialised with orjson; the route's model documents the shape)."""
    results: Any = response.results
    if isinstance(results, BaseModel):
        results = results.model_dump(mode="json")
    elif isinstance(results, list):
        results = [r.model_dump(mode="json") if isinstance(r, BaseModel) else r for r in results]
    return Response(orjson.dumps(_envelope(response, results)), media_type="application/json")


def render_stored(response: OBBject[list[str]]) -> Response:
    """Stored records are already JSON: splice them into the body without parsing them."""
    head = orjson.dumps(_envelope(response, None))
    marker = b'"results":null'
    records = b"[" + ",".join(response.results).encode() + b"]"
    body = head.replace(marker, b'"results":' + records, 1)
    return Response(body, media_type="application/json")


def _secure_equal(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


class Settings(BaseModel):
    server_api_key: str | None = None
    results_root: str | None = None
    providers: list[str] | None = None
    max_connections: int = 100
    # Whether callers may point connections at their own `url` (a proxy or a simulator).
    allow_url: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        allowed = os.environ.get(PROVIDERS_ENV)
        return cls(
            server_api_key=os.environ.get(SERVER_KEY_ENV) or None,
            results_root=os.environ.get(RESULTS_ROOT_ENV) or None,
            providers=[p.strip() for p in allowed.split(",") if p.strip()] if allowed else None,
            max_connections=int(os.environ.get(MAX_CONNECTIONS_ENV, "100")),
            allow_url=os.environ.get(ALLOW_URL_ENV, "1").lower() not in ("0", "false", "no"),
        )


def token(
    auth_token: Annotated[str | None, Query(description="The connection's auth_token.")] = None,
    x_auth_token: Annotated[str | None, Header()] = None,
) -> str | None:
    return auth_token if auth_token is not None else x_auth_token


Token = Annotated[str | None, Depends(token)]
Name = Annotated[str, Query(description="The connection's name.", min_length=1)]
Symbol = Annotated[str, Query(description="Comma-separated symbols.", min_length=1)]


def create_app(api: WebSocketsAPI | None = None, settings: Settings | None = None) -> FastAPI:
    """The REST application. Without arguments: a fresh API and settings from the env."""
    websockets = api or WebSocketsAPI(Registry())
    config = settings or Settings.from_env()
    app = FastAPI(
        title="feeddock",
        version="0.1.0",
        description="Background market-data WebSocket connections, recorded to SQLite.",
        responses=ERROR_RESPONSES,
    )
    app.state.websockets = websockets

    async def server_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        if config.server_api_key is None:
            return
        if x_api_key is None:
            raise AuthTokenError("This server requires an API key in the X-API-Key header.")
        if not _secure_equal(config.server_api_key, x_api_key):
            raise _Forbidden("The X-API-Key header does not match this server's API key.")

    router = APIRouter(prefix=PREFIX, dependencies=[Depends(server_key)], tags=["websockets"])

    @router.post("/create_connection", response_model=StatusResponse)
    def create_connection(body: CreateConnectionBody) -> Response:
        """Start a provider connection; returns its status once streaming."""
        arguments = body.model_dump(exclude_unset=True)
        provider, name = arguments.pop("provider"), arguments.pop("name")
        if config.providers is not None and provider not in config.providers:
            raise ParameterError(
                f"Provider {provider!r} is not offered by this server. "
                f"Available providers: {', '.join(config.providers)}.",
                field="provider",
                allowed=config.providers,
            )
        if len(websockets.registry.all()) >= config.max_connections:
            raise _TooMany(
                f"This server holds its maximum of {config.max_connections} connections."
            )
        if config.results_root is not None and arguments.get("results_file"):
            _check_under_root(str(arguments["results_file"]), config.results_root)
        if not config.allow_url and arguments.get("url") is not None:
            raise ParameterError(
                "Invalid parameters: 'url' overrides are disabled on this server.", field="url"
            )
        _check_connect_kwargs(arguments.get("connect_kwargs"))
        return render(websockets.create_connection(provider, name, **arguments))

    @router.get("/get_client_status", response_model=StatusListResponse)
    def get_client_status(auth_token: Token, name: str = "all") -> Response:
        """Status of one connection, or of all connections visible with this token."""
        return render(websockets.get_client_status(name, auth_token))

    @router.get("/get_results", response_model=RecordsResponse)
    def get_results(name: Name, auth_token: Token) -> Response:
        """Every stored record of the connection, oldest first."""
        return render_stored(websockets.get_results(name, auth_token, raw=True))  # type: ignore[arg-type]

    @router.post("/clear_results", response_model=MessageResponse)
    def clear_results(name: Name, auth_token: Token) -> Response:
        return render(websockets.clear_results(name, auth_token))

    @router.post("/subscribe", response_model=StatusResponse)
    def subscribe(name: Name, symbol: Symbol, auth_token: Token) -> Response:
        return render(websockets.subscribe(name, symbol, auth_token))

    @router.post("/unsubscribe", response_model=StatusResponse)
    def unsubscribe(name: Name, symbol: Symbol, auth_token: Token) -> Response:
        return render(websockets.unsubscribe(name, symbol, auth_token))

    @router.post("/stop_connection", response_model=StatusResponse)
    def stop_connection(name: Name, auth_token: Token) -> Response:
        return render(websockets.stop_connection(name, auth_token))

    @router.post("/restart_connection", response_model=StatusResponse)
    def restart_connection(name: Name, auth_token: Token) -> Response:
        return render(websockets.restart_connection(name, auth_token))

    @router.post("/start_broadcasting", response_model=StatusResponse)
    def start_broadcasting(
        name: Name,
        auth_token: Token,
        host: str | None = None,
        port: Annotated[int | None, Query(ge=1, le=65535)] = None,
        uvicorn_kwargs: Annotated[
            str | None, Query(description="JSON object passed to uvicorn.")
        ] = None,
    ) -> Response:
        return render(websockets.start_broadcasting(name, auth_token, host, port, uvicorn_kwargs))

    @router.post("/stop_broadcasting", response_model=StatusResponse)
    def stop_broadcasting(name: Name, auth_token: Token) -> Response:
        return render(websockets.stop_broadcasting(name, auth_token))

    @router.post("/kill", response_model=MessageResponse)
    def kill(name: Name, auth_token: Token) -> Response:
        return render(websockets.kill(name, auth_token))

    app.include_router(router)
    default_openapi = app.openapi

    def openapi_with_providers() -> dict[str, Any]:
        # The providers this server offers, as an enum in the docs (checked in code too).
        schema = default_openapi()
        body = schema["components"]["schemas"]["CreateConnectionBody"]
        body["properties"]["provider"]["enum"] = config.providers or available_providers()
        return schema

    app.openapi = openapi_with_providers  # type: ignore[method-assign]

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "connections": len(websockets.registry.all())}

    @app.exception_handler(FeeddockError)
    async def feeddock_error(request: Request, exc: FeeddockError) -> JSONResponse:
        status = exc.http_status
        if isinstance(exc, AuthTokenError) and "wrong" in exc.message:
            status = 403
        fields: dict[str, Any] = {}
        if isinstance(exc, ParameterError):
            fields = {"field": exc.field, "allowed": exc.allowed}
        return error_response(status, type(exc).__name__, exc.message, **fields)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"] if p not in ("body", "query", "header"))
            problems.append(f"{where or 'request'}: {error['msg']}")
        first = exc.errors()[0]["loc"][-1] if exc.errors() else None
        return error_response(
            422,
            "ParameterError",
            "Invalid parameters: " + "; ".join(problems) + ".",
            field=str(first) if first is not None else None,
        )

    return app


class _Forbidden(AuthTokenError):
    http_status = 403


class _TooMany(FeeddockError):
    http_status = 429


def _check_connect_kwargs(value: Any) -> None:
    parsed = parse_json_object("connect_kwargs", value)
    unsafe = sorted(set(parsed or {}) - SAFE_CONNECT_KWARGS)
    if unsafe:
        raise ParameterError(
            f"Invalid parameters: 'connect_kwargs' may not set {', '.join(unsafe)} over REST. "
            f"Allowed keys: {', '.join(sorted(SAFE_CONNECT_KWARGS))}.",
            field="connect_kwargs",
            allowed=sorted(SAFE_CONNECT_KWARGS),
        )


def _check_under_root(path: str, root: str) -> None:
    resolved, base = Path(path).resolve(), Path(root).resolve()
    if base not in resolved.parents:
        raise ParameterError(
            f"Invalid parameters: 'results_file' must be inside {base} on this server.",
            field="results_file",
        )
