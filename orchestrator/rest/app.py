"""REST API: `/api/v1/websockets/<endpoint>` for every endpoint of the spec but `get_client`.

Each route is a thin wrapper over `WebSocketsAPI`; responses are the OBBject as JSON. Reads are
GET, changes are POST. Parameters keep the Python API's names; `create_connection` takes a
JSON body (provider parameters vary by provider), the others query parameters.

Auth, two layers:
- the connection's `auth_token` (query parameter `auth_token` or header `X-Auth-Token`);
- optionally a server API key (env FEEDDOCK_SERVER_API_KEY): every request except
  `/healthz` must then carry it in the `X-API-Key` header. Tokens are compared in constant
  time and never logged or echoed.

Routes are plain functions (FastAPI runs them on its thread pool: the API blocks on workers
and on Docker) except `get_results`, which reads SQLite on the event loop through aiosqlite.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline

from providers import available_providers

from ..api import WebSocketsAPI
from ..errors import AuthTokenError, FeeddockError, WrongAuthTokenError
from ..tokens import secure_equal
from .access import DocsGate
from .dashboard import install_dashboard
from .errors import ERROR_RESPONSES, feeddock_error, unexpected_error, validation_error
from .metrics import metrics_router
from .models import (
    CreateConnectionBody,
    MessageResponse,
    RecordsResponse,
    StatusListResponse,
    StatusResponse,
    render,
    render_stored,
)
from .operations import operations_router
from .settings import Settings, check_uvicorn_kwargs

PREFIX = "/api/v1/websockets"


def token(
    auth_token: Annotated[str | None, Query(description="The connection's auth_token.")] = None,
    x_auth_token: Annotated[str | None, Header()] = None,
) -> str | None:
    return auth_token if auth_token is not None else x_auth_token


Token = Annotated[str | None, Depends(token)]
Name = Annotated[str, Query(description="The connection's name.", min_length=1)]
Symbol = Annotated[str, Query(description="Comma-separated symbols.", min_length=1)]


def websockets_router(websockets: WebSocketsAPI, config: Settings) -> APIRouter:
    async def server_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        if config.server_api_key is None:
            return
        if x_api_key is None:
            raise AuthTokenError("This server requires an API key in the X-API-Key header.")
        if not secure_equal(config.server_api_key, x_api_key):
            raise WrongAuthTokenError("The X-API-Key header does not match this server's key.")

    router = APIRouter(prefix=PREFIX, dependencies=[Depends(server_key)], tags=["websockets"])

    @router.post("/create_connection", response_model=StatusResponse)
    def create_connection(body: CreateConnectionBody) -> Response:
        """Start a provider connection; returns its status once streaming."""
        arguments = body.model_dump(exclude_unset=True)
        provider, name = arguments.pop("provider"), arguments.pop("name")
        config.check_create(provider, arguments)
        return render(websockets.create_connection(provider, name, **arguments))

    @router.get("/get_client_status", response_model=StatusListResponse)
    def get_client_status(auth_token: Token, name: str = "all") -> Response:
        """Status of one connection, or of all connections visible with this token."""
        return render(websockets.get_client_status(name, auth_token))

    @router.get("/get_results", response_model=RecordsResponse)
    async def get_results(name: Name, auth_token: Token) -> Response:
        """Every stored record of the connection, oldest first."""
        client = (await asyncio.to_thread(websockets.get_client, name, auth_token)).results
        records = await client.location.messages_async()
        return render_stored(websockets.results_response(name, client.provider.name, records))

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
        check_uvicorn_kwargs(uvicorn_kwargs)
        return render(websockets.start_broadcasting(name, auth_token, host, port, uvicorn_kwargs))

    @router.post("/stop_broadcasting", response_model=StatusResponse)
    def stop_broadcasting(name: Name, auth_token: Token) -> Response:
        return render(websockets.stop_broadcasting(name, auth_token))

    @router.post("/kill", response_model=MessageResponse)
    def kill(name: Name, auth_token: Token) -> Response:
        return render(websockets.kill(name, auth_token))

    return router


def create_app(api: WebSocketsAPI | None = None, settings: Settings | None = None) -> FastAPI:
    """The REST application. Without arguments: a fresh API and settings from the env.

    The settings' `max_connections` becomes the API's connection cap.
    """
    config = settings or Settings.from_env()
    websockets = api or WebSocketsAPI()
    websockets.max_connections = config.max_connections
    websockets.reveal_url_failures = False
    # FastAPIOffline: /docs and /redoc with assets shipped in a package, not from a CDN.
    app = FastAPIOffline(
        title="feeddock",
        version="0.1.0",
        description="Background market-data WebSocket connections, recorded to SQLite.",
        responses=ERROR_RESPONSES,
    )
    app.state.websockets = websockets
    app.include_router(websockets_router(websockets, config))
    app.include_router(operations_router(websockets, config))
    app.include_router(metrics_router(websockets, config))
    install_dashboard(app)
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
        return {"status": "ok", "connections": len(websockets.registry)}

    app.add_exception_handler(FeeddockError, feeddock_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
    app.add_middleware(DocsGate, config=config)
    return app


__all__ = ["PREFIX", "create_app"]
