"""The server API key check shared by the routes outside the websockets router.

`/metrics`, the logs route and the dashboard's data all sit behind FEEDDOCK_SERVER_API_KEY when
it is set. Prometheus cannot send custom headers everywhere, so `Authorization: Bearer KEY` is
accepted as well as `X-API-Key: KEY`. The dashboard page and its assets hold no data and are
served without a key; the page asks the user for it and sends it with each call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import AuthTokenError, WrongAuthTokenError
from ..tokens import secure_equal
from .errors import error_response
from .settings import Settings

BEARER = "bearer "


def server_key_check(config: Settings) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency refusing requests without this server's API key (when it has one)."""

    async def check(
        x_api_key: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> None:
        if config.server_api_key is None:
            return
        presented = x_api_key
        if presented is None and authorization and authorization.lower().startswith(BEARER):
            presented = authorization[len(BEARER) :].strip()
        if presented is None:
            raise AuthTokenError(
                "This server requires an API key in the X-API-Key header "
                "(or Authorization: Bearer)."
            )
        if not secure_equal(config.server_api_key, presented):
            raise WrongAuthTokenError("The API key does not match this server's key.")

    return check


# The API's own description: as revealing as the API, so behind the same key. A browser cannot
# send a header to /docs, so `?api_key=` is accepted there once and kept in a cookie (HttpOnly,
# SameSite=Strict) for the page's own fetch of /openapi.json.
DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
DOCS_COOKIE = "feeddock_api_key"


class DocsGate:
    """ASGI middleware: the documentation routes need the server key when there is one."""

    def __init__(self, app: ASGIApp, config: Settings) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        expected = self.config.server_api_key
        if scope["type"] != "http" or expected is None or scope["path"] not in DOC_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        query_key = request.query_params.get("api_key")
        bearer = request.headers.get("authorization", "")
        presented = (
            request.headers.get("x-api-key")
            or (bearer[len(BEARER) :].strip() if bearer.lower().startswith(BEARER) else None)
            or query_key
            or request.cookies.get(DOCS_COOKIE)
        )
        if presented is None or not secure_equal(expected, presented):
            wrong = presented is not None
            refusal = error_response(
                403 if wrong else 401,
                "WrongAuthTokenError" if wrong else "AuthTokenError",
                "The API documentation needs this server's API key (X-API-Key header, "
                "or ?api_key= in a browser)."
                if not wrong
                else "The API key does not match this server's key.",
            )
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


__all__ = ["DOCS_COOKIE", "DOC_PATHS", "DocsGate", "server_key_check"]
