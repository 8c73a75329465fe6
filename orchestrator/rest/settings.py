"""The REST server's settings (environment of `feeddock serve`) and the checks they imply."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel

from ..errors import ParameterError
from ..results import RESULTS_ROOT_ENV
from ..validation import parse_json_object

SERVER_KEY_ENV = "FEEDDOCK_SERVER_API_KEY"
PROVIDERS_ENV = "FEEDDOCK_PROVIDERS"
MAX_CONNECTIONS_ENV = "FEEDDOCK_MAX_CONNECTIONS"
ALLOW_URL_ENV = "FEEDDOCK_ALLOW_URL"
# websockets.connect() options a remote caller may set; others (host, port, sock, ssl, proxy,
# create_connection, ...) could redirect the server's traffic and stay Python-API only.
SAFE_CONNECT_KWARGS = frozenset(
    {
        "ping_interval", "ping_timeout", "close_timeout", "open_timeout", "max_size",
        "max_queue", "compression", "user_agent_header", "additional_headers", "write_limit",
    }
)  # fmt: skip


# uvicorn options a remote caller may pass to a broadcast server: tuning only. Others could
# make it import code (`ws`, `http`, `loop`), read files (`env_file`, `ssl_*`) or log tokens.
SAFE_UVICORN_KWARGS = frozenset(
    {
        "ws_max_size", "ws_max_queue", "ws_ping_interval", "ws_ping_timeout",
        "ws_per_message_deflate", "timeout_keep_alive", "timeout_graceful_shutdown",
        "limit_concurrency", "backlog",
    }
)  # fmt: skip


class Settings(BaseModel):
    server_api_key: str | None = None
    # The API's results root (results.py enforces it): results files must be inside it.
    results_root: str | None = None
    providers: list[str] | None = None
    max_connections: int = 100
    # Whether callers may point connections at their own `url` (a proxy or a simulator).
    allow_url: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        allowed = os.environ.get(PROVIDERS_ENV)
        try:
            max_connections = int(os.environ.get(MAX_CONNECTIONS_ENV, "100"))
        except ValueError:
            raise ParameterError(
                f"{MAX_CONNECTIONS_ENV} must be a whole number.", field=MAX_CONNECTIONS_ENV
            ) from None
        return cls(
            server_api_key=os.environ.get(SERVER_KEY_ENV) or None,
            results_root=os.environ.get(RESULTS_ROOT_ENV) or None,
            providers=[p.strip() for p in allowed.split(",") if p.strip()] if allowed else None,
            max_connections=max_connections,
            allow_url=os.environ.get(ALLOW_URL_ENV, "1").lower() not in ("0", "false", "no"),
        )

    def check_create(self, provider: str, arguments: dict[str, Any]) -> None:
        """What this server refuses before a connection is even validated."""
        if self.providers is not None and provider not in self.providers:
            raise ParameterError(
                f"Provider {provider!r} is not offered by this server. "
                f"Available providers: {', '.join(self.providers)}.",
                field="provider",
                allowed=self.providers,
            )
        if not self.allow_url and arguments.get("url") is not None:
            raise ParameterError(
                "Invalid parameters: 'url' overrides are disabled on this server.", field="url"
            )
        check_connect_kwargs(arguments.get("connect_kwargs"))


def check_connect_kwargs(value: Any) -> None:
    parsed = parse_json_object("connect_kwargs", value)
    unsafe = sorted(set(parsed or {}) - SAFE_CONNECT_KWARGS)
    if unsafe:
        raise ParameterError(
            f"Invalid parameters: 'connect_kwargs' may not set {', '.join(unsafe)} over REST. "
            f"Allowed keys: {', '.join(sorted(SAFE_CONNECT_KWARGS))}.",
            field="connect_kwargs",
            allowed=sorted(SAFE_CONNECT_KWARGS),
        )


def check_uvicorn_kwargs(value: Any) -> None:
    parsed = parse_json_object("uvicorn_kwargs", value)
    unsafe = sorted(set(parsed or {}) - SAFE_UVICORN_KWARGS)
    if unsafe:
        raise ParameterError(
            f"Invalid parameters: 'uvicorn_kwargs' may not set {', '.join(unsafe)} over REST. "
            f"Allowed keys: {', '.join(sorted(SAFE_UVICORN_KWARGS))}.",
            field="uvicorn_kwargs",
            allowed=sorted(SAFE_UVICORN_KWARGS),
        )


__all__ = [
    "SAFE_CONNECT_KWARGS",
    "SAFE_UVICORN_KWARGS",
    "Settings",
    "check_connect_kwargs",
    "check_uvicorn_kwargs",
]
