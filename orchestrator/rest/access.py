"""Who calls: the key a request presents, and the documentation routes behind it.

A key travels in `X-API-Key`, or `Authorization: Bearer KEY` (what Prometheus can send). The
directory (directory.py) says whose it is: the single server's (FEEDDOCK_SERVER_API_KEY, when
set), a tenant's or the admin's (tenants file). The dashboard page and its assets hold no data
and are served without a key; the page asks the user for it and sends it with each call.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import AuthTokenError, WrongAuthTokenError
from .directory import Caller, Directory
from .errors import error_response

BEARER = "bearer "


def presented_key(x_api_key: str | None, authorization: str | None) -> str | None:
    if x_api_key is not None:
        return x_api_key
    if authorization and authorization.lower().startswith(BEARER):
        return authorization[len(BEARER) :].strip()
    return None


def caller(
    request: Request,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Caller:
    """Who calls (directory.py): a tenant's API and settings, or the admin."""
    directory: Directory = request.app.state.directory
    return directory.authenticate(presented_key(x_api_key, authorization))


Who = Annotated[Caller, Depends(caller)]

# The API's own description: as revealing as the API, so behind the same keys. A browser
# cannot send a header to /docs, so `?api_key=` is accepted there once and kept in a cookie
# (HttpOnly, SameSite=Strict) for the page's own fetch of /openapi.json.
DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
DOCS_COOKIE = "feeddock_api_key"


class DocsGate:
    """ASGI middleware: the documentation routes need a key when the server has keys."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in DOC_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        query_key = request.query_params.get("api_key")
        presented = (
            presented_key(request.headers.get("x-api-key"), request.headers.get("authorization"))
            or query_key
            or request.cookies.get(DOCS_COOKIE)
        )
        directory: Directory = scope["app"].state.directory
        try:
            directory.authenticate(presented)
        except AuthTokenError as exc:
            status = 403 if isinstance(exc, WrongAuthTokenError) else 401
            refusal = error_response(status, type(exc).__name__, exc.message)
            await refusal(scope, receive, send)
            return
        if query_key is None:
            await self.app(scope, receive, send)
            return

        async def remember(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = f"{DOCS_COOKIE}={query_key}; HttpOnly; SameSite=Strict; Path=/"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, remember)


__all__ = ["DOCS_COOKIE", "DOC_PATHS", "DocsGate", "Who", "caller", "presented_key"]
