"""Routes for operating connections beyond the spec's endpoints: a worker's recent log lines.

    GET /api/v1/websockets/logs?name=N[&role=provider|broadcast][&tail=K][&after=SEQ]

returns `{"name", "role", "running", "lines", "next"}`: the worker's newest lines (its monitor
keeps the last LINES, logtail.py), at most `tail` of them, or only those numbered `after` and
later. `feeddock logs -f` follows a worker by calling again with `after=next`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel

from .access import Who

PREFIX = "/api/v1/websockets"


class LogLines(BaseModel):
    name: str
    role: Literal["provider", "broadcast"]
    running: bool
    lines: list[str]
    next: int


def operations_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["operations"])

    @router.get("/logs", response_model=LogLines)
    async def logs(
        who: Who,
        name: Annotated[str, Query(min_length=1, description="The connection's name.")],
        role: Literal["provider", "broadcast"] = "provider",
        tail: Annotated[int | None, Query(ge=0, description="At most this many lines.")] = None,
        after: Annotated[int | None, Query(ge=0, description="Lines from this number on.")] = None,
        auth_token: Annotated[str | None, Query()] = None,
        x_auth_token: Annotated[str | None, Header()] = None,
    ) -> LogLines:
        """A worker's newest output lines, as `feeddock logs NAME [-f]` shows them."""
        token = auth_token if auth_token is not None else x_auth_token
        websockets = who.tenant_api()
        client = (await asyncio.to_thread(websockets.get_client, name, token)).results
        monitor = client.monitors().get(role)
        if monitor is None:
            return LogLines(name=name, role=role, running=False, lines=[], next=after or 0)
        lines, seen = monitor.log.after(after, tail)
        return LogLines(name=name, role=role, running=True, lines=lines, next=seen)

    return router


__all__ = ["LogLines", "operations_router"]
