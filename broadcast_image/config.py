"""Broadcast server configuration, read from the environment so no token ever sits in argv."""

from __future__ import annotations

import inspect
import os
from typing import Any

import uvicorn
from pydantic import BaseModel, ConfigDict, Field, field_validator

CONFIG_ENV = "FEEDDOCK_BROADCAST_CONFIG"
AUTH_TOKEN_ENV = "FEEDDOCK_AUTH_TOKEN"

# uvicorn.Config arguments the broadcast server sets itself: passing them would break it.
RESERVED_UVICORN_KWARGS = frozenset(
    {
        "app", "host", "port", "uds", "fd", "factory", "lifespan", "log_config", "workers",
        "reload", "reload_dirs", "reload_delay", "reload_includes", "reload_excludes",
    }
)  # fmt: skip
_UVICORN_PARAMETERS = frozenset(inspect.signature(uvicorn.Config.__init__).parameters) - {"self"}


class BroadcastConfig(BaseModel):
    """What one broadcast server needs: the results table to tail and where to serve it."""

    model_config = ConfigDict(extra="forbid")

    results_file: str
    table_name: str = "records"
    host: str = "127.0.0.1"
    port: int = Field(default=6666, ge=1, le=65535)
    sleep_time: float = Field(default=0.25, gt=0, le=60, description="seconds between polls")
    uvicorn_kwargs: dict[str, Any] = Field(default_factory=dict)
    max_pending_records: int = Field(
        default=50_000, ge=1, description="records queued for one listener before it is dropped"
    )
    exit_on_stdin_eof: bool = Field(
        default=False, description="Exit when stdin closes: the orchestrator has died."
    )

    @field_validator("uvicorn_kwargs")
    @classmethod
    def _check_uvicorn_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted(RESERVED_UVICORN_KWARGS.intersection(value))
        if reserved:
            raise ValueError(
                f"uvicorn_kwargs may not set {', '.join(reserved)}: the broadcast server sets "
                "them itself (use host/port for the address)"
            )
        unknown = sorted(set(value) - _UVICORN_PARAMETERS)
        if unknown:
            raise ValueError(f"uvicorn_kwargs has unknown uvicorn.Config arguments: {unknown}")
        return value

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> tuple[BroadcastConfig, str | None]:
        env = os.environ if environ is None else environ
        raw = env.get(CONFIG_ENV)
        if not raw:
            raise ValueError(f"{CONFIG_ENV} is not set: it must hold the broadcast's JSON config")
        return cls.model_validate_json(raw), env.get(AUTH_TOKEN_ENV) or None
