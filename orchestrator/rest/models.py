"""What the REST API takes and returns: the OBBject as JSON, and the create body."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from providers.params import CONNECTION_NAME_PATTERN

from ..models import OBBject, WebSocketConnectionStatus


class Envelope(BaseModel):
    id: str
    provider: str | None = None
    warnings: list[str] | None = None
    chart: None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class StatusResponse(Envelope):
    results: WebSocketConnectionStatus


class ConnectionStatusRow(WebSocketConnectionStatus):
    """A status row of `get_client_status`; the admin's rows also name their tenant."""

    tenant: str | None = Field(
        default=None,
        description="The connection's tenant: set in the admin key's rows on a server with a "
        "tenants file.",
    )


class StatusListResponse(Envelope):
    results: list[ConnectionStatusRow]


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


class RestartBody(BaseModel):
    """Optional `restart_connection` body: the provider credential, when it must be given again."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(
        default=None,
        description="Provider credential, for a connection whose credential was not kept (taken "
        "over from an earlier orchestrator) and is not in the tenant's configuration.",
    )


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


__all__ = [
    "ConnectionStatusRow",
    "CreateConnectionBody",
    "MessageResponse",
    "RecordsResponse",
    "RestartBody",
    "StatusListResponse",
    "StatusResponse",
    "render",
    "render_stored",
]
