"""REST API: `/api/v1/websockets/<endpoint>` for every endpoint of the spec but `get_client`.

Each route is a thin wrapper over `WebSocketsAPI`; responses are the OBBject as JSON. Reads are
GET, changes are POST. Parameters keep the Python API's names; `create_connection` takes a
JSON body (provider parameters vary by provider), the others query parameters.

Auth, two layers:
- who calls (rest/directory.py): optionally a server API key (FEEDDOCK_SERVER_API_KEY), or,
  with a tenants file (FEEDDOCK_TENANTS_FILE), a key per tenant and an admin key, all in the
  `X-API-Key` header (or `Authorization: Bearer`). A tenant's key reaches its tenant's
  connections only; the admin key reads every tenant's status and kills any connection
  (`tenant` query parameter);
- the connection's `auth_token` (query parameter `auth_token` or header `X-Auth-Token`).
Keys and tokens are compared in constant time and never logged or echoed. `/healthz` needs
neither (with tenants it says only "ok").

Routes are plain functions (FastAPI runs them on its thread pool: the API blocks on workers
and on Docker) except `get_results`, which reads SQLite on the event loop through aiosqlite.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline

from providers import available_providers

from .. import console
from ..api import WebSocketsAPI
from ..errors import ConnectionNotFoundError, FeeddockError, ParameterError
from ..models import OBBject
from ..registry import not_found_error
from .access import DocsGate, Who
from .dashboard import install_dashboard
from .directory import Caller, Directory, tenants_file
from .errors import ERROR_RESPONSES, feeddock_error, unexpected_error, validation_error
from .metrics import metrics_router
from .models import (
    CreateConnectionBody,
    MessageResponse,
    RecordsResponse,
    RestartBody,
    StatusListResponse,
    StatusResponse,
    render,
    render_stored,
)
from .operations import operations_router
from .settings import SERVER_KEY_ENV, Settings, check_uvicorn_kwargs

PREFIX = "/api/v1/websockets"


def token(
    auth_token: Annotated[str | None, Query(description="The connection's auth_token.")] = None,
    x_auth_token: Annotated[str | None, Header()] = None,
) -> str | None:
    return auth_token if auth_token is not None else x_auth_token


Token = Annotated[str | None, Depends(token)]
Name = Annotated[str, Query(description="The connection's name.", min_length=1)]
Symbol = Annotated[str, Query(description="Comma-separated symbols.", min_length=1)]


Tenant = Annotated[
    str | None, Query(description="Admin key only: the tenant whose connection is meant.")
]


def admin_rows(directory: Directory, name: str, tenant: str | None) -> OBBject[list[Any]]:
    """Every tenant's status rows (or one tenant's), each naming its tenant."""
    rows: list[dict[str, Any]] = []
    for tenant_id, api in sorted(directory.apis().items()):
        if tenant is not None and tenant_id != tenant:
            continue
        try:
            statuses = api.get_client_status(name, as_admin=True).results
        except ConnectionNotFoundError:
            continue
        rows += [{**status.model_dump(mode="json"), "tenant": tenant_id} for status in statuses]
    if name != "all" and not rows:
        raise not_found_error(name)
    return WebSocketsAPI.status_response(name, rows)


def admin_kill(directory: Directory, name: str, tenant: str | None) -> OBBject[str]:
    """Kill `name` in `tenant`, or in the only tenant that has it."""
    holders = []
    for tenant_id, api in sorted(directory.apis().items()):
        if tenant is not None and tenant_id != tenant:
            continue
        try:
            api.get_client_status(name, as_admin=True)
        except ConnectionNotFoundError:
            continue
        holders.append(tenant_id)
    if not holders:
        raise not_found_error(name)
    if len(holders) > 1:
        raise ParameterError(
            f"Several tenants have a connection named {name!r}; give `tenant`.",
            field="tenant",
            allowed=holders,
        )
    return directory.apis()[holders[0]].kill(name, as_admin=True)


def websockets_router(directory: Directory) -> APIRouter:
    def tenant_only(who: Caller, tenant: str | None) -> None:
        if tenant is not None and not who.admin:
            raise ParameterError(
                "Invalid parameters: 'tenant' is for the admin key only.", field="tenant"
            )

    router = APIRouter(prefix=PREFIX, tags=["websockets"])

    @router.post("/create_connection", response_model=StatusResponse)
    def create_connection(body: CreateConnectionBody, who: Who) -> Response:
        """Start a provider connection; returns its status once streaming."""
        websockets = who.tenant_api()
        arguments = body.model_dump(exclude_unset=True)
        provider, name = arguments.pop("provider"), arguments.pop("name")
        who.settings.check_create(provider, arguments)
        return render(websockets.create_connection(provider, name, **arguments))

    @router.get("/get_client_status", response_model=StatusListResponse)
    def get_client_status(
        auth_token: Token, who: Who, name: str = "all", tenant: Tenant = None
    ) -> Response:
        """Status of one connection, or of all connections visible with this token.

        With the admin key: every tenant's connections, each row naming its `tenant`.
        """
        tenant_only(who, tenant)
        if who.admin:
            return render(admin_rows(directory, name, tenant))
        return render(who.tenant_api().get_client_status(name, auth_token))

    @router.get("/get_results", response_model=RecordsResponse)
    async def get_results(name: Name, auth_token: Token, who: Who) -> Response:
        """Every stored record of the connection, oldest first."""
        websockets = who.tenant_api()
        client = (await asyncio.to_thread(websockets.get_client, name, auth_token)).results
        records = await client.location.messages_async()
        return render_stored(websockets.results_response(name, client.provider.name, records))

    @router.post("/clear_results", response_model=MessageResponse)
    def clear_results(name: Name, auth_token: Token, who: Who) -> Response:
        return render(who.tenant_api().clear_results(name, auth_token))

    @router.post("/subscribe", response_model=StatusResponse)
    def subscribe(name: Name, symbol: Symbol, auth_token: Token, who: Who) -> Response:
        return render(who.tenant_api().subscribe(name, symbol, auth_token))

    @router.post("/unsubscribe", response_model=StatusResponse)
    def unsubscribe(name: Name, symbol: Symbol, auth_token: Token, who: Who) -> Response:
        return render(who.tenant_api().unsubscribe(name, symbol, auth_token))

    @router.post("/stop_connection", response_model=StatusResponse)
    def stop_connection(name: Name, auth_token: Token, who: Who) -> Response:
        return render(who.tenant_api().stop_connection(name, auth_token))

    @router.post("/restart_connection", response_model=StatusResponse)
    def restart_connection(
        name: Name, auth_token: Token, who: Who, body: RestartBody | None = None
    ) -> Response:
        """Start the connection again; the body's `api_key` replaces a credential not kept."""
        api_key = body.api_key if body is not None else None
        return render(who.tenant_api().restart_connection(name, auth_token, api_key))

    @router.post("/start_broadcasting", response_model=StatusResponse)
    def start_broadcasting(
        name: Name,
        auth_token: Token,
        who: Who,
        host: str | None = None,
        port: Annotated[int | None, Query(ge=1, le=65535)] = None,
        uvicorn_kwargs: Annotated[
            str | None, Query(description="JSON object passed to uvicorn.")
        ] = None,
    ) -> Response:
        websockets = who.tenant_api()
        check_uvicorn_kwargs(uvicorn_kwargs)
        return render(websockets.start_broadcasting(name, auth_token, host, port, uvicorn_kwargs))

    @router.post("/stop_broadcasting", response_model=StatusResponse)
    def stop_broadcasting(name: Name, auth_token: Token, who: Who) -> Response:
        return render(who.tenant_api().stop_broadcasting(name, auth_token))

    @router.post("/kill", response_model=MessageResponse)
    def kill(name: Name, auth_token: Token, who: Who, tenant: Tenant = None) -> Response:
        """Stop and forget the connection. The admin key kills in any tenant (`tenant`)."""
        tenant_only(who, tenant)
        if who.admin:
            return render(admin_kill(directory, name, tenant))
        return render(who.tenant_api().kill(name, auth_token))

    return router


def create_app(
    api: WebSocketsAPI | None = None,
    settings: Settings | None = None,
    *,
    directory: Directory | None = None,
) -> FastAPI:
    """The REST application.

    Without arguments: a tenants file if FEEDDOCK_TENANTS_FILE names one (a malformed file
    raises TenantsFileError naming its line and field), else one API with settings from the
    env, whose `max_connections` and `results_root` become the API's.
    """
    if directory is None:
        path = tenants_file() if api is None and settings is None else None
        if path is not None:
            directory = Directory.from_file(path)
            if os.environ.get(SERVER_KEY_ENV):
                console.show(
                    f"feeddock WARNING: {SERVER_KEY_ENV} is ignored: keys come from {path}"
                )
        else:
            config = settings or Settings.from_env()
            websockets = api or WebSocketsAPI()
            websockets.max_connections = config.max_connections
            websockets.reveal_url_failures = False  # a server must not become a port scanner
            if config.results_root is not None:
                websockets.results_root = config.results_root
            directory = Directory.single(websockets, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        directory.watch()
        try:
            yield
        finally:
            directory.stop_watching()

    # FastAPIOffline: /docs and /redoc with assets shipped in a package, not from a CDN.
    app = FastAPIOffline(
        title="feeddock",
        version="0.1.0",
        description="Background market-data WebSocket connections, recorded to SQLite.",
        responses=ERROR_RESPONSES,
        lifespan=lifespan,
    )
    app.state.directory = directory
    app.include_router(websockets_router(directory))
    app.include_router(operations_router())
    app.include_router(metrics_router(directory))
    install_dashboard(app)
    default_openapi = app.openapi
    offered = directory.offered_providers()

    def openapi_with_providers() -> dict[str, Any]:
        # The providers this server offers, as an enum in the docs (checked in code too).
        schema = default_openapi()
        body = schema["components"]["schemas"]["CreateConnectionBody"]
        body["properties"]["provider"]["enum"] = offered or available_providers()
        return schema

    app.openapi = openapi_with_providers  # type: ignore[method-assign]

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, Any]:
        if directory.multi_tenant:
            return {"status": "ok"}  # nobody is authenticated here: no count across tenants
        return {"status": "ok", "connections": directory.connection_count()}

    app.add_exception_handler(FeeddockError, feeddock_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
    app.add_middleware(DocsGate)
    return app


__all__ = ["PREFIX", "create_app"]
