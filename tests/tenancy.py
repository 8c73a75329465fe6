"""Shared by the tenant tests: a tenants file, and the cross-tenant matrix over REST."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from orchestrator import ConnectionNotFoundError, WebSocketsAPI
from orchestrator.rest.tenants import key_digest

from .helpers import free_port

API = "/api/v1/websockets"

# Every route that names a connection, with what else it needs.
NAMED_ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "get_client_status", {}),
    ("GET", "get_results", {}),
    ("POST", "clear_results", {}),
    ("POST", "subscribe", {"symbol": "spy"}),
    ("POST", "unsubscribe", {"symbol": "aapl"}),
    ("POST", "stop_connection", {}),
    ("POST", "restart_connection", {}),
    ("POST", "start_broadcasting", {}),
    ("POST", "stop_broadcasting", {}),
    ("POST", "kill", {}),
]


# Every Python API endpoint that names a connection, with what else it needs.
PYTHON_ENDPOINTS: list[tuple[str, dict[str, Any]]] = [
    ("get_client_status", {}),
    ("get_client", {}),
    ("get_results", {}),
    ("clear_results", {}),
    ("subscribe", {"symbol": "spy"}),
    ("unsubscribe", {"symbol": "aapl"}),
    ("stop_connection", {}),
    ("restart_connection", {}),
    ("start_broadcasting", {}),
    ("stop_broadcasting", {}),
    ("kill", {}),
]


def python_refusals(api: WebSocketsAPI, name: str, unknown: str) -> list[str]:
    """Every endpoint on `name` (another tenant's) raises what it raises for `unknown`."""
    endpoints = []
    for endpoint, arguments in PYTHON_ENDPOINTS:
        messages = []
        for asked in (name, unknown):
            with pytest.raises(ConnectionNotFoundError) as caught:
                getattr(api, endpoint)(asked, **arguments)
            messages.append(str(caught.value).replace(asked, "?"))
        assert messages[0] == messages[1], endpoint
        endpoints.append(endpoint)
    return endpoints


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def tenants_toml(
    tenants: Mapping[str, Mapping[str, Any]],
    *,
    admin_key: str | None = None,
    server: Mapping[str, Any] | None = None,
) -> str:
    """A tenants file; each tenant's `keys` (plain keys) become their digests."""
    lines: list[str] = []
    if server:
        lines += ["[server]", *(f"{k} = {_toml_value(v)}" for k, v in server.items()), ""]
    if admin_key:
        lines += ["[admin]", f"api_key_sha256 = {_toml_value(key_digest(admin_key))}", ""]
    for tenant, fields in tenants.items():
        settings = dict(fields)
        keys = settings.pop("keys")
        lines += [
            f"[tenants.{tenant}]",
            f"api_key_sha256 = {_toml_value(list(map(key_digest, keys)))}",
        ]
        lines += [f"{k} = {_toml_value(v)}" for k, v in settings.items()]
        lines.append("")
    return "\n".join(lines)


def key(value: str) -> dict[str, str]:
    return {"X-API-Key": value}


def call(
    http: httpx.Client, method: str, route: str, headers: dict[str, str], **params: Any
) -> httpx.Response:
    if route == "start_broadcasting":
        params.setdefault("port", free_port())
    return http.request(method, f"{API}/{route}", params=params, headers=headers)


def cross_tenant_refusals(
    http: httpx.Client, intruder: dict[str, str], name: str, unknown: str
) -> list[tuple[str, int]]:
    """The intruder's every call on `name` (another tenant's) answers as for `unknown`.

    Returns (route, status) for each: all 404, bodies equal but for the name.
    """
    rows = []
    for method, route, extra in NAMED_ROUTES:
        theirs = call(http, method, route, intruder, name=name, **extra)
        nobody = call(http, method, route, intruder, name=unknown, **extra)
        assert theirs.status_code == nobody.status_code == 404, (route, theirs.text)
        assert theirs.text.replace(name, "?") == nobody.text.replace(unknown, "?"), route
        rows.append((route, theirs.status_code))
    return rows


__all__ = [
    "API",
    "NAMED_ROUTES",
    "PYTHON_ENDPOINTS",
    "call",
    "cross_tenant_refusals",
    "key",
    "python_refusals",
    "tenants_toml",
]
