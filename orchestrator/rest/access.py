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

from ..errors import AuthTokenError, WrongAuthTokenError
from ..tokens import secure_equal
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


__all__ = ["server_key_check"]
